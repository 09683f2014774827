import FlamedTestSupport
import Foundation
import PerfData
import PerfDataBuilder
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The whole perf.data → tree path, pinned: recordings written record by record with
/// PerfDataBuilder go through the built `flamed report`, whose folded and JSON outputs must
/// equal the committed ones in `Fixtures/expected`. No kernel and no perf are involved, so
/// these tests run anywhere and survive any refactoring that keeps the output.
///
/// `FLAMED_BLESS=1 swift test --filter Golden` rewrites the expected outputs; review the diff.
@Suite("Golden outputs of flamed report", .serialized)
struct GoldenReportTests {
    /// One report run: the flags after `report -i RECORDING` and the expected file's stem.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var arguments: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "all", arguments: []),
        Case(name: "weight-period", arguments: ["--weight", "period"]),
        Case(name: "pid-filter", arguments: ["--pid", "\(Recording.app),\(Recording.jit)"]),
        Case(name: "comm-filter", arguments: ["--comm", "renamed-app"]),
        Case(name: "demangle-none", arguments: ["--demangle", "none"]),
        Case(name: "max-stack-2", arguments: ["--max-stack", "2"]),
    ]

    @Test("Folded and JSON output of a recording equal the committed ones", arguments: cases)
    func report(_ golden: Case) throws {
        let scene = try Scene()
        defer { scene.remove() }
        for format in ["folded", "json"] {
            let output = try scene.report(file: scene.recording, golden.arguments + ["-f", format])
            try Golden.check(output, against: "\(golden.name).\(format)")
        }
    }

    @Test("The same records in perf's pipe format, read from standard input, give the same output")
    func pipeMode() throws {
        let scene = try Scene()
        defer { scene.remove() }
        for format in ["folded", "json"] {
            let output = try scene.report(stdin: scene.pipe, ["-f", format])
            try Golden.check(output, against: "all.\(format)", blessing: false)
        }
    }

    @Test("The recording gives every kind of frame and process name it was written for")
    func everyKindOfFrameIsThere() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let folded = String(decoding: try scene.report(file: scene.recording, ["-f", "folded"]), as: UTF8.self)
        // A guard on the fixtures themselves: every kind of frame the recording was written
        // to produce is in the output, so a blessed file cannot silently lose one.
        for expected in ["golden-app (\(Recording.app));_start;main_loop;middle_step;leaf_work",
                         "entry_SYSCALL_64;do_syscall_64;__x64_sys_write;ksys_write;vfs_write",
                         "golden::Cache::lookup", "[golden-app]", "[unknown]", "lib_entry;lib_hash",
                         "golden::jit::dispatch(int);LazyCompiled:*goldenAdd golden.js:3", "bpf_prog_6deef7357e7b4530_golden",
                         "golden-worker (\(Recording.app))", "renamed-app (\(Recording.child))", "swapper;cpu_startup_entry;do_idle;default_idle", ":\(Recording.nameless) (\(Recording.nameless))"] {
            #expect(folded.contains(expected), "\(expected) is missing from:\n\(folded)")
        }
    }
}

// MARK: - Expected outputs

/// The committed expected outputs and the bless switch.
enum Golden {
    static let fixtures = Support.packageRoot.appendingPathComponent("Tests/FlamedGoldenTests/Fixtures")
    static let expected = fixtures.appendingPathComponent("expected")
    static let blessing = ProcessInfo.processInfo.environment["FLAMED_BLESS"] == "1"

    /// Compares `output` with `expected/NAME`, or with FLAMED_BLESS=1 (and `blessing`)
    /// writes it there.
    static func check(_ output: Data, against name: String, blessing: Bool = true,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = expected.appendingPathComponent(name)
        if Self.blessing && blessing {
            try output.write(to: url, options: .atomic)
            return
        }
        let wanted = try #require(try? Data(contentsOf: url), "\(url.path) is missing: run FLAMED_BLESS=1 swift test --filter Golden",
                                  sourceLocation: sourceLocation)
        #expect(output == wanted, "\(name): \(firstDifference(output, wanted))", sourceLocation: sourceLocation)
    }

    /// The first line where `actual` and `wanted` differ, for the failure message.
    static func firstDifference(_ actual: Data, _ wanted: Data) -> String {
        let a = String(decoding: actual, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let w = String(decoding: wanted, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(a.count, w.count) where index >= a.count || index >= w.count || a[index] != w[index] {
            let got = index < a.count ? String(a[index].prefix(400)) : "(end)"
            let want = index < w.count ? String(w[index].prefix(400)) : "(end)"
            return "line \(index + 1) differs (bless with FLAMED_BLESS=1 if intended)\n  got:  \(got)\n  want: \(want)"
        }
        return "same lines, different bytes"
    }
}

// MARK: - The recording

/// A private directory with the recording, in file and pipe form, and the environment the
/// report runs in: a build-id cache holding libgolden.so, an empty home, the JIT's perf map.
struct Scene {
    let directory: URL
    let recording: URL
    let pipe: URL
    let buildIDCache: URL
    /// Where the report looks for the JIT process's perf map (perf's fixed `/tmp/perf-PID.map`;
    /// the pid is above any kernel's pid_max, so no real process owns it).
    let perfMap = URL(fileURLWithPath: "/tmp/perf-\(Recording.jit).map")

    init() throws {
        directory = Support.temporaryDirectory("golden")
        recording = directory.appendingPathComponent("golden.data")
        pipe = directory.appendingPathComponent("golden.pipe")
        buildIDCache = directory.appendingPathComponent("buildid")
        let app = Golden.fixtures.appendingPathComponent("golden-app").path
        for binary in [app, Golden.fixtures.appendingPathComponent("libgolden.so").path] {
            try #require(FileManager.default.fileExists(atPath: binary),
                         "\(binary) is missing: run Tests/FlamedGoldenTests/Fixtures/make-binaries")
        }
        let records = Recording.records(appPath: app)
        let file = PerfFileBuilder(attrs: [Recording.attr], records: records).build().bytes
        try Data(file).write(to: recording)
        try Data(pipeStream([headerAttrRecord(Recording.attr)] + records)).write(to: pipe)

        let hex = Recording.libraryBuildID.map { String(format: "%02x", $0) }.joined()
        let entry = buildIDCache.appendingPathComponent(".build-id/\(hex.prefix(2))/\(hex.dropFirst(2))")
        try FileManager.default.createDirectory(at: entry, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Golden.fixtures.appendingPathComponent("libgolden.so"),
                                         to: entry.appendingPathComponent("elf"))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("home"), withIntermediateDirectories: true)

        let staged = perfMap.deletingLastPathComponent().appendingPathComponent(".perf-\(Recording.jit).map.\(getpid())")
        try? FileManager.default.removeItem(at: staged)
        try FileManager.default.copyItem(at: Golden.fixtures.appendingPathComponent("perf-jit.map"), to: staged)
        try #require(rename(staged.path, perfMap.path) == 0, "cannot put the JIT map at \(perfMap.path)")
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
        unlink(perfMap.path)
    }

    /// `flamed report --kallsyms FIXTURE -i FILE -o - ARGUMENTS`; its standard output.
    func report(file: URL, _ arguments: [String]) throws -> Data {
        try run(["report", "--kallsyms", Golden.fixtures.appendingPathComponent("kallsyms").path,
                 "-i", file.path, "-o", "-"] + arguments, stdin: nil)
    }

    /// The same, reading the pipe form on standard input.
    func report(stdin: URL, _ arguments: [String]) throws -> Data {
        try run(["report", "--kallsyms", Golden.fixtures.appendingPathComponent("kallsyms").path,
                 "-i", "-", "-o", "-"] + arguments, stdin: stdin)
    }

    private func run(_ arguments: [String], stdin: URL?) throws -> Data {
        let home = directory.appendingPathComponent("home").path
        let environment = ["PATH": "/usr/bin:/bin", "HOME": home, "XDG_CACHE_HOME": home + "/.cache",
                           "PERF_BUILDID_DIR": buildIDCache.path, "LC_ALL": "C"]
        let result = Support.run([Support.flamedBinary] + arguments, stdin: stdin, environment: environment)
        try #require(result.status == 0, "flamed \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        #expect(result.stderr.isEmpty, "flamed \(arguments.joined(separator: " ")) warned: \(result.stderr)")
        return result.stdout
    }
}

/// The recording: what perf would write for a few processes, each exercising one part of the
/// report. Addresses are those make-binaries gives golden-app's and libgolden.so's functions.
enum Recording {
    static let app: Int32 = 5_000_100
    static let worker: Int32 = 5_000_101
    static let child: Int32 = 5_000_200
    static let jit: Int32 = 5_000_300
    static let escaped: Int32 = 5_000_400
    static let nameless: Int32 = 5_000_500

    static let sampleType = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.cpu
        | SampleFormat.period | SampleFormat.callchain
    /// cpu-clock at a fixed period, with sample_id_all (non-sample records carry pid, tid, time, cpu).
    static let attr = Attr(type: 1, config: 0, samplePeriod: 1_000_000, sampleType: sampleType, flags: Attr.sampleIDAllFlag)

    /// golden-app's functions (make-binaries places them; sizes from the symbol table).
    enum AppAddress {
        static let start: UInt64 = 0x401000          // 2 bytes
        static let mainLoop: UInt64 = 0x401100       // 32 bytes
        static let middleStep: UInt64 = 0x401200     // 24 bytes
        static let otherStep: UInt64 = 0x401300      // 9 bytes
        static let lookup: UInt64 = 0x401400         // 8 bytes: golden::Cache::lookup(int) const
        static let leafWork: UInt64 = 0x401500       // 5 bytes
        /// Inside the executable mapping, between functions: no symbol covers it.
        static let padding: UInt64 = 0x401050
    }

    /// libgolden.so: its text segment (file offset 0x1000) is mapped at `libraryBase + 0x1000`.
    static let libraryBase: UInt64 = 0x7f00_0000_0000
    static let libraryBuildID: [UInt8] = [0x60, 0xa1, 0xde, 0x4b, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56,
                                          0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0]
    /// Anonymous memory where the JIT's code lies (named by Fixtures/perf-jit.map).
    static let jitBase: UInt64 = 0x7f10_0000_0000

    /// Where the recorded kernel's text starts; the fixture kallsyms has it at 0xffffffff9a000000
    /// (another KASLR offset), so kernel addresses are relocated by the difference.
    static let kernelText: UInt64 = 0xffff_ffff_8100_0000
    enum KernelAddress {
        static let entry = kernelText + 0x1000
        static let doSyscall = kernelText + 0x2000
        static let sysWrite = kernelText + 0x3000
        static let ksysWrite = kernelText + 0x4000
        static let vfsWrite = kernelText + 0x5000
        static let defaultIdle = kernelText + 0x6000
        static let doIdle = kernelText + 0x7000
        static let startupEntry = kernelText + 0x8000
        /// A BPF program, named only by a KSYMBOL record.
        static let bpf: UInt64 = 0xffff_ffff_c010_0000
    }

    /// Appends records with increasing times.
    struct Writer {
        var records: [[UInt8]] = []
        var time: UInt64 = 1_000_000_000

        mutating func tick() -> UInt64 {
            time += 1_000
            return time
        }

        mutating func trailer(pid: Int32, tid: Int32, cpu: UInt32 = 0) -> [UInt8] {
            sampleID(Recording.sampleType, pid: pid, tid: tid, time: tick(), cpu: cpu)
        }

        mutating func comm(pid: Int32, tid: Int32, _ name: String, exec: Bool) {
            let trail = trailer(pid: pid, tid: tid)
            records.append(commRecord(pid: pid, tid: tid, name: name, exec: exec, trailer: trail))
        }

        mutating func fork(pid: Int32, parent: Int32, tid: Int32, parentTID: Int32) {
            let trail = trailer(pid: pid, tid: tid)
            records.append(taskRecord(RecordType.fork, pid: pid, ppid: parent, tid: tid, ptid: parentTID, time: time, trailer: trail))
        }

        mutating func exit(pid: Int32, tid: Int32) {
            let trail = trailer(pid: pid, tid: tid)
            records.append(taskRecord(RecordType.exit, pid: pid, ppid: pid, tid: tid, ptid: tid, time: time, trailer: trail))
        }

        mutating func map(pid: Int32, start: UInt64, length: UInt64, pageOffset: UInt64, file: String,
                          buildID: [UInt8]? = nil, protection: UInt32 = 5) {
            let trail = trailer(pid: pid, tid: pid)
            records.append(mmap2Record(pid: pid, tid: pid, start: start, length: length, pageOffset: pageOffset,
                                       buildID: buildID, protection: protection, filename: file, trailer: trail))
        }

        /// A sample: `kernel` frames (leaf first), then `user` frames (leaf first). The
        /// first frame is the sampled IP; the rest are return addresses.
        mutating func sample(pid: Int32, tid: Int32, kernel: [UInt64] = [], user: [UInt64] = [],
                             period: UInt64 = 1_000_000, cpu: UInt32 = 0, times: Int = 1) {
            var chain: [UInt64] = []
            if !kernel.isEmpty { chain += [CallchainContext.kernel] + kernel }
            if !user.isEmpty { chain += [CallchainContext.user] + user }
            let ip = kernel.first ?? user.first ?? 0
            for _ in 0..<times {
                let time = tick()
                records.append(PerfDataBuilder.sample(
                    Recording.sampleType, misc: kernel.isEmpty ? RecordMisc.user : RecordMisc.kernel, ip: ip,
                    pid: pid, tid: tid, time: time, cpu: cpu, period: period, callchain: chain))
            }
        }
    }

    /// Every record, in time order, ending with FINISHED_ROUND.
    static func records(appPath: String) -> [[UInt8]] {
        typealias A = AppAddress
        typealias K = KernelAddress
        var w = Writer()
        // The kernel map, as perf synthesizes it: pgoff is the recorded kernel's _text.
        var trail = w.trailer(pid: -1, tid: 0)
        w.records.append(mmapRecord(pid: -1, tid: 0, start: kernelText, length: 0x100_0000, pageOffset: kernelText,
                                    filename: "[kernel.kallsyms]_text", misc: RecordMisc.kernel, trailer: trail))
        trail = w.trailer(pid: -1, tid: 0)
        w.records.append(ksymbolRecord(address: K.bpf, length: 0x100, type: 1, flags: 0,
                                       name: "bpf_prog_6deef7357e7b4530_golden", trailer: trail))

        // golden-app: user frames in an ELF named by its path, a C++ name, a frame between
        // functions, an address in no mapping, kernel frames, a BPF frame.
        w.comm(pid: app, tid: app, "golden-app", exec: true)
        w.map(pid: app, start: A.start, length: 0x1000, pageOffset: 0x1000, file: appPath)
        let appLeaf = [A.leafWork + 2, A.middleStep + 0xa, A.mainLoop + 0x10, A.start + 2]
        w.sample(pid: app, tid: app, user: appLeaf, period: 1_000_000, times: 3)
        w.sample(pid: app, tid: app, user: [A.otherStep + 5, A.lookup + 4, A.mainLoop + 0x18, A.start + 2], period: 4_000_000)
        w.sample(pid: app, tid: app, kernel: [K.vfsWrite + 0x10, K.ksysWrite + 0x20, K.sysWrite + 0x10, K.doSyscall + 0x40, K.entry + 0x50],
                 user: [A.leafWork + 4, A.middleStep + 0xa, A.mainLoop + 0x10, A.start + 2], period: 2_500_000, cpu: 1, times: 2)
        w.sample(pid: app, tid: app, user: [0x1234_5678, A.mainLoop + 0x10, A.start + 2], period: 700_000)
        w.sample(pid: app, tid: app, user: [A.padding, A.start + 2], period: 300_000)
        w.sample(pid: app, tid: app, kernel: [K.bpf + 0x10, K.doSyscall + 0x40], user: [A.mainLoop + 0x10, A.start + 2], period: 900_000)

        // A second thread, named by a COMM that is not an exec.
        w.fork(pid: app, parent: app, tid: worker, parentTID: app)
        w.comm(pid: app, tid: worker, "golden-worker", exec: false)
        w.sample(pid: app, tid: worker, user: [A.otherStep + 5, A.mainLoop + 0x18, A.start + 2], period: 1_500_000, cpu: 1, times: 2)

        // A child process: the parent's maps and name, then an exec that renames it, then exit.
        w.fork(pid: child, parent: app, tid: child, parentTID: app)
        w.sample(pid: child, tid: child, user: appLeaf, period: 1_000_000)
        w.comm(pid: child, tid: child, "renamed-app", exec: true)
        w.sample(pid: child, tid: child, user: appLeaf, period: 2_000_000, times: 2)
        w.exit(pid: child, tid: child)
        // Samples after EXIT keep the dead process's name and maps, as perf keeps them.
        w.sample(pid: child, tid: child, user: [A.otherStep + 5, A.mainLoop + 0x18, A.start + 2], period: 1_000_000)

        // A JIT: a library found only through the build-id cache (its recorded path does not
        // exist), code in anonymous memory named by /tmp/perf-PID.map, and code the map misses.
        w.comm(pid: jit, tid: jit, "golden-jit", exec: true)
        w.map(pid: jit, start: libraryBase + 0x1000, length: 0x1000, pageOffset: 0x1000,
              file: "/nonexistent/flamed-golden/libgolden.so", buildID: libraryBuildID)
        w.map(pid: jit, start: jitBase, length: 0x10000, pageOffset: 0, file: "//anon", protection: 7)
        w.sample(pid: jit, tid: jit, user: [libraryBase + 0x1104, libraryBase + 0x1010, jitBase + 0x1010, jitBase + 0x1050],
                 period: 3_000_000, times: 2)
        w.sample(pid: jit, tid: jit, user: [jitBase + 0x8000, jitBase + 0x1050], period: 500_000)

        // A name that JSON must escape, with only kernel frames.
        w.comm(pid: escaped, tid: escaped, "esc\"ape\\me<&>", exec: true)
        w.sample(pid: escaped, tid: escaped, kernel: [K.vfsWrite + 0x10, K.entry + 0x50], period: 600_000)

        // The idle task (pid 0, perf's swapper) and a thread no COMM ever named.
        w.sample(pid: 0, tid: 0, kernel: [K.defaultIdle + 0x10, K.doIdle + 0x20, K.startupEntry + 0x30], period: 5_000_000, cpu: 1, times: 3)
        w.sample(pid: nameless, tid: nameless, user: [A.leafWork + 2], period: 100_000)

        w.records.append(finishedRound())
        return w.records
    }
}
