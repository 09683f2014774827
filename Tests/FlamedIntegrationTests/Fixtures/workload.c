/*
 * A test workload with a known call tree, built with frame pointers by the tests.
 * Every function is noinline so each one is a frame:
 *   main -> flamed_outer_alpha -> flamed_middle_beta -> flamed_leaf_gamma   (about 50%)
 *   main -> flamed_outer_alpha -> flamed_leaf_delta                         (about 25%)
 *   main -> flamed_outer_epsilon -> flamed_leaf_gamma                       (about 25%)
 * With a second argument it renames itself (prctl PR_SET_NAME) half way through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void flamed_leaf_gamma(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink += i * 2654435761u;
}

__attribute__((noinline)) void flamed_leaf_delta(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink ^= i * 40503u;
}

__attribute__((noinline)) void flamed_middle_beta(unsigned long n) {
    flamed_leaf_gamma(n);
}

__attribute__((noinline)) void flamed_outer_alpha(unsigned long n) {
    flamed_middle_beta(n);
    flamed_leaf_delta(n / 2);
}

__attribute__((noinline)) void flamed_outer_epsilon(unsigned long n) {
    flamed_leaf_gamma(n / 2);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    const char *rename_to = argc > 2 ? argv[2] : NULL;
    double start = now();
    int renamed = 0;
    while (now() - start < seconds) {
        flamed_outer_alpha(200000);
        flamed_outer_epsilon(200000);
        if (rename_to && !renamed && now() - start > seconds / 2) {
            prctl(PR_SET_NAME, rename_to, 0, 0, 0);
            renamed = 1;
        }
    }
    printf("%lu\n", (unsigned long)sink);
    return 0;
}
