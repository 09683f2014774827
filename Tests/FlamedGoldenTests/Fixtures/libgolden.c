/* The shared library of the golden tests' recordings, found only through perf's build-id
   cache: the recordings name it by a path that does not exist and by its build id. */
#define AT(name) __attribute__((noinline, used, section("golden_" #name)))

AT(lib_hash) unsigned lib_hash(unsigned n) { return n * 2654435761u; }
AT(lib_entry) unsigned lib_entry(unsigned n) { return lib_hash(n) ^ lib_hash(n + 1); }
