/*
 * A workload for the symbol-source tests (separate debug files, MiniDebugInfo, stripped
 * binaries). Built with -rdynamic, so the global functions are also in .dynsym while the
 * static one is only in .symtab (or a debug file, or .gnu_debugdata):
 *   main -> debuginfo_outer -> debuginfo_hot_global    (about half)
 *   main -> debuginfo_outer -> debuginfo_hot_static    (about half)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void debuginfo_hot_global(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink += i * 2654435761u;
}

__attribute__((noinline)) static void debuginfo_hot_static(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink ^= i * 40503u;
}

__attribute__((noinline)) void debuginfo_outer(unsigned long n) {
    debuginfo_hot_global(n);
    debuginfo_hot_static(n);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    double start = now();
    while (now() - start < seconds) debuginfo_outer(200000);
    printf("%lu\n", (unsigned long)sink);
    return 0;
}
