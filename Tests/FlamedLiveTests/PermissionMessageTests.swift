import SystemPackage
import Testing
@testable import FlamedLive
import FlamedSystem

/// The one-line messages that name why the kernel refused a perf event or its ring, and the fix.
@Suite struct PermissionMessageTests {
    static let unprivileged = PerfPrivileges(
        paranoid: 2, mlockKiB: 516, capabilities: [], seccompMode: 0, isRoot: false)
    static let withPerfmon = PerfPrivileges(
        paranoid: 2, mlockKiB: 516, capabilities: [.perfmon, .syslog], seccompMode: 2, isRoot: false)

    @Test func paranoidTwoWithoutCapabilitiesRefusesSystemWide() {
        let line = PerfPermission.explainOpenFailure(
            .permissionDenied, systemWide: true, includesKernel: true, privileges: Self.unprivileged)
        #expect(line.hasPrefix("perf_event_open: permission denied (EACCES): "))
        #expect(line.contains("perf_event_paranoid is 2"))
        #expect(line.contains("CAP_PERFMON"))
        #expect(line.contains("setcap cap_perfmon,cap_syslog+ep"))
        #expect(line.contains("sysctl kernel.perf_event_paranoid=0") || line.contains("sysctl kernel.perf_event_paranoid=-1"))
        #expect(!line.contains("seccomp"))
        #expect(!line.contains("\n"))
    }

    @Test func kernelFramesNeedLevelOne() {
        let line = PerfPermission.explainOpenFailure(
            .permissionDenied, systemWide: false, includesKernel: true, privileges: Self.unprivileged)
        #expect(line.contains("sysctl kernel.perf_event_paranoid=1"))
        #expect(line.contains("level 2 allows only user-space profiling of your own processes"))
    }

    @Test func debianLevelThreeRefusesEverything() {
        var privileges = Self.unprivileged
        privileges.paranoid = 3
        let line = PerfPermission.explainOpenFailure(
            .permissionDenied, systemWide: false, includesKernel: false, privileges: privileges)
        #expect(line.contains("perf_event_paranoid is 3"))
        #expect(line.contains("no unprivileged use"))
        #expect(line.contains("sysctl kernel.perf_event_paranoid=2"))
    }

    @Test func capabilitiesPresentMeansSeccomp() {
        let line = PerfPermission.explainOpenFailure(
            .permissionDenied, systemWide: true, includesKernel: true, privileges: Self.withPerfmon)
        #expect(line.contains("seccomp"))
        #expect(line.contains("seccomp=unconfined"))
        #expect(line.contains("flamed has CAP_PERFMON"))
        #expect(!line.contains("lacks"))
        #expect(!line.contains("\n"))
    }

    @Test func epermDespitePermissiveParanoidMeansSeccomp() {
        var privileges = Self.unprivileged
        privileges.paranoid = -1
        privileges.seccompMode = nil
        let line = PerfPermission.explainOpenFailure(
            .notPermitted, systemWide: true, includesKernel: true, privileges: privileges)
        #expect(line.hasPrefix("perf_event_open: permission denied (EPERM): "))
        #expect(line.contains("seccomp"))
        #expect(line.contains("perf_event_paranoid is -1"))
        #expect(!line.contains("\n"))
    }

    @Test func seccompFilterWithoutPrivilegesStillBlamesParanoid() {
        var privileges = Self.unprivileged
        privileges.seccompMode = 2
        let line = PerfPermission.explainOpenFailure(
            .notPermitted, systemWide: true, includesKernel: false, privileges: privileges)
        #expect(line.contains("flamed lacks CAP_PERFMON"))
        #expect(line.contains("seccomp profile must also allow perf_event_open"))
    }

    @Test func rootWithoutCapabilitiesIsAskedToGrantThem() {
        var privileges = Self.unprivileged
        privileges.isRoot = true
        let line = PerfPermission.explainOpenFailure(
            .permissionDenied, systemWide: true, includesKernel: true, privileges: privileges)
        #expect(line.contains("root without CAP_PERFMON"))
        #expect(line.contains("--cap-add PERFMON"))
    }

    @Test func mmapFailureNamesTheLimitAndTheFix() {
        let line = PerfPermission.explainMmapFailure(
            .notPermitted, pages: 1024, pageSize: 4096, cpus: 8, privileges: Self.unprivileged)
        #expect(line.hasPrefix("mmap of the ring buffer (1024 pages of 4 KiB on each of 8 CPUs) failed (EPERM)"))
        #expect(line.contains("-m"))
        #expect(line.contains("perf_event_mlock_kb = 516 KiB per CPU"))
        #expect(line.contains("at most 128"))
        #expect(line.contains("CAP_IPC_LOCK"))
        #expect(!line.contains("\n"))
    }

    @Test func largestFittingPages() {
        #expect(PerfPermission.largestFittingPages(limitKiB: 516, pageKiB: 4) == 128)
        #expect(PerfPermission.largestFittingPages(limitKiB: 512, pageKiB: 4) == 64)
        #expect(PerfPermission.largestFittingPages(limitKiB: 516, pageKiB: 64) == 4)
        #expect(PerfPermission.largestFittingPages(limitKiB: 4, pageKiB: 4) == 0)
    }
}
