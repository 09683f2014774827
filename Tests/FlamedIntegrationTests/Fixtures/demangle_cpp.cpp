// A C++ workload for the demangling tests: the hot function is a const member of a class in
// a namespace, with parameters, so that perf style (`hot::Cruncher::churn`) and the full
// form (`hot::Cruncher::churn(int const*, unsigned long, int) const`) differ.
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace hot {
class Cruncher {
public:
    explicit Cruncher(long seed) : seed_(seed) {}

    __attribute__((noinline)) long churn(const int *values, unsigned long count, int rounds) const {
        long total = seed_;
        for (int round = 0; round < rounds; round++) {
            for (unsigned long i = 0; i < count; i++) total = total * 31 + values[i];
        }
        return total;
    }

private:
    long seed_;
};
}  // namespace hot

static double now() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int values[256];
    for (int i = 0; i < 256; i++) values[i] = i * 7;
    hot::Cruncher cruncher(argc);
    long sink = 0;
    double end = now() + seconds;
    while (now() < end) sink += cruncher.churn(values, 256, 1000);
    printf("%ld\n", sink);
    return 0;
}
