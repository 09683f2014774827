// A Swift workload for the demangling tests (built with -module-name swiftprog): the hot
// function reads `Hotspot.churnNumbers(_:)` in perf style, called from a closure,
// `closure #1 in Hotspot.run(seconds:)`.
#if canImport(Glibc)
import Glibc
#endif

struct Hotspot {
    var seed: Int

    @inline(never)
    func churnNumbers(_ n: Int) -> Int {
        var total = seed
        var i = 0
        while i < n {
            total = total &* 31 &+ i
            i &+= 1
        }
        return total
    }

    @inline(never)
    func run(seconds: Double) -> Int {
        let work: (Int) -> Int = { n in self.churnNumbers(n) }
        var sink = 0
        let end = Hotspot.now() + seconds
        while Hotspot.now() < end {
            sink = sink &+ work(200_000)
        }
        return sink
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 1 : 1
print(Hotspot(seed: CommandLine.arguments.count).run(seconds: seconds))
