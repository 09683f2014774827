#if canImport(Glibc)
import Glibc
#endif
import ProcText
import SystemPackage

/// What the kernel's perf settings and this process's privileges allow.
public struct PerfPrivileges: Sendable, Equatable {
    /// kernel.perf_event_paranoid (/proc/sys/kernel/perf_event_paranoid); nil if unreadable.
    public var paranoid: Int?
    /// kernel.perf_event_mlock_kb, the ring-buffer memory each CPU may lock; nil if unreadable.
    public var mlockKiB: Int?
    /// The capabilities flamed cares about that are in the effective set.
    public var capabilities: Set<Capability>
    /// The "Seccomp:" line of /proc/self/status: 0 none, 1 strict, 2 filter; nil if absent.
    public var seccompMode: Int?
    /// Whether the effective user is root.
    public var isRoot: Bool

    public init(paranoid: Int?, mlockKiB: Int?, capabilities: Set<Capability>, seccompMode: Int?, isRoot: Bool) {
        self.paranoid = paranoid
        self.mlockKiB = mlockKiB
        self.capabilities = capabilities
        self.seccompMode = seccompMode
        self.isRoot = isRoot
    }

    /// This process's privileges, from /proc and libcap.
    public static func current() -> PerfPrivileges {
        PerfPrivileges(
            paranoid: text("/proc/sys/kernel/perf_event_paranoid").flatMap(ProcText.setting),
            mlockKiB: text("/proc/sys/kernel/perf_event_mlock_kb").flatMap(ProcText.setting),
            capabilities: Capabilities.effective(),
            seccompMode: text("/proc/self/status").flatMap { ProcText.seccompMode(status: $0) },
            isRoot: geteuid() == 0
        )
    }

    /// Whether CAP_PERFMON or CAP_SYS_ADMIN (its stand-in before Linux 5.8) lifts the paranoid checks.
    public var hasPerfmon: Bool { capabilities.contains(.perfmon) || capabilities.contains(.sysAdmin) }

    /// Whether per-CPU events on every process are allowed: CAP_PERFMON or paranoid 0 or -1.
    public var canProfileSystemWide: Bool { hasPerfmon || paranoid.map { $0 <= 0 } == true }

    /// Whether samples may include kernel frames: CAP_PERFMON or paranoid 1 or lower.
    public var canProfileKernel: Bool { hasPerfmon || paranoid.map { $0 <= 1 } == true }

    /// Whether user-space profiling of this user's own processes is allowed: CAP_PERFMON or
    /// paranoid 2 or lower (Debian's level 3 forbids all unprivileged use).
    public var canProfileOwnProcesses: Bool { hasPerfmon || paranoid.map { $0 <= 2 } == true }

    private static func text(_ path: String) -> String? {
        guard case .success(let view) = FileReader.map(path: path) else { return nil }
        return view.string(0, view.count)
    }
}
