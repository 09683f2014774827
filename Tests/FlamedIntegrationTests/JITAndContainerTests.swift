import FlamedTestSupport
import FlamedSystem
import Foundation
import Logging
import ProcText
import Symbolizer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// JIT perf maps, processes in other mount and pid namespaces, short-lived processes,
/// deleted and replaced binaries, container ids, and the kptr_restrict warning, on the real
/// kernel with `flamed record`, `flamed report` and the daemon.
@Suite(.serialized, .requires(.perf))
struct JITAndContainerTests {
    /// Whether namespaces, mounts and cgroups can be made here (root with unshare).
    static let canUnshare: Bool = geteuid() == 0 && Support.run(["/usr/bin/unshare", "-m", "-p", "-f", "/bin/true"]).status == 0

    /// Every node of a JSON flame tree: its name, kind (`l`), total value and path from the
    /// process node (process first).
    static func nodes(ofJSON data: Data) throws -> [(name: String, kind: String, total: Int, path: [String])] {
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var result: [(name: String, kind: String, total: Int, path: [String])] = []
        func walk(_ node: [String: Any], _ prefix: [String]) -> Int {
            let name = node["n"] as? String ?? "?"
            let path = prefix + [name]
            var total = (node["v"] as? NSNumber)?.intValue ?? 0
            for child in node["c"] as? [[String: Any]] ?? [] { total += walk(child, path) }
            result.append((name, node["l"] as? String ?? "", total, path))
            return total
        }
        for child in root["c"] as? [[String: Any]] ?? [] { _ = walk(child, []) }
        return result
    }

    /// Samples of processes whose node starts with `process + " ("`, and how many of them
    /// pass through `frame` (a `;`-joined run of frames).
    static func count(_ paths: [String: Int], process: String, through frame: String) -> (total: Int, matching: Int) {
        let mine = paths.filter { $0.key.hasPrefix(process + " (") }
        return (mine.values.reduce(0, +), mine.filter { $0.key.contains(";" + frame) }.values.reduce(0, +))
    }

    // MARK: JIT

    @Test("a JIT's /tmp/perf-PID.map names its frames with l=jit, re-read as it grows, though it deletes the map at exit; markup in a name is escaped in HTML")
    func jitMap() throws {
        let directory = Support.temporaryDirectory()
        let jit = try Support.buildWorkload(in: directory, named: "jit")
        let result = Support.flamed(["record", "-F", "999", "-f", "json", "-o", "jit.json", "--", jit, "1"], cwd: directory)
        try #require(result.status == 0, "flamed record failed: \(result.stderr)")
        let data = try Data(contentsOf: directory.appendingPathComponent("jit.json"))
        let nodes = try Self.nodes(ofJSON: data)
        let process = try #require(nodes.first { $0.path.count == 1 && $0.name.hasPrefix("jit (") }, "no jit process node")
        let pid = process.name.dropFirst(5).prefix { $0.isNumber }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/perf-\(pid).map"), "the JIT deleted its map before it exited")

        let hot = nodes.filter { $0.name == "jit_hot_loop" }
        let marked = nodes.filter { $0.name == "<b>jit</b> markup" }
        let hotTotal = hot.reduce(0) { $0 + $1.total }, markedTotal = marked.reduce(0) { $0 + $1.total }
        #expect(hotTotal > 100 && Double(hotTotal) >= 0.5 * Double(process.total), "jit_hot_loop has \(hotTotal) of \(process.total) samples")
        #expect(markedTotal > 20, "the name appended to the map later has \(markedTotal) samples (the map is re-read as it grows)")
        #expect(!hot.isEmpty && hot.allSatisfy { $0.kind == "jit" }, "JIT frames are l=jit: \(hot.map(\.kind))")
        #expect(!marked.isEmpty && marked.allSatisfy { $0.kind == "jit" })
        #expect(nodes.filter { $0.kind == "jit" }.allSatisfy { $0.name == "jit_hot_loop" || $0.name == "<b>jit</b> markup" })
        // Nearly all the JIT's time is named: at most the samples before the second name
        // was written may stay [unknown].
        let unknown = nodes.filter { $0.path.count >= 2 && $0.path[0] == process.name && $0.name == "[unknown]" }.reduce(0) { $0 + $1.total }
        #expect(Double(hotTotal + markedTotal) >= 0.85 * Double(process.total), "\(hotTotal + markedTotal) of \(process.total) named; \(unknown) [unknown]")

        let page = Support.flamed(["record", "-o", "jit.html", "--", jit, "0.5"], cwd: directory)
        try #require(page.status == 0, "\(page.stderr)")
        let html = String(decoding: try Data(contentsOf: directory.appendingPathComponent("jit.html")), as: UTF8.self)
        #expect(!html.contains("<b>jit</b>"), "a JIT name's markup reaches the page raw")
        #expect(html.contains("\\u003cb\\u003ejit") || html.contains("&lt;b&gt;jit"), "the escaped name is in the page")
    }

    @Test("flamed report names a recording's JIT frames from /tmp/perf-PID.map, as perf does, with l=jit")
    func jitMapInReport() throws {
        let directory = Support.temporaryDirectory()
        let jit = try Support.buildWorkload(in: directory, named: "jit")
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-e", "cpu-clock", "-F", "999", "-o", "perf.data", "--", jit, "0.6", "keep"],
                                 cwd: directory)
        try #require(record.status == 0, "perf record failed: \(record.stderr)")
        let report = Support.flamed(["report", "-i", "perf.data", "-f", "json", "-o", "report.json"], cwd: directory)
        try #require(report.status == 0, "\(report.stderr)")
        let nodes = try Self.nodes(ofJSON: Data(contentsOf: directory.appendingPathComponent("report.json")))
        if let process = nodes.first(where: { $0.path.count == 1 && $0.name.hasPrefix("jit (") }) {
            unlink("/tmp/perf-\(process.name.dropFirst(5).prefix { $0.isNumber }).map")
        }
        let hot = nodes.filter { $0.name == "jit_hot_loop" }
        #expect(hot.reduce(0) { $0 + $1.total } > 100 && hot.allSatisfy { $0.kind == "jit" }, "\(hot.map { ($0.kind, $0.total) })")
        #expect(nodes.contains { $0.name == "<b>jit</b> markup" && $0.kind == "jit" })
    }

    @Test("a JIT in its own mount and pid namespace (private /tmp, pid 1): its map is read through /proc/PID/root/tmp/perf-1.map")
    func jitInContainer() throws {
        guard Self.canUnshare else {
            Issue.record("needs root and unshare to make namespaces")
            return
        }
        let directory = Support.temporaryDirectory()
        _ = try Support.buildWorkload(in: directory, named: "jit")
        // The shell keeps the test directory as its working directory under the new /tmp.
        let script = """
            /usr/bin/unshare -m -p -f --propagation private /bin/sh -c 'cd "$0" && mount -t tmpfs none /tmp && exec ./jit 2.5' '\(directory.path)' &
            sleep 0.4
            '\(Support.flamedBinary)' record -a -d 1.5 -f folded -o jit.folded; status=$?
            wait; exit $status
            """
        let result = Support.shell(script, cwd: directory)
        try #require(result.status == 0, "flamed record -a failed: \(result.stderr)")
        let paths = try Support.paths(ofFolded: String(decoding: try Data(contentsOf: directory.appendingPathComponent("jit.folded")), as: UTF8.self))
        let (total, named) = Self.count(paths, process: "jit", through: "jit_hot_loop")
        #expect(total > 100 && Double(named) >= 0.5 * Double(total), "\(named) of \(total) samples of the namespaced JIT named jit_hot_loop")
    }

    // MARK: Mount namespaces

    @Test("binaries that exist only in another mount namespace are named, for a process seen at start and one started later")
    func mountNamespaceBinary() throws {
        guard Self.canUnshare else {
            Issue.record("needs root and unshare to make namespaces")
            return
        }
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory, named: "record_workload")
        try FileManager.default.copyItem(atPath: workload, toPath: directory.appendingPathComponent("nsseed").path)
        try FileManager.default.copyItem(atPath: workload, toPath: directory.appendingPathComponent("nslater").path)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("mnt"), withIntermediateDirectories: true)
        func inNamespace(_ name: String, seconds: String) -> String {
            "/usr/bin/unshare -m --propagation private /bin/sh -c 'mount -t tmpfs none \"$0/mnt\" && cp \"$0/\(name)\" \"$0/mnt/\" && exec \"$0/mnt/\(name)\" \(seconds)' '\(directory.path)'"
        }
        let script = """
            \(inNamespace("nsseed", seconds: "3")) &
            sleep 0.4
            '\(Support.flamedBinary)' record -a -d 2 -f folded -o ns.folded & recorder=$!
            sleep 0.5
            \(inNamespace("nslater", seconds: "1"))
            wait $recorder; status=$?
            wait; exit $status
            """
        let result = Support.shell(script, cwd: directory)
        try #require(result.status == 0, "flamed record -a failed: \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("mnt").path).isEmpty,
                "the binaries are not visible outside their namespaces")
        let paths = try Support.paths(ofFolded: String(decoding: try Data(contentsOf: directory.appendingPathComponent("ns.folded")), as: UTF8.self))
        for name in ["nsseed", "nslater"] {
            let (total, named) = Self.count(paths, process: name, through: "main;rec_outer;rec_inner_")
            #expect(total > 50 && Double(named) >= 0.5 * Double(total), "\(name): \(named) of \(total) samples under main;rec_outer;rec_inner_*")
        }
    }

    // MARK: Short-lived processes, deleted and replaced binaries

    @Test("bursts of 50 ms processes under record -a resolve (>= 95%), and so do ones whose binary is deleted as soon as they exit")
    func shortLivedBursts() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory, named: "record_workload")
        try FileManager.default.copyItem(atPath: workload, toPath: directory.appendingPathComponent("burst").path)
        let result = Support.flamed(["record", "-a", "-f", "folded", "-o", "bursts.folded", "--", "/bin/sh", "-c", """
            for i in $(seq 40); do ./burst 0.05; done
            for i in $(seq 20); do cp burst gone$i; ./gone$i 0.05; rm gone$i; done
            """], cwd: directory)
        try #require(result.status == 0, "flamed record failed: \(result.stderr)")
        let paths = try Support.paths(ofFolded: String(decoding: try Data(contentsOf: directory.appendingPathComponent("bursts.folded")), as: UTF8.self))
        let bursts = Set(paths.keys.filter { $0.hasPrefix("burst (") }.map { $0.prefix { $0 != ";" } })
        #expect(bursts.count >= 30, "each run is its own process node: \(bursts.count)")
        let (total, named) = Self.count(paths, process: "burst", through: "main;")
        #expect(total > 300 && Double(named) >= 0.95 * Double(total), "\(named) of \(total) samples of 50 ms processes resolve under main")
        var deleted = (total: 0, named: 0)
        for (path, samples) in paths where path.hasPrefix("gone") {
            deleted.total += samples
            if path.contains(";main;") { deleted.named += samples }
        }
        #expect(deleted.total > 100 && Double(deleted.named) >= 0.9 * Double(deleted.total),
                "\(deleted.named) of \(deleted.total) samples of processes whose binary was deleted at exit resolve under main")
    }

    @Test("record -p names a process whose binary was deleted, or replaced by another file, while it runs")
    func deletedAndReplacedBinary() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory, named: "record_workload")
        for (name, change) in [("deleted_bin", "rm -f deleted_bin"),
                               ("replaced_bin", "cp /bin/true replaced_bin.new && mv replaced_bin.new replaced_bin")] {
            try FileManager.default.copyItem(atPath: workload, toPath: directory.appendingPathComponent(name).path)
            let script = """
                ./\(name) 2.5 & pid=$!
                sleep 0.3
                \(change)
                '\(Support.flamedBinary)' record -p $pid -d 1 -f folded -o \(name).folded; status=$?
                wait; exit $status
                """
            let result = Support.shell(script, cwd: directory)
            try #require(result.status == 0, "\(name): flamed record -p failed: \(result.stderr)")
            let paths = try Support.paths(ofFolded: String(decoding: try Data(contentsOf: directory.appendingPathComponent("\(name).folded")), as: UTF8.self))
            let (total, named) = Self.count(paths, process: name, through: "main;rec_outer;rec_inner_")
            #expect(total > 300 && Double(named) >= 0.5 * Double(total), "\(name): \(named) of \(total) samples under main;rec_outer;rec_inner_*")
        }
    }

    // MARK: Containers

    /// A cgroup named as docker names its containers (`docker/<64 hex>`), in the v1 pids
    /// hierarchy or the unified one; nil when none can be made here. `remove` takes it away
    /// (and `docker/` when it was made for it).
    static func makeContainerCgroup() -> (path: String, id: String, remove: () -> Void)? {
        guard geteuid() == 0 else { return nil }
        let id = (0..<64).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()
        for hierarchy in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        where FileManager.default.fileExists(atPath: hierarchy + "/cgroup.procs") {
            let parent = "\(hierarchy)/docker"
            let madeParent = !FileManager.default.fileExists(atPath: parent)
            let path = "\(parent)/\(id)"
            if (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil {
                return (path, id, {
                    // The cgroup empties once its processes are reaped.
                    for _ in 0..<50 where rmdir(path) != 0 && errno == EBUSY { usleep(100_000) }
                    if madeParent { rmdir(parent) }
                })
            }
        }
        return nil
    }

    @Test("a process in a container cgroup is labelled `comm (pid) [container ID]`; record --container and snapshot --container keep only it")
    func containerLabelAndFilter() throws {
        guard let cgroup = Self.makeContainerCgroup() else {
            Issue.record("needs root and a writable cgroup hierarchy")
            return
        }
        defer { cgroup.remove() }
        let short = String(cgroup.id.prefix(12))
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory, named: "record_workload")
        try FileManager.default.copyItem(atPath: workload, toPath: directory.appendingPathComponent("boxed").path)
        try FileManager.default.copyItem(atPath: workload, toPath: directory.appendingPathComponent("loose").path)
        let startBoxed = "/bin/sh -c 'echo $$ > \(cgroup.path)/cgroup.procs && exec ./boxed 6' &"
        let script = """
            \(startBoxed)
            ./loose 6 &
            sleep 0.3
            '\(Support.flamedBinary)' record -a -d 1 -f folded -o all.folded || exit 1
            '\(Support.flamedBinary)' record -a -d 1 -f folded -o boxed.folded --container \(short.uppercased().prefix(8)) || exit 1
            kill %1 %2; wait
            """
        let result = Support.shell(script, cwd: directory)
        try #require(result.status == 0, "flamed record failed: \(result.stderr)")
        let all = try Support.paths(ofFolded: String(decoding: try Data(contentsOf: directory.appendingPathComponent("all.folded")), as: UTF8.self))
        let boxed = all.keys.filter { $0.hasPrefix("boxed (") }
        #expect(!boxed.isEmpty && boxed.allSatisfy { $0.prefix { $0 != ";" }.hasSuffix(") [container \(short)]") },
                "labelled: \(boxed.first ?? "none")")
        #expect(all.keys.contains { $0.hasPrefix("loose (") && !$0.prefix { $0 != ";" }.contains("[container") }, "a process outside is not labelled")
        let filtered = try Support.paths(ofFolded: String(decoding: try Data(contentsOf: directory.appendingPathComponent("boxed.folded")), as: UTF8.self))
        #expect(!filtered.isEmpty && filtered.keys.allSatisfy { $0.hasPrefix("boxed (") && $0.contains("[container \(short)];") },
                "--container keeps only the container's process: \(Set(filtered.keys.map { $0.prefix { $0 != ";" } }).sorted().prefix(5)) \(result.stderr)")
        #expect(filtered.keys.contains { $0.contains(";main;rec_outer;rec_inner_a") })
        let refused = Support.flamed(["record", "-a", "-d", "1", "--container", "not-hex"], cwd: directory)
        #expect(refused.status != 0 && refused.stderr.contains("--container"), "\(refused.stderr)")

        // The daemon labels it too, and a snapshot keeps it by container (short or full id).
        let daemon = try DaemonUnderTest()
        try FileManager.default.copyItem(atPath: workload, toPath: daemon.directory.appendingPathComponent("boxed").path)
        try FileManager.default.copyItem(atPath: workload, toPath: daemon.directory.appendingPathComponent("loose").path)
        let boxedPID = try #require(Support.spawn(["/bin/sh", "-c", "echo $$ > \(cgroup.path)/cgroup.procs && exec '\(daemon.directory.path)/boxed' 6"],
                                                  stdout: "/dev/null", stderr: "/dev/null"))
        let loosePID = try #require(Support.spawn([daemon.directory.appendingPathComponent("loose").path, "6"], stdout: "/dev/null", stderr: "/dev/null"))
        defer {
            kill(boxedPID, SIGKILL)
            kill(loosePID, SIGKILL)
            _ = Support.wait(boxedPID, timeout: 2)
            _ = Support.wait(loosePID, timeout: 2)
        }
        sleep(2)
        for wanted in [short, cgroup.id] {
            let snapshot = daemon.flamed(["snapshot", "-f", "folded", "-o", "-", "--container", wanted])
            let lines = snapshot.stdoutText.split(separator: "\n")
            // The shell that exec'd it was in the container already: its samples are labelled too.
            #expect(!lines.isEmpty && lines.allSatisfy { $0.contains(" (\(boxedPID)) [container \(short)];") },
                    "snapshot --container \(wanted): \(lines.prefix(3))")
        }
        let byPID = daemon.flamed(["snapshot", "-f", "folded", "-o", "-", "--pid", String(boxedPID)])
        #expect(byPID.stdoutText.split(separator: "\n").allSatisfy { $0.contains(" (\(boxedPID)) [container \(short)];") } && !byPID.stdout.isEmpty,
                "--pid still parses a labelled process node")
        let byComm = daemon.flamed(["snapshot", "-f", "folded", "-o", "-", "--comm", "boxed"])
        #expect(!byComm.stdout.isEmpty && byComm.stdoutText.split(separator: "\n").allSatisfy { $0.hasPrefix("boxed (") })
        _ = daemon.stop()
    }

    // MARK: kptr_restrict

    @Test("kallsyms with hidden (zero) addresses gives one warning naming kernel.kptr_restrict and CAP_SYSLOG, live and in report")
    func kptrRestrictWarning() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory, named: "record_workload")
        // What a reader without CAP_SYSLOG sees under kptr_restrict.
        let hidden = directory.appendingPathComponent("kallsyms.hidden").path
        try "0000000000000000 T _stext\n0000000000000000 T _text\n0000000000000000 t do_syscall_64\n".write(toFile: hidden, atomically: true, encoding: .utf8)
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-e", "cpu-clock", "-o", "perf.data", "--", workload, "0.3"], cwd: directory)
        try #require(record.status == 0, "perf record failed: \(record.stderr)")
        let report = Support.flamed(["report", "-i", "perf.data", "--kallsyms", hidden, "-f", "json", "-o", "report.json"], cwd: directory)
        #expect(report.status == 0, "\(report.stderr)")
        let reportWarnings = report.stderr.split(separator: "\n").filter { $0.contains("kallsyms") || $0.contains("kptr") }
        #expect(reportWarnings.count == 1 && reportWarnings[0].contains("kptr_restrict") && reportWarnings[0].contains("CAP_SYSLOG"),
                "one warning: \(report.stderr)")

        // Live: flamed without CAP_SYSLOG, where /proc/kallsyms then shows zeros.
        let drop = ["/usr/bin/setpriv", "--bounding-set", "-syslog", "--inh-caps", "-syslog"]
        let probe = Support.run(drop + ["/usr/bin/head", "-1", "/proc/kallsyms"])
        guard geteuid() == 0, probe.status == 0, probe.stdoutText.hasPrefix("0000000000000000") else {
            Issue.record("cannot make /proc/kallsyms hide its addresses here (needs root, and kptr_restrict or perf_event_paranoid > 1): \(probe.stdoutText.prefix(40)) \(probe.stderr)")
            return
        }
        // A run that sees the addresses fills flamed's kernel symbol cache first: the one
        // without CAP_SYSLOG must not take them from there.
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = directory.appendingPathComponent("cache").path
        environment["CACHE_DIRECTORY"] = nil
        let privileged = Support.run([Support.flamedBinary, "record", "-f", "json", "-o", "seen.json", "--", workload, "0.1"],
                                     cwd: directory, environment: environment)
        #expect(privileged.status == 0 && FileManager.default.fileExists(atPath: directory.appendingPathComponent("cache/flamed/kallsyms").path),
                "\(privileged.stderr)")
        let live = Support.run(drop + [Support.flamedBinary, "record", "-f", "json", "-o", "live.json", "--", workload, "0.3"],
                               cwd: directory, environment: environment)
        #expect(live.status == 0, "\(live.stderr)")
        let liveWarnings = live.stderr.split(separator: "\n").filter { $0.contains("kallsyms") || $0.contains("kptr") }
        #expect(liveWarnings.count == 1 && liveWarnings[0].contains("kernel.kptr_restrict") && liveWarnings[0].contains("CAP_SYSLOG"),
                "one warning: \(live.stderr)")
    }
}

/// The pieces without the kernel: perf map parsing, root-confined path resolution and
/// container ids from cgroup paths.
@Suite struct JITAndContainerUnitTests {
    /// Test files: each process's perf map at a path of the test's, read again as it grows
    /// (as live profiles read them).
    final class TestFiles: SymbolFileProvider, @unchecked Sendable {
        let perfMaps: [Int32: String]
        init(perfMaps: [Int32: String]) { self.perfMaps = perfMaps }
        func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? { nil }
        func perfMapPath(pid: Int32) -> String? { perfMaps[pid] }
        var rereadsPerfMaps: Bool { true }
    }

    /// A symbolizer as live modes set it up, with the perf maps `perfMaps` names.
    static func symbolizer(perfMaps: [Int32: String] = [:]) -> Symbolizer {
        Symbolizer(SymbolizerConfiguration(buildIDCache: "/nonexistent", files: TestFiles(perfMaps: perfMaps)), logger: Logger(label: "test"))
    }

    @Test("a perf map names anonymous and unmapped code, grows, keeps its names after deletion; JIT frames are told apart")
    func perfMapParsing() throws {
        let directory = Support.temporaryDirectory()
        let map = directory.appendingPathComponent("perf-4242.map").path
        try "7f0000001000 40 first_fn\n0x7f0000001100 0x20 Interpreter::run(int, char const*) [jit]\nnot a line\n7f0000001200 0 empty\n7f0000020000 10 unmapped_fn\n"
            .write(toFile: map, atomically: true, encoding: .utf8)
        let symbolizer = Self.symbolizer(perfMaps: [4242: map])
        symbolizer.mmap(pid: 4242, start: 0x7f00_0000_0000, length: 0x10000, pageOffset: 0, filename: "//anon", buildID: nil, isKernel: false)

        let first = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_1010, isReturnAddress: false)
        #expect(symbolizer.name(of: first) == "first_fn" && symbolizer.isJIT(first))
        let second = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_1111, isReturnAddress: true)
        #expect(symbolizer.name(of: second) == "Interpreter::run(int, char const*) [jit]", "0x prefixes, names with spaces")
        #expect(symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_1200, isReturnAddress: false) == Symbolizer.unknownUser, "size 0 is no entry")
        #expect(!symbolizer.isJIT(Symbolizer.unknownUser))

        // Appended later (and a line written in two parts): read on from where it stopped.
        let before = symbolizer.generation(pid: 4242)
        let handle = try #require(FileHandle(forWritingAtPath: map))
        handle.seekToEndOfFile()
        handle.write(Data("7f0000002000 100 later_fn\n7f0000003000 10 half".utf8))
        usleep(120_000)
        let later = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_2080, isReturnAddress: false)
        #expect(symbolizer.name(of: later) == "later_fn", "an entry appended to the map is found")
        #expect(symbolizer.generation(pid: 4242) != before, "stale cached stacks are told apart")
        handle.write(Data("_done\n7f0000001000 40 reused_fn\n".utf8))
        handle.closeFile()
        usleep(120_000)
        _ = symbolizer.generation(pid: 4242)
        let half = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_3004, isReturnAddress: false)
        #expect(symbolizer.name(of: half) == "half_done", "a line is read once it is whole")
        let reused = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_1010, isReturnAddress: false)
        #expect(symbolizer.name(of: reused) == "reused_fn", "the later entry for the same address wins")

        // Deleted (the JIT exited): what was read stays.
        unlink(map)
        usleep(120_000)
        let kept = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0000_2010, isReturnAddress: false)
        #expect(symbolizer.name(of: kept) == "later_fn" && symbolizer.isJIT(kept))
        // An address in no mapping at all is looked up too.
        let unmapped = symbolizer.resolveUser(pid: 4242, address: 0x7f00_0002_0004, isReturnAddress: false)
        #expect(symbolizer.name(of: unmapped) == "unmapped_fn" && symbolizer.isJIT(unmapped))
    }

    @Test("paths resolve inside a root: absolute links restart at the root, .. stops at it, nothing escapes")
    func rootResolver() throws {
        let directory = Support.temporaryDirectory()
        let root = directory.appendingPathComponent("root").path
        let outside = directory.appendingPathComponent("outside").path
        try FileManager.default.createDirectory(atPath: root + "/usr/lib", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "inside".write(toFile: root + "/usr/lib/libx.so", atomically: true, encoding: .utf8)
        try "secret".write(toFile: outside + "/secret", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/lib", withDestinationPath: "usr/lib")
        try FileManager.default.createSymbolicLink(atPath: root + "/abs", withDestinationPath: "/usr/lib/libx.so")
        try FileManager.default.createSymbolicLink(atPath: root + "/up", withDestinationPath: "../../../../../usr/lib")
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: "../outside/secret")
        try FileManager.default.createSymbolicLink(atPath: root + "/hostabs", withDestinationPath: outside + "/secret")
        try FileManager.default.createSymbolicLink(atPath: root + "/loop", withDestinationPath: "loop")
        try FileManager.default.createSymbolicLink(atPath: root + "/var", withDestinationPath: "tmp")
        let rootFD = open(root, O_RDONLY | O_DIRECTORY)
        try #require(rootFD >= 0)
        defer { close(rootFD) }
        #expect(RootResolver.resolve("/lib/libx.so", rootFD: rootFD) == "usr/lib/libx.so")
        #expect(RootResolver.resolve("/abs", rootFD: rootFD) == "usr/lib/libx.so")
        #expect(RootResolver.resolve("/up/libx.so", rootFD: rootFD) == "usr/lib/libx.so")
        #expect(RootResolver.resolve("/../../usr/./lib//libx.so", rootFD: rootFD) == "usr/lib/libx.so")
        #expect(RootResolver.resolve("/var/perf-1.map", rootFD: rootFD) == nil, "a missing file")
        #expect(RootResolver.resolve("/escape", rootFD: rootFD) == nil, "../outside stays inside the root, where there is no such file")
        #expect(RootResolver.resolve("/hostabs", rootFD: rootFD) == nil, "an absolute link is taken inside the root")
        #expect(RootResolver.resolve("/loop", rootFD: rootFD) == nil, "links that loop end")
        #expect(RootResolver.resolve("/usr/lib/libx.so/x", rootFD: rootFD) == nil, "a file is not a directory")
        let fd = try #require(RootResolver.open("/lib/../lib/libx.so", rootFD: rootFD))
        defer { close(fd) }
        var opened = stat(), expected = stat()
        #expect(fstat(fd, &opened) == 0 && stat(root + "/usr/lib/libx.so", &expected) == 0 && opened.st_ino == expected.st_ino)
    }

    @Test("container ids come from docker, podman, containerd, CRI-O and kubepods cgroup paths, shortened to 12 digits")
    func containerIDs() {
        let id = "3f1c0a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3"
        let cases: [(String, String?)] = [
            ("12:pids:/docker/\(id)\n0::/\n", id),
            ("0::/system.slice/docker-\(id).scope\n", id),
            ("0::/machine.slice/libpod-\(id).scope/container\n", id),
            ("0::/machine.slice/libpod-conmon-\(id).scope\n", nil),
            ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-\(id).scope\n", id),
            ("0::/kubepods.slice/kubepods-pod99.slice/crio-\(id).scope\n", id),
            ("11:memory:/kubepods/burstable/pod0a1b/\(id)\n", id),
            ("0::/user.slice/user-1000.slice/session-2.scope\n", nil),
            ("4:memory:/process_api/c7a390f6fa553b9767facb60ebc3dcbf\n0::/\n", nil),
            ("", nil),
        ]
        for (text, expected) in cases {
            #expect(ContainerID.parse(cgroup: text)?.full == expected, "\(text)")
        }
        let container = ContainerID(id.uppercased())
        #expect(container.short == "3f1c0a9b8e7d")
        #expect(container.matches("3F1C0A") && container.matches(id) && !container.matches("") && !container.matches("3f1d"))
    }
}
