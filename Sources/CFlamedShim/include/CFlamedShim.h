#ifndef FLAMED_SHIM_H
#define FLAMED_SHIM_H

#include <stddef.h>

#include "flamed_caps.h"
#include "flamed_demangle.h"
#include "flamed_perf.h"
#include "flamed_socket.h"

/// Demangles an Itanium C++ ABI name ("_Z...") with libstdc++'s `__cxa_demangle`.
///
/// Why it exists: `__cxa_demangle` is declared only in the C++ header <cxxabi.h>,
/// which Swift cannot import without C++ interoperability. Returns a malloc'd string
/// the caller frees, or NULL when the name is not a valid mangled name.
char *flamed_shim_cxa_demangle(const char *mangled);



/// The address of the vDSO image the kernel mapped into this process, or 0.
///
/// Why it exists: `getauxval` and AT_SYSINFO_EHDR come from <sys/auxv.h>, which is not part
/// of Swift's Glibc module.
unsigned long flamed_shim_vdso_base(void);

/// Limits glibc malloc to `count` arenas. Why: each thread that allocates gets its own arena
/// by default, and freed memory stays in it, so a long-running daemon with a few threads
/// holds several arenas' worth of free memory; `mallopt` lives in <malloc.h>, which Swift's
/// Glibc module leaves out.
void flamed_shim_malloc_limit_arenas(int count);

/// Serves allocations of `bytes` or more with their own mappings, at a fixed threshold.
/// Why: glibc raises the threshold each time such a block is freed, so the large arrays of
/// a symbol table built and dropped once leave later large arrays on the heap, where their
/// freed pages stay resident; `mallopt` lives in <malloc.h>, which Swift's Glibc module
/// leaves out.
void flamed_shim_malloc_fix_mmap_threshold(int bytes);

/// Returns free heap memory to the kernel (`malloc_trim(0)`, which also releases free
/// pages inside every arena). Why: <malloc.h> is not part of Swift's Glibc module.
void flamed_shim_malloc_trim(void);
#endif
