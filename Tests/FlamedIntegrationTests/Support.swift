import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for tests that drive the real kernel, perf and the flamed binary.
enum Support {
    /// The package root (three levels above this file).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The flamed binary built next to the test bundle.
    static let flamedBinary: String = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("flamed").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            if directory.lastPathComponent.hasSuffix(".xctest") || directory.lastPathComponent == "Contents" {
                directory.deleteLastPathComponent()
                continue
            }
            break
        }
        let fallback = packageRoot.appendingPathComponent(".build/debug/flamed").path
        return fallback
    }()

    /// Why perf-based tests cannot run here, or nil when they can.
    static let perfUnavailableReason: String? = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            return "linux-perf is not installed (the test command installs it)"
        }
        var failure = ""
        for _ in 0..<3 {
            let probe = run(["/usr/bin/perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "/bin/true"])
            if probe.status == 0 { return nil }
            failure = "perf record exited \(probe.status): \(probe.stderr.prefix(200))"
        }
        return "the kernel refused perf_event_open (perf_event_paranoid / CAP_PERFMON): \(failure)"
    }()

    static var perfAvailable: Bool { perfUnavailableReason == nil }

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs a command to completion, capturing its output in temporary files.
    ///
    /// Commands are started with posix_spawn, an empty signal mask and default signal
    /// actions: test threads (libdispatch workers) block SIGCHLD, and a perf that inherits
    /// that mask never notices its workload exit.
    @discardableResult
    static func run(_ command: [String], cwd: URL? = nil, stdin: URL? = nil, environment: [String: String]? = nil) -> Result {
        // glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift; sh changes directory.
        let arguments = cwd.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0.path] + command } ?? command
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("flamed-run-\(UUID().uuidString)")
        let outPath = scratch.path + ".out", errPath = scratch.path + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        guard let pid = spawn(arguments, stdin: stdin?.path ?? "/dev/null", stdout: outPath, stderr: errPath, environment: environment) else {
            return Result(status: -1, stdout: Data(), stderr: "cannot start \(arguments[0]): \(String(cString: strerror(errno)))")
        }
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        let exitCode: Int32 = (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
        let out = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        let err = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
        return Result(status: exitCode, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Starts a command in the background (posix_spawn, empty signal mask, default signal
    /// actions) with its standard streams on the given files; returns its pid.
    static func spawn(_ arguments: [String], stdin: String = "/dev/null", stdout: String, stderr: String,
                      environment: [String: String]? = nil) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let environmentStrings = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let status: Int32 = withCStrings(arguments) { argv in
            withCStrings(environmentStrings) { envp in
                posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
            }
        }
        guard status == 0 else {
            errno = status
            return nil
        }
        return pid
    }

    /// Waits for `pid` up to `timeout` seconds; its shell-style exit status, or nil if it is still running.
    static func wait(_ pid: pid_t, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var waitStatus: Int32 = 0
        while true {
            let result = waitpid(pid, &waitStatus, WNOHANG)
            if result == pid { return (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f) }
            if result < 0 && errno != EINTR { return -1 }
            if Date() > deadline { return nil }
            usleep(20_000)
        }
    }

    /// Runs a shell command line.
    @discardableResult
    static func shell(_ command: String, cwd: URL? = nil) -> Result {
        run(["/bin/bash", "-c", command], cwd: cwd)
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ name: String = #function) -> URL {
        let clean = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flamed-test-\(clean)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Builds a fixture workload (`Fixtures/NAME.c`, the known-tree `workload` by default) with
    /// frame pointers and no tail calls into `directory`.
    static func buildWorkload(in directory: URL, named name: String = "workload") throws -> String {
        let source = packageRoot.appendingPathComponent("Tests/FlamedIntegrationTests/Fixtures/\(name).c").path
        let binary = directory.appendingPathComponent(name).path
        let result = run(["/usr/bin/gcc", "-O0", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls", "-pthread", "-o", binary, source])
        try #require(result.status == 0, "gcc failed: \(result.stderr)")
        return binary
    }

    /// Root-to-leaf paths of a perf-style JSON flame tree (process frame first), with the
    /// samples ending on each.
    static func paths(ofJSON data: Data) throws -> [String: Int] {
        let object = try JSONSerialization.jsonObject(with: data)
        let root = try #require(object as? [String: Any])
        var result: [String: Int] = [:]
        var stack: [([String: Any], [String])] = ((root["c"] as? [[String: Any]]) ?? []).reversed().map { ($0, []) }
        while let (node, prefix) = stack.popLast() {
            let name = node["n"] as? String ?? "?"
            let path = prefix + [name]
            let value = (node["v"] as? NSNumber)?.intValue ?? 0
            if value > 0 { result[path.joined(separator: ";"), default: 0] += value }
            for child in ((node["c"] as? [[String: Any]]) ?? []).reversed() { stack.append((child, path)) }
        }
        return result
    }

    /// The same for folded stacks.
    static func paths(ofFolded text: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let space = try #require(line.lastIndex(of: " "), "folded line without a count: \(line)")
            let count = try #require(Int(line[line.index(after: space)...]), "bad count in \(line)")
            result[String(line[..<space]), default: 0] += count
        }
        return result
    }

    /// The fraction of `reference`'s samples that lie on identical paths in `candidate`.
    ///
    /// With `returnAddressAware`, one known, explained difference is allowed: perf looks a
    /// return address up at the address itself, flamed at address−1 (so a call is charged
    /// to the function that made it). They differ only after a call to a function that
    /// never returns, where the return address is the first byte after the caller; in the
    /// kernel perf then names the next symbol, a `__pfx_` padding symbol that is never
    /// executed. A perf frame named `__pfx_…` therefore matches whatever flamed has at
    /// that position; every other frame must be identical.
    static func agreement(_ candidate: [String: Int], _ reference: [String: Int], returnAddressAware: Bool = false) -> Double {
        let total = reference.values.reduce(0, +)
        guard total > 0 else { return 0 }
        var remaining = candidate
        var same = 0
        for (path, count) in reference {
            let matched = min(count, remaining[path] ?? 0)
            same += matched
            remaining[path, default: 0] -= matched
        }
        guard returnAddressAware else { return Double(same) / Double(total) }
        func pattern(_ path: String) -> [Substring] { path.split(separator: ";", omittingEmptySubsequences: false) }
        for (path, count) in reference where path.contains(";__pfx_") {
            let wanted = pattern(path)
            var left = count - min(count, candidate[path] ?? 0)
            for (other, available) in remaining where available > 0 && left > 0 {
                let frames = pattern(other)
                guard frames.count == wanted.count,
                      zip(frames, wanted).allSatisfy({ $0 == $1 || $1.hasPrefix("__pfx_") }) else { continue }
                let matched = min(left, available)
                remaining[other] = available - matched
                left -= matched
                same += matched
            }
        }
        return Double(same) / Double(total)
    }

    /// The largest differences between two path maps, for failure messages.
    static func differences(_ candidate: [String: Int], _ reference: [String: Int], limit: Int = 8) -> String {
        var keys = Set(candidate.keys).union(reference.keys).filter { candidate[$0] != reference[$0] }.map { $0 }
        keys.sort { abs((candidate[$0] ?? 0) - (reference[$0] ?? 0)) > abs((candidate[$1] ?? 0) - (reference[$1] ?? 0)) }
        return keys.prefix(limit).map { "flamed \(candidate[$0] ?? 0) perf \(reference[$0] ?? 0): \($0.prefix(300))" }.joined(separator: "\n")
    }

    /// perf's own flame graph JSON for `perf.data` in `directory`.
    static func perfFlameGraphJSON(in directory: URL, file: String = "perf.data") throws -> Data {
        if file != "perf.data" {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("perf.data"))
            try FileManager.default.copyItem(at: directory.appendingPathComponent(file), to: directory.appendingPathComponent("perf.data"))
        }
        let result = run(["/usr/bin/perf", "script", "report", "flamegraph", "-f", "json", "-o", "perf-stacks.json"], cwd: directory)
        try #require(result.status == 0, "perf script report flamegraph failed: \(result.stderr)")
        return try Data(contentsOf: directory.appendingPathComponent("perf-stacks.json"))
    }

    /// Runs `flamed` with `arguments`.
    @discardableResult
    static func flamed(_ arguments: [String], cwd: URL? = nil, stdin: URL? = nil) -> Result {
        run([flamedBinary] + arguments, cwd: cwd, stdin: stdin)
    }
}
