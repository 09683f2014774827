/* A hostile process for the symbolizer: maps one executable page of its own binary at
 * COUNT distinct addresses, unmapping each at once (munmap sends no record, so every
 * mapping stays in the profiler's address space), then burns CPU so it is sampled. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) static unsigned long flood_spin(unsigned long rounds) {
    volatile unsigned long sum = 0;
    for (unsigned long i = 0; i < rounds; i++) sum += i;
    return sum;
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 100000;
    double seconds = argc > 2 ? atof(argv[2]) : 2;
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    char *base = (char *)0x500000000000UL;
    for (long i = 0; i < count; i++) {
        void *page = mmap(base + i * 8192, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
        if (page == MAP_FAILED) { perror("mmap"); return 1; }
        munmap(page, 4096);
    }
    fprintf(stderr, "mapped %ld pages\n", count);
    unsigned long rounds = (unsigned long)(seconds * 3e8);
    return flood_spin(rounds) == 1 ? 2 : 0;
}
