/* The program of the golden tests' recordings. It is never run, only named by MMAP
   records: each function sits in a section of its own at a fixed address (make-binaries
   places them), so the recordings can point inside them. */
#define AT(name) __attribute__((noinline, used, section("golden_" #name)))

AT(leaf_work) int leaf_work(int n) { return n * 3 + 1; }
AT(middle_step) int middle_step(int n) { return leaf_work(n) + leaf_work(n + 1); }
AT(other_step) int other_step(int n) { return leaf_work(n) - 1; }
/* A C++ name (golden::Cache::lookup(int) const), given by an assembler label so that no
   C++ compiler is needed. */
AT(lookup) int cache_lookup(int n) __asm__("_ZNK6golden5Cache6lookupEi");
int cache_lookup(int n) { return other_step(n) * 2; }
AT(main_loop) int main_loop(int n) { return middle_step(n) + other_step(n) + cache_lookup(n); }
AT(start) void _start(void) { for (;;) main_loop(1); }
