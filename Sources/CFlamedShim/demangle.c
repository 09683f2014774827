#include "flamed_demangle.h"

#include <stdint.h>

/* Exported by libswiftCore (the Swift runtime, which every Swift program links); declared in
 * no installed header. `flags` must be 0; with no output buffer it returns a malloc'd string,
 * or NULL when `mangledName` is not a Swift symbol. */
extern char *swift_demangle(const char *mangledName, size_t mangledNameLength, char *outputBuffer,
                            size_t *outputBufferSize, uint32_t flags);

char *flamed_shim_swift_demangle(const char *name, size_t length) {
    if (name == NULL || length == 0) {
        return NULL;
    }
    return swift_demangle(name, length, NULL, NULL, 0);
}
