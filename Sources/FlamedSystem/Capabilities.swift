#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// Linux capabilities flamed cares about, with their kernel numbers as raw values.
public enum Capability: Int32, CaseIterable, Sendable {
    case perfmon = 38
    case sysAdmin = 21
    case syslog = 34
    case sysPtrace = 19
    case dacReadSearch = 2

    /// The kernel's name, as `setcap` and capabilities(7) spell it: "CAP_PERFMON".
    public var name: String {
        switch self {
        case .perfmon: "CAP_PERFMON"
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .syslog: "CAP_SYSLOG"
        case .sysPtrace: "CAP_SYS_PTRACE"
        case .dacReadSearch: "CAP_DAC_READ_SEARCH"
        }
    }

    /// One line: why flamed would need it.
    public var purpose: String {
        switch self {
        case .perfmon: "open perf events system-wide and with kernel frames whatever kernel.perf_event_paranoid says"
        case .sysAdmin: "the same as CAP_PERFMON on kernels older than 5.8, which lack it"
        case .syslog: "read real kernel addresses in /proc/kallsyms to name kernel frames"
        case .sysPtrace: "read /proc/<pid>/maps of other users' processes to symbolize them"
        case .dacReadSearch: "read binaries and /proc files that other users' permissions hide"
        }
    }
}

/// This process's Linux capabilities, through libcap.
public enum Capabilities {
    /// The capabilities flamed cares about that are in this process's effective set. A
    /// capability that cannot be queried (libcap or the kernel does not know it) counts as absent.
    public static func effective() -> Set<Capability> {
        Set(Capability.allCases.filter { flamed_shim_cap_effective($0.rawValue) == 1 })
    }

    /// Clears every effective, permitted and inheritable capability except those in `keep`,
    /// which stay as they were (a capability not held is not gained).
    public static func dropAll(except keep: Set<Capability>) -> Result<Void, Errno> {
        let numbers = keep.map { CInt($0.rawValue) }
        let result = numbers.withUnsafeBufferPointer {
            flamed_shim_cap_drop_all_except($0.baseAddress, CInt($0.count))
        }
        return result == 0 ? .success(()) : .failure(Errno(rawValue: Glibc.errno))
    }
}
