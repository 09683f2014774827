#if canImport(Glibc)
import Glibc
#endif

/// This process: its user, working directory, limits and exit.
public enum CurrentProcess {
    /// Whether the effective user is root.
    public static var isRoot: Bool { geteuid() == 0 }

    /// The value of environment variable `name`, if set.
    public static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// This process's id.
    public static var id: Int32 { getpid() }

    /// Asks process `pid` (a child this process started) to terminate (SIGTERM).
    public static func terminate(_ pid: Int32) { kill(pid, SIGTERM) }

    /// Now, UTC, in `strftime`'s `pattern`.
    public static func utcNow(pattern: String) -> String { UTCTime.format(time(nil), pattern: pattern) }

    /// The working directory, for relative paths given on the command line ("." when it
    /// cannot be had).
    public static var workingDirectory: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Raises the soft open-file limit to the hard limit.
    public static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Ends the process at once with `status`, without tearing anything down.
    public static func exitNow(_ status: Int32) -> Never { exit(status) }
}

/// The numbers of the signals flamed handles, for callers that catch or block them.
public enum SignalNumber {
    public static let interrupt = SIGINT
    public static let terminate = SIGTERM
    public static let child = SIGCHLD
    public static let hangup = SIGHUP
    public static let user1 = SIGUSR1
}
