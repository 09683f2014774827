#ifndef FLAMED_DEMANGLE_H
#define FLAMED_DEMANGLE_H

#include <stddef.h>

/// Demangles a Swift symbol name (`$s…`, `$S…`, `_T0…`) of `length` bytes with the Swift
/// runtime's own demangler. Returns the full demangled form as a malloc'd string the caller
/// frees, or NULL when the name is not one the runtime can demangle.
///
/// Why it exists: libswiftCore exports `swift_demangle`, but no header Swift can import
/// declares it; every Swift program links libswiftCore, so declaring it here costs nothing.
char *flamed_shim_swift_demangle(const char *name, size_t length);

#endif
