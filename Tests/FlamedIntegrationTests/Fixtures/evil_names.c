/*
 * A workload whose process name is markup: it renames itself (prctl PR_SET_NAME) to
 * "<svg/onload=1>" at once, then spins in evil_spin for argv[1] seconds (1 by default).
 * The viewer tests record it with `flamed record -f html` and check that the name is shown
 * as text and never parsed as HTML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void evil_spin(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink += i * 2654435761u;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    if (prctl(PR_SET_NAME, "<svg/onload=1>", 0, 0, 0) != 0) {
        perror("prctl");
        return 1;
    }
    double start = now();
    while (now() - start < seconds) evil_spin(200000);
    printf("%lu\n", (unsigned long)sink);
    return 0;
}
