import FlamedTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An unprivileged process that maps and unmaps one page at 100,000 addresses (munmap sends
/// no record, so each mapping stays in flamed's model of it) must not slow `record -a`
/// down: each new mapping costs logarithmic time. With a sorted array copied per insert, a
/// 6 s recording took 171 s and the kernel dropped 10.5k records. The rings (16 MiB a CPU)
/// hold the burst of records even for a debug build, so any loss means the reader fell
/// behind for good.
@Suite(.serialized, .requires(.perf, .gcc, .root))
struct MappingFloodTests {
    @Test("record -a while an unprivileged process floods 100,000 mappings ends on time, loses nothing and names it")
    func mappingFlood() throws {
        let directory = Support.temporaryDirectory()
        let flood = try Support.buildWorkload(in: directory, named: "mapping_flood")
        chmod(directory.path, 0o755)
        let output = directory.appendingPathComponent("flood.json").path
        let clock = ContinuousClock()
        let start = clock.now
        let recorder = try #require(Support.spawn([Support.flamedBinary, "record", "-a", "-d", "5", "-m", "4096", "-f", "json", "-o", output],
                                                  stdout: "/dev/null", stderr: directory.appendingPathComponent("record.err").path))
        usleep(1_000_000)
        let hostile = Support.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", flood, "100000", "1.5"])
        #expect(hostile.status == 0, "the flood failed: \(hostile.stderr)")
        let status = Support.wait(recorder, timeout: 60)
        let elapsed = clock.now - start
        if status == nil { kill(recorder, SIGKILL) }
        #expect(status == 0)
        #expect(elapsed < .seconds(20), "a 5 s recording took \(elapsed)")
        let log = (try? String(contentsOfFile: directory.appendingPathComponent("record.err").path, encoding: .utf8)) ?? ""
        let lost = log.firstMatch(of: /(\d+) lost/).flatMap { Int($0.1) }
        #expect(lost == 0, "record's summary: \(log)")
        let paths = try Support.paths(ofJSON: Data(contentsOf: URL(fileURLWithPath: output)))
        let named = paths.filter { $0.key.hasPrefix("mapping_flood (") && $0.key.contains(";flood_spin") }.values.reduce(0, +)
        #expect(named > 100, "samples in flood_spin: \(named); \(log)")
    }
}
