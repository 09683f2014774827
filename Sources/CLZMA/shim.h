#ifndef FLAMED_CLZMA_H
#define FLAMED_CLZMA_H
#include <lzma.h>
#endif
