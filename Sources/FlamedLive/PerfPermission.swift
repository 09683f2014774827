import FlamedSystem
import SystemPackage

/// One-line diagnoses of perf_event_open and ring-buffer mmap refusals: the cause and the fix.
public enum PerfPermission {
    /// One line explaining why perf_event_open failed with `errno` (EACCES or EPERM), for a
    /// request that is system-wide or not and includes kernel frames or not.
    ///
    /// When the privileges allow the request, the refusal comes from outside the paranoid
    /// check: a seccomp filter (a container's default profile answers EPERM), or else a
    /// security module or ptrace rules.
    public static func explainOpenFailure(
        _ errno: Errno, systemWide: Bool, includesKernel: Bool, privileges: PerfPrivileges
    ) -> String {
        let head = "perf_event_open: permission denied (\(name(errno))): "
        let needed = systemWide ? 0 : includesKernel ? 1 : 2
        let allowed = systemWide ? privileges.canProfileSystemWide
            : includesKernel ? privileges.canProfileKernel : privileges.canProfileOwnProcesses
        let paranoid = privileges.paranoid.map { "kernel.perf_event_paranoid is \($0)" }
            ?? "kernel.perf_event_paranoid is unreadable"
        let permit = privileges.hasPerfmon
            ? "flamed has \(privileges.capabilities.contains(.perfmon) ? "CAP_PERFMON" : "CAP_SYS_ADMIN")"
            : paranoid

        if allowed && (privileges.seccompMode == 2 || errno == .notPermitted) {
            return head + "a seccomp filter (a container's security profile) blocks perf_event_open: "
                + "\(permit), which allows this request; fix: run with a seccomp profile that allows "
                + "perf_event_open (`docker run --security-opt seccomp=unconfined`, or add perf_event_open "
                + "to the profile) and CAP_PERFMON (`--cap-add PERFMON`)"
        }
        if allowed {
            return head + "\(permit), which allows this request, so a security module (SELinux, AppArmor) or, "
                + "for another user's process, ptrace access rules (kernel.yama.ptrace_scope) refused it; "
                + "fix: profile your own processes, run as root, or look for a denial in the audit log"
        }
        let who = privileges.isRoot ? "flamed runs as root without CAP_PERFMON (a container or a "
            + "capability-bounded service dropped it)" : "flamed lacks CAP_PERFMON"
        let grant = privileges.isRoot ? "grant CAP_PERFMON (`docker run --cap-add PERFMON`)"
            : "run as root, or `setcap cap_perfmon,cap_syslog+ep $(command -v flamed)` "
                + "(CAP_SYSLOG to read kernel addresses in /proc/kallsyms)"
        let container = privileges.seccompMode == 2 ? "; a container's seccomp profile must also allow perf_event_open" : ""
        return head + "\(paranoid) and \(who); \(levelMeaning(privileges.paranoid)), and this "
            + "\(requestName(systemWide: systemWide, includesKernel: includesKernel)) needs \(needed) or lower; "
            + "fix: \(grant), or `sysctl kernel.perf_event_paranoid=\(needed)`\(container)"
    }

    /// One line for a failed ring-buffer mmap (EPERM, or ENOMEM): the locked-memory limit.
    ///
    /// The kernel lets each user lock kernel.perf_event_mlock_kb per online CPU for perf ring
    /// buffers (each CPU's buffer is `pages` data pages plus one header page), charging the
    /// excess to RLIMIT_MEMLOCK.
    public static func explainMmapFailure(
        _ errno: Errno, pages: Int, pageSize: Int, cpus: Int, privileges: PerfPrivileges
    ) -> String {
        let pageKiB = max(pageSize / 1024, 1)
        var line = "mmap of the ring buffer (\(pages) pages of \(pageKiB) KiB on each of \(cpus) CPUs) "
            + "failed (\(name(errno))): over the locked-memory limit "
        if let limit = privileges.mlockKiB {
            line += "kernel.perf_event_mlock_kb = \(limit) KiB per CPU; use -m with fewer pages (a power of two"
            let fitting = largestFittingPages(limitKiB: limit, pageKiB: pageKiB)
            line += fitting > 0 ? ", at most \(fitting) here)" : ")"
        } else {
            line += "kernel.perf_event_mlock_kb (unreadable) per CPU; use -m with fewer pages (a power of two)"
        }
        return line + " or raise kernel.perf_event_mlock_kb; root (CAP_IPC_LOCK) is exempt"
    }

    /// The largest power-of-two data-page count whose buffer, with its header page, fits the limit.
    static func largestFittingPages(limitKiB: Int, pageKiB: Int) -> Int {
        var pages = 0
        while (max(pages * 2, 1) + 1) * pageKiB <= limitKiB { pages = max(pages * 2, 1) }
        return pages
    }

    private static func name(_ errno: Errno) -> String {
        switch errno {
        case .permissionDenied: "EACCES"
        case .notPermitted: "EPERM"
        case .noMemory: "ENOMEM"
        default: "errno \(errno.rawValue)"
        }
    }

    private static func requestName(systemWide: Bool, includesKernel: Bool) -> String {
        switch (systemWide, includesKernel) {
        case (true, _): "system-wide request"
        case (false, true): "request with kernel frames"
        case (false, false): "user-space request"
        }
    }

    private static func levelMeaning(_ paranoid: Int?) -> String {
        guard let level = paranoid else { return "the kernel's default, level 2, allows only user-space profiling of your own processes" }
        switch level {
        case 3...: return "level \(level) (a Debian patch) allows no unprivileged use"
        case 2: return "level 2 allows only user-space profiling of your own processes"
        case 1: return "level 1 allows user and kernel profiling of your own processes"
        case 0: return "level 0 adds system-wide profiling"
        default: return "level \(level) allows everything"
        }
    }
}
