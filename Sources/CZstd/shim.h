#ifndef FLAMED_CZSTD_H
#define FLAMED_CZSTD_H
#include <zstd.h>
#endif
