/*
 * The live-sampling test workload, built with frame pointers by the tests:
 *   main -> rec_outer -> rec_inner_a   (about 2/3 of the user time)
 *   main -> rec_outer -> rec_inner_b   (about 1/3)
 *   main -> rec_syscalls               (a syscall-heavy part, for kernel frames)
 * With THREAD set to 1 it starts a second thread after a third of the time, running
 *   rec_thread_main -> rec_thread_spin (for "threads created later").
 * Usage: record_workload SECONDS [EXIT_STATUS [THREAD]]
 */
#include <fcntl.h>
#include <pthread.h>
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

static double stop_at;

__attribute__((noinline)) void rec_thread_spin(unsigned long n) {
    for (unsigned long i = 0; i < n; i++) sink ^= i * 40503u;
}

__attribute__((noinline)) void *rec_thread_main(void *unused) {
    (void)unused;
    while (now() < stop_at) rec_thread_spin(100000);
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int status = argc > 2 ? atoi(argv[2]) : 0;
    int with_thread = argc > 3 && atoi(argv[3]) == 1;
    int fd = open("/dev/null", O_WRONLY);
    double start = now();
    stop_at = start + seconds;
    pthread_t thread;
    int started = 0;
    while (now() - start < seconds) {
        rec_outer(100000);
        rec_syscalls(fd, 200);
        if (with_thread && !started && now() - start > seconds / 3) {
            started = pthread_create(&thread, NULL, rec_thread_main, NULL) == 0;
        }
    }
    if (started) pthread_join(thread, NULL);
    return status;
}
