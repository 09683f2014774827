// A Rust workload for the demangling tests: the hot function is a method of a struct in a
// module, so that it reads `rustprog::hot::Cruncher::churn` (legacy mangling) or
// `<rustprog::hot::Cruncher>::churn` (v0), without hashes in perf style.
mod hot {
    pub struct Cruncher {
        pub seed: u64,
    }

    impl Cruncher {
        #[inline(never)]
        pub fn churn(&self, values: &[u64], rounds: u32) -> u64 {
            let mut total = self.seed;
            for _ in 0..rounds {
                for value in values {
                    total = total.wrapping_mul(31).wrapping_add(*value);
                }
            }
            total
        }
    }
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let values: Vec<u64> = (0..256).map(|i| i * 7).collect();
    let cruncher = hot::Cruncher { seed: std::env::args().count() as u64 };
    let start = std::time::Instant::now();
    let mut sink = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        sink = sink.wrapping_add(cruncher.churn(&values, 1000));
    }
    println!("{}", sink);
}
