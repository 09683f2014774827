import FlamedTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `flamed run` daemon started for one test, with its own config, socket and snapshot
/// directory in a temporary directory; killed if the test does not stop it.
final class DaemonUnderTest {
    let directory: URL
    let socket: String
    let snapshots: String
    let configPath: String
    let logPath: String
    private(set) var pid: pid_t = 0
    private var exited: Int32?

    /// Writes the config (`extra` is appended as TOML) and starts the daemon; waits for its
    /// socket, looking every `poll` microseconds.
    init(window: String = "60s", maxStacks: Int? = nil, extra: String = "", environment: [String: String]? = nil,
         poll: UInt32 = 50_000, function: String = #function) throws {
        directory = Support.temporaryDirectory(function)
        socket = directory.appendingPathComponent("flamed.sock").path
        snapshots = directory.appendingPathComponent("snapshots").path
        configPath = directory.appendingPathComponent("flamed.toml").path
        logPath = directory.appendingPathComponent("daemon.log").path
        let config = """
            [sampling]
            frequency = 199
            [window]
            duration = "\(window)"
            \(maxStacks.map { "max_stacks = \($0)" } ?? "")
            [snapshot]
            directory = "\(snapshots)"
            interval = "off"
            formats = ["json", "html"]
            keep = 5
            [control]
            socket = "\(socket)"
            \(extra)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        pid = try #require(Support.spawn([Support.flamedBinary, "run", "--config", configPath], stdout: "/dev/null", stderr: logPath,
                                          environment: environment))
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) {
            if let status = Support.wait(pid, timeout: 0) {
                exited = status
                Issue.record("the daemon exited with \(status) before listening: \(log)")
                return
            }
            try #require(Date() < deadline, "the daemon did not create its socket within 10 s: \(log)")
            usleep(poll)
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Sends SIGTERM and returns the exit status and how long the exit took.
    func stop() -> (status: Int32?, seconds: Double) {
        let start = Date()
        kill(pid, SIGTERM)
        let status = Support.wait(pid, timeout: 5)
        exited = status
        return (status, Date().timeIntervalSince(start))
    }

    /// Snapshot files written so far.
    func snapshotFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? []).sorted()
    }

    /// Runs a client command against this daemon; a failure records the daemon's log.
    func flamed(_ arguments: [String]) -> Support.Result {
        let result = Support.flamed(arguments + ["--socket", socket], cwd: directory)
        if result.status != 0 {
            let alive = kill(pid, 0) == 0
            Issue.record("flamed \(arguments.joined(separator: " ")) failed (\(result.stderr)); daemon \(alive ? "alive" : "gone"); its log: \(log.suffix(3000))")
        }
        return result
    }

    deinit {
        if exited == nil && pid > 0 {
            kill(pid, SIGKILL)
            _ = Support.wait(pid, timeout: 5)
        }
    }
}

/// The daemon as systemd and users drive it: signals, the control socket, the rolling
/// window, memory caps, storms, access control and config errors.
@Suite(.serialized, .requires(.perf))
struct DaemonTests {
    static func workload(in directory: URL) throws -> String {
        try Support.buildWorkload(in: directory, named: "record_workload")
    }

    /// Starts `workload SECONDS` in the background under another name (a copy of the binary).
    static func startWorkload(_ workload: String, named name: String, seconds: Double, in directory: URL) throws -> pid_t {
        let copy = directory.appendingPathComponent(name).path
        if !FileManager.default.fileExists(atPath: copy) { try FileManager.default.copyItem(atPath: workload, toPath: copy) }
        return try #require(Support.spawn([copy, String(seconds)], stdout: "/dev/null", stderr: "/dev/null"))
    }

    static func jsonPaths(_ path: String) throws -> [String: Int] {
        try Support.paths(ofJSON: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("SIGUSR1 writes a complete snapshot with the running workload within 2 s; snapshot and status answer; SIGTERM exits 0 within 2 s; READY and STOPPING reach NOTIFY_SOCKET")
    func signalsAndRequests() throws {
        let directory = Support.temporaryDirectory()
        let notifyLog = directory.appendingPathComponent("notify.log").path
        let notifySocket = directory.appendingPathComponent("notify.sock").path
        let listener = try #require(Support.spawn(["/usr/bin/python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
            with open(sys.argv[2], "a") as log:
                while True:
                    log.write(s.recv(4096).decode() + "\\n"); log.flush()
            """, notifySocket, notifyLog], stdout: "/dev/null", stderr: "/dev/null"))
        defer { kill(listener, SIGKILL); _ = Support.wait(listener, timeout: 2) }
        while !FileManager.default.fileExists(atPath: notifySocket) { usleep(20_000) }
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notifySocket
        let daemon = try DaemonUnderTest(environment: environment)
        let workload = try Self.workload(in: daemon.directory)
        let worker = try Self.startWorkload(workload, named: "busy_worker", seconds: 6, in: daemon.directory)
        defer { kill(worker, SIGKILL); _ = Support.wait(worker, timeout: 2) }
        sleep(2)

        daemon.signal(SIGUSR1)
        let asked = Date()
        var files: [String] = []
        while Date().timeIntervalSince(asked) < 2 {
            files = daemon.snapshotFiles().filter { $0.hasSuffix(".json") }
            if !files.isEmpty { break }
            usleep(50_000)
        }
        #expect(!files.isEmpty, "no snapshot within 2 s of SIGUSR1: \(daemon.log)")
        if let file = files.first {
            #expect(file.hasPrefix("flamed-") && file.contains("T") && file.hasSuffix("Z.json"), "flamed-<host>-<UTC timestamp>.json: \(file)")
            let paths = try Self.jsonPaths(daemon.snapshots + "/" + file)
            #expect(paths.keys.contains { $0.hasPrefix("busy_worker (\(worker));") && $0.contains(";main;rec_outer;rec_inner_a") },
                    "the running workload's stack is in the snapshot")
        }

        let json = daemon.flamed(["snapshot", "-o", "now.json"])
        #expect(json.status == 0, "\(json.stderr)")
        let paths = try Self.jsonPaths(daemon.directory.appendingPathComponent("now.json").path)
        #expect(paths.keys.contains { $0.hasPrefix("busy_worker (") && $0.contains("rec_inner_a") })
        let html = daemon.flamed(["snapshot", "-o", "now.html", "--window", "1s"])
        #expect(html.status == 0, "\(html.stderr)")
        let page = String(decoding: (try? Data(contentsOf: daemon.directory.appendingPathComponent("now.html"))) ?? Data(), as: UTF8.self)
        #expect(page.contains("</html>") && page.contains("busy_worker"))
        #expect(page.contains("window") && page.contains("throttled"), "the context header has the window and counts")
        let filtered = daemon.flamed(["snapshot", "-f", "folded", "-o", "-", "--comm", "busy_worker"])
        let lines = String(decoding: filtered.stdout, as: UTF8.self).split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("busy_worker (") }, "--comm keeps one process")

        let status = daemon.flamed(["status"])
        #expect(status.status == 0)
        for key in ["uptime:", "cpus:", "event: cpu-clock", "frequency: 199 Hz", "samples:", "lost:", "tree nodes:", "memory:", "last snapshot: /"] {
            #expect(status.stdoutText.contains(key), "status lacks '\(key)': \(status.stdoutText)")
        }

        let (exit, seconds) = daemon.stop()
        #expect(exit == 0, "SIGTERM exit status \(String(describing: exit)): \(daemon.log)")
        #expect(seconds < 2, "exit took \(seconds) s")
        let notes = (try? String(contentsOfFile: notifyLog, encoding: .utf8)) ?? ""
        #expect(notes.contains("READY=1") && notes.contains("STOPPING=1"), "sd_notify messages: \(notes)")
    }

    @Test("a 4 s window forgets a workload that ended 8 s ago and keeps the current one")
    func windowAgesOut() throws {
        let daemon = try DaemonUnderTest(window: "4s")
        let workload = try Self.workload(in: daemon.directory)
        let early = try Self.startWorkload(workload, named: "early_worker", seconds: 1.5, in: daemon.directory)
        #expect(Support.wait(early, timeout: 10) == 0)
        let stopped = Date()
        var fresh = ""
        for _ in 0..<20 where !fresh.contains("early_worker (") {
            fresh = String(decoding: daemon.flamed(["snapshot", "-f", "folded", "-o", "-"]).stdout, as: UTF8.self)
            usleep(100_000)
        }
        #expect(fresh.contains("early_worker ("), "the early workload is in the window while fresh: \(fresh.prefix(2000))")
        let late = try Self.startWorkload(workload, named: "late_worker", seconds: 12, in: daemon.directory)
        defer { kill(late, SIGKILL); _ = Support.wait(late, timeout: 2) }
        while Date().timeIntervalSince(stopped) < 8 { usleep(100_000) }
        let result = daemon.flamed(["snapshot", "-f", "folded", "-o", "-"])
        #expect(result.status == 0, "\(result.stderr)")
        let text = String(decoding: result.stdout, as: UTF8.self)
        #expect(!text.contains("early_worker ("), "a workload that ended 8 s ago is gone")
        #expect(text.contains("late_worker (") && text.contains("rec_inner_a"), "the current workload is present")
        #expect(daemon.stop().status == 0)
    }

    @Test("a tiny max_stacks folds the rarest stacks into [pruned] and compacts the tree")
    func pruned() throws {
        let daemon = try DaemonUnderTest(window: "30s", maxStacks: 100)
        // Many distinct stacks: short processes of several shapes.
        let load = Support.shell("for i in $(seq 30); do ls -R /usr/lib >/dev/null 2>&1; sha256sum /usr/bin/perf >/dev/null; gzip -c /usr/bin/perf >/dev/null; done")
        #expect(load.status == 0)
        sleep(2)
        let result = daemon.flamed(["snapshot", "-f", "json", "-o", "-"])
        #expect(result.status == 0, "\(result.stderr)")
        let paths = try Support.paths(ofJSON: result.stdout)
        let pruned = paths.filter { $0.key.hasSuffix("[pruned]") }
        #expect(!pruned.isEmpty, "rare stacks fold into [pruned]: \(paths.count) stacks")
        #expect(paths.count - pruned.count <= 100 + 20, "about max_stacks whole stacks remain: \(paths.count - pruned.count)")
        let status = daemon.flamed(["status"]).stdoutText
        #expect(status.contains("compactions:") && !status.contains("compactions: 0"), "\(status)")
        #expect(daemon.stop().status == 0)
    }

    @Test("a storm of 200 SIGUSR1 in about a second: the daemon lives, every file is complete, retention holds")
    func storm() throws {
        let daemon = try DaemonUnderTest()
        sleep(1)
        for _ in 0..<200 {
            daemon.signal(SIGUSR1)
            usleep(5_000)
        }
        sleep(2)
        #expect(kill(daemon.pid, 0) == 0, "the daemon survived: \(daemon.log)")
        let files = daemon.snapshotFiles()
        let stamps = Set(files.map { $0.split(separator: ".").dropLast().joined(separator: ".") })
        #expect(!files.isEmpty && stamps.count <= 5, "keep = 5 snapshots, found \(stamps.count): \(files)")
        #expect(files.allSatisfy { !$0.hasPrefix(".") }, "no temporary files left: \(files)")
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: daemon.snapshots + "/" + file))
            if file.hasSuffix(".json") {
                #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "\(file) is complete JSON")
            } else {
                #expect(String(decoding: data, as: UTF8.self).hasSuffix("</html>\n"), "\(file) is a complete page")
            }
        }
        #expect(daemon.flamed(["status"]).status == 0)
        #expect(daemon.stop().status == 0)
    }

    @Test("SIGHUP reloads: new sampling settings restart sampling, a bad file is logged and the old config kept")
    func reload() throws {
        let daemon = try DaemonUnderTest()
        let original = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try original.replacingOccurrences(of: "frequency = 199", with: "frequency = 49").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        var status = ""
        for _ in 0..<40 where !status.contains("frequency: 49 Hz") {
            usleep(100_000)
            status = daemon.flamed(["status"]).stdoutText
        }
        #expect(status.contains("frequency: 49 Hz"), "sampling restarted at the new rate: \(status)")
        try (original + "\n[bogus]\nx = 1\n").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        sleep(1)
        #expect(kill(daemon.pid, 0) == 0, "a bad reload does not stop the daemon")
        #expect(daemon.log.contains("bogus"), "the bad reload is logged with the table's name: \(daemon.log)")
        #expect(daemon.flamed(["status"]).stdoutText.contains("frequency: 49 Hz"), "the previous config stays")
        #expect(daemon.stop().status == 0)
    }

    @Test("SIGHUP and SIGUSR1 sent the moment the socket exists are handled, not fatal")
    func earlySignals() throws {
        for attempt in 0..<5 {
            let daemon = try DaemonUnderTest(poll: 200, function: "earlySignals\(attempt)")
            daemon.signal(SIGHUP)
            daemon.signal(SIGUSR1)
            var snapshots: [String] = []
            for _ in 0..<50 where snapshots.isEmpty || !daemon.log.contains("config reloaded") {
                usleep(100_000)
                snapshots = daemon.snapshotFiles()
            }
            #expect(kill(daemon.pid, 0) == 0, "attempt \(attempt): the daemon survived an early SIGHUP: \(daemon.log)")
            #expect(daemon.log.contains("config reloaded"), "attempt \(attempt): the early SIGHUP reloaded the config: \(daemon.log)")
            #expect(!snapshots.isEmpty, "attempt \(attempt): the early SIGUSR1 wrote a snapshot: \(daemon.log)")
            #expect(daemon.stop().status == 0)
        }
    }

    @Test("an unprivileged client gets nothing; no daemon gives a clear error")
    func access() throws {
        try #require(geteuid() == 0, "needs root to switch to an unprivileged user (setpriv)")
        let daemon = try DaemonUnderTest()
        chmod(daemon.directory.path, 0o755)
        let binary = daemon.directory.appendingPathComponent("flamed-client").path
        try FileManager.default.copyItem(atPath: Support.flamedBinary, toPath: binary)
        chmod(binary, 0o755)
        let output = "/tmp/flamed-unprivileged-\(getpid()).json"
        let result = Support.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  binary, "snapshot", "--socket", daemon.socket, "-o", output])
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("permission denied"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        let mode = try FileManager.default.attributesOfItem(atPath: daemon.socket)[.posixPermissions] as? Int
        #expect(mode == 0o660, "socket mode \(String(describing: mode))")
        #expect(daemon.stop().status == 0)

        let missing = Support.flamed(["status", "--socket", "/tmp/flamed-no-such-\(getpid()).sock"])
        #expect(missing.status == 1 && missing.stderr.contains("no flamed daemon is listening") && missing.stderr.contains("flamed run"),
                "\(missing.stderr)")
    }

    @Test("a bad value or an unknown key in the config is refused by name, and the daemon does not start")
    func badConfig() throws {
        let directory = Support.temporaryDirectory()
        let cases = [
            ("[sampling]\nfrequncy = 99\n", "frequncy"),
            ("[window]\nmax_stacks = \"lots\"\n", "max_stacks"),
            ("[snapshot]\nformats = [\"pdf\"]\n", "formats"),
            ("[window]\nduration = \"5 minutes\"\n", "duration"),
        ]
        for (index, (text, key)) in cases.enumerated() {
            let path = directory.appendingPathComponent("bad\(index).toml").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let result = Support.flamed(["run", "--config", path, "--socket", directory.appendingPathComponent("s\(index).sock").path])
            #expect(result.status == 1, "\(text): exit \(result.status)")
            #expect(result.stderr.contains(key) && result.stderr.contains("bad\(index).toml:2"), "names the key and line: \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        }
    }
}
