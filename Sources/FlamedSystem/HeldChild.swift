#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// A child process forked and held before exec, so perf events can be attached to it
/// first; `release()` lets it exec.
public struct HeldChild: ~Copyable {
    public let pid: Int32
    private let releaseFD: Int32
    private let errorFD: Int32

    /// Forks a held child that will run `arguments` (`arguments[0]` is looked up in PATH).
    public static func spawn(_ arguments: [String]) -> Result<HeldChild, FileError> {
        guard let command = arguments.first else { return .failure(FileError(path: "", reason: "no command given")) }
        guard let path = resolve(command) else {
            return .failure(FileError(path: command, reason: "command not found (not an executable file, nor in PATH)", errno: .noSuchFileOrDirectory))
        }
        var releasePipe: [Int32] = [0, 0], errorPipe: [Int32] = [0, 0]
        guard makePipe(&releasePipe) else { return .failure(failure(command)) }
        guard makePipe(&errorPipe) else {
            close(releasePipe[0]); close(releasePipe[1])
            return .failure(failure(command))
        }
        var cArguments = arguments.map { strdup($0) } + [nil]
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var entry = Glibc.environ
        while let variable = entry.pointee {
            environment.append(variable)
            entry += 1
        }
        environment.append(nil)
        let pid = flamed_shim_spawn_held(path, &cArguments, &environment, releasePipe[0], errorPipe[1])
        for argument in cArguments { free(argument) }
        close(releasePipe[0])
        close(errorPipe[1])
        guard pid > 0 else {
            let error = failure(command)
            close(releasePipe[1]); close(errorPipe[0])
            return .failure(error)
        }
        return .success(HeldChild(pid: pid, releaseFD: releasePipe[1], errorFD: errorPipe[0]))
    }

    private init(pid: Int32, releaseFD: Int32, errorFD: Int32) {
        self.pid = pid
        self.releaseFD = releaseFD
        self.errorFD = errorFD
    }

    deinit {
        close(releaseFD)
        close(errorFD)
    }

    /// Lets the child exec; returns the exec's errno if it failed.
    public func release() -> Errno? {
        var go: UInt8 = 1
        _ = write(releaseFD, &go, 1)
        var code: Int32 = 0
        let got = retryingEINTR({ read(errorFD, &code, MemoryLayout<Int32>.size) }, failed: { $0 < 0 })
        if case .success(let count) = got, count == MemoryLayout<Int32>.size { return Errno(rawValue: code) }
        return nil
    }

    /// Kills a child that will not be released and reaps it.
    public func abandon() {
        kill(pid, SIGKILL)
        _ = ChildStatus.wait(pid: pid, blocking: true)
    }

    private static func failure(_ command: String) -> FileError {
        let code = Errno(rawValue: Glibc.errno)
        return FileError(path: command, reason: "cannot start: \(FileReader.describe(code))", errno: code)
    }

    /// `command` itself when it contains a slash, else the first executable of that name in PATH.
    static func resolve(_ command: String) -> String? {
        if command.contains("/") { return access(command, X_OK) == 0 ? command : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory.isEmpty ? "." : String(directory))/\(command)"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// How a child process ended.
public enum ChildStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    /// The shell's view of the status: the exit code, or 128 + the signal.
    public var shellCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    /// Reaps `pid` if it has ended (or waits for it when `blocking`).
    public static func wait(pid: Int32, blocking: Bool) -> ChildStatus? {
        var status: Int32 = 0
        let reaped = retryingEINTR({ waitpid(pid, &status, blocking ? 0 : WNOHANG) }, failed: { $0 < 0 })
        guard case .success(let reapedPID) = reaped, reapedPID == pid else { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }
}
