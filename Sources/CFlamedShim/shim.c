#include "CFlamedShim.h"

/* Provided by libstdc++ (linked by the package manifest); declared in <cxxabi.h>. */
extern char *__cxa_demangle(const char *mangled, char *buffer, size_t *length, int *status);

char *flamed_shim_cxa_demangle(const char *mangled) {
    int status = 0;
    char *result = __cxa_demangle(mangled, NULL, NULL, &status);
    if (status != 0) {
        return NULL;
    }
    return result;
}

#include <sys/auxv.h>

unsigned long flamed_shim_vdso_base(void) {
    return getauxval(AT_SYSINFO_EHDR);
}

#include <malloc.h>

void flamed_shim_malloc_limit_arenas(int count) {
    mallopt(M_ARENA_MAX, count);
}

void flamed_shim_malloc_fix_mmap_threshold(int bytes) {
    mallopt(M_MMAP_THRESHOLD, bytes);
}

void flamed_shim_malloc_trim(void) {
    malloc_trim(0);
}
