/*
 * A tiny JIT for the perf-map tests. It copies two countdown loops into anonymous
 * memory (written, then made executable), names them in /tmp/perf-PID.map as perf's
 * JIT interface does ("START SIZE name", hex), and runs them:
 *   jit_hot_loop        about 3/4 of the time
 *   <b>jit</b> markup   about 1/4 (a name with HTML in it)
 * The map is written in two steps (the second name is appended after a while, so readers
 * must re-read it as it grows) and deleted before exit, as JITs that clean up do.
 * With "keep" the map is left in place (for perf record + flamed report).
 * Usage: jit SECONDS [keep]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef void (*loop_fn)(unsigned long);

#if defined(__x86_64__)
/* loop: dec rdi; jnz loop; ret */
static const unsigned char loop_code[] = {0x48, 0xff, 0xcf, 0x75, 0xfb, 0xc3};
#elif defined(__aarch64__)
/* loop: subs x0, x0, #1; b.ne loop; ret */
static const unsigned char loop_code[] = {0x00, 0x04, 0x00, 0xf1, 0xe1, 0xff, 0xff, 0x54, 0xc0, 0x03, 0x5f, 0xd6};
#else
#error "jit.c knows x86-64 and AArch64 machine code only"
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void run_jit(loop_fn hot, loop_fn marked) {
    hot(3000000);
    marked(1000000);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *code = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 1; }
    memcpy(code, loop_code, sizeof loop_code);
    memcpy(code + 256, loop_code, sizeof loop_code);
    if (mprotect(code, page, PROT_READ | PROT_EXEC) != 0) { perror("mprotect"); return 1; }
    __builtin___clear_cache((char *)code, (char *)code + page);

    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    FILE *map = fopen(path, "w");
    if (!map) { perror(path); return 1; }
    fprintf(map, "%lx %zx jit_hot_loop\n", (unsigned long)code, sizeof loop_code);
    fflush(map);

    double start = now();
    int appended = 0;
    while (now() - start < seconds) {
        run_jit((loop_fn)code, (loop_fn)(code + 256));
        if (!appended && now() - start > seconds / 4) {
            fprintf(map, "%lx %zx <b>jit</b> markup\n", (unsigned long)(code + 256), sizeof loop_code);
            fflush(map);
            appended = 1;
        }
    }
    fclose(map);
    if (!(argc > 2 && strcmp(argv[2], "keep") == 0)) unlink(path);
    return 0;
}
