/*
 * The live-sampling test workload, built with frame pointers by the tests:
 *   main -> rec_outer -> rec_inner_a   (about 2/3 of the user time)
 *   main -> rec_outer -> rec_inner_b   (about 1/3)
 *   main -> rec_syscalls               (a syscall-heavy part, for kernel frames)
 * Usage: record_workload SECONDS [EXIT_STATUS]
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void rec_inner_a(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink += i * 2654435761u;
}

__attribute__((noinline)) void rec_inner_b(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink += i * 2654435761u;
}

__attribute__((noinline)) void rec_outer(unsigned long n) {
    rec_inner_a(2 * n);
    rec_inner_b(n);
}

__attribute__((noinline)) void rec_syscalls(int fd, int count) {
    char byte = 0;
    for (int i = 0; i < count; i++) {
        sink += (unsigned long)syscall(SYS_getppid);
        if (write(fd, &byte, 1) < 0) sink++;
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int status = argc > 2 ? atoi(argv[2]) : 0;
    int fd = open("/dev/null", O_WRONLY);
    double start = now();
    while (now() - start < seconds) {
        rec_outer(100000);
        rec_syscalls(fd, 200);
    }
    return status;
}
