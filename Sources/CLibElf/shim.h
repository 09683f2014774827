#ifndef FLAMED_CLIBELF_H
#define FLAMED_CLIBELF_H
#include <libelf.h>
#include <gelf.h>
#endif
