import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for tests that drive real processes and the flamed binary: where the package and
/// the built binary are, and running commands with their output captured.
public enum Support {
    /// The package root (three levels above this file).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The flamed binary built next to the test bundle.
    public static let flamedBinary: String = {
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

    public struct Result {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs a command to completion, capturing its output in temporary files.
    ///
    /// Commands are started with posix_spawn, an empty signal mask and default signal
    /// actions: test threads (libdispatch workers) block SIGCHLD, and a perf that inherits
    /// that mask never notices its workload exit.
    @discardableResult
    public static func run(_ command: [String], cwd: URL? = nil, stdin: URL? = nil, environment: [String: String]? = nil) -> Result {
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
    public static func spawn(_ arguments: [String], stdin: String = "/dev/null", stdout: String, stderr: String,
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
    public static func wait(_ pid: pid_t, timeout: Double) -> Int32? {
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
    public static func shell(_ command: String, cwd: URL? = nil) -> Result {
        run(["/bin/bash", "-c", command], cwd: cwd)
    }

    /// Runs a bash command line in `directory` with `set -euo pipefail` and returns its
    /// standard output; throws (failing the test) when it exits with an error.
    @discardableResult
    public static func checkedShell(_ command: String, in directory: URL) throws -> String {
        let result = shell("set -euo pipefail; " + command, cwd: directory)
        guard result.status == 0 else { throw CommandFailed(command: command, status: result.status, stderr: result.stderr) }
        return result.stdoutText
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ name: String = #function) -> URL {
        let clean = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flamed-test-\(clean)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A command run by `Support.checkedShell` that exited with an error.
public struct CommandFailed: Error, CustomStringConvertible {
    public let command: String
    public let status: Int32
    public let stderr: String
    public var description: String { "\(command) failed (exit \(status)): \(stderr)" }
}
