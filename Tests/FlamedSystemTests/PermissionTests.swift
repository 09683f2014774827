#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import FlamedTestSupport
import SystemPackage
import Testing
@testable import FlamedSystem

@Suite struct PermissionTests {
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

    @Test func privilegeRules() {
        #expect(!Self.unprivileged.canProfileSystemWide)
        #expect(!Self.unprivileged.canProfileKernel)
        #expect(Self.withPerfmon.canProfileSystemWide)
        var levelMinusOne = Self.unprivileged
        levelMinusOne.paranoid = -1
        #expect(levelMinusOne.canProfileSystemWide && levelMinusOne.canProfileKernel)
        var levelOne = Self.unprivileged
        levelOne.paranoid = 1
        #expect(levelOne.canProfileKernel && !levelOne.canProfileSystemWide)
        var admin = Self.unprivileged
        admin.capabilities = [.sysAdmin]
        #expect(admin.canProfileSystemWide)
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

    @Test func capabilityNumbersMatchTheShim() {
        #expect(Capability.perfmon.rawValue == FLAMED_CAP_PERFMON)
        #expect(Capability.sysAdmin.rawValue == FLAMED_CAP_SYS_ADMIN)
        #expect(Capability.syslog.rawValue == FLAMED_CAP_SYSLOG)
        #expect(Capability.sysPtrace.rawValue == FLAMED_CAP_SYS_PTRACE)
        #expect(Capability.dacReadSearch.rawValue == FLAMED_CAP_DAC_READ_SEARCH)
        #expect(Capability.allCases.allSatisfy { $0.name.hasPrefix("CAP_") && !$0.purpose.contains("\n") })
    }

    @Test func currentPrivilegesOfThisProcess() throws {
        let privileges = PerfPrivileges.current()
        let file = try FileReader.map(path: "/proc/sys/kernel/perf_event_paranoid").get()
        let text = try #require(file.string(0, file.count))
        #expect(privileges.paranoid == Int(text.filter { !$0.isWhitespace }))
        #expect(privileges.mlockKiB != nil)
        #expect(privileges.seccompMode != nil)
        #expect(privileges.isRoot == (geteuid() == 0))
        #expect(privileges.capabilities == Capabilities.effective())
    }

    @Test(.requires(.root))
    func rootHoldsPerfmonAndSysAdmin() {
        #expect(Capabilities.effective().isSuperset(of: [.perfmon, .sysAdmin]))
        #expect(PerfPrivileges.current().canProfileSystemWide)
    }

    /// Capabilities belong to a thread, so the drop runs on a thread of its own and leaves
    /// the rest of the test process untouched.
    @Test(.requires(.root))
    func dropAllKeepsOnlyTheListed() {
        final class Outcome { var result: Result<Void, Errno>?; var after: Set<Capability> = [] }
        let outcome = Outcome()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { argument in
            let outcome = Unmanaged<Outcome>.fromOpaque(argument!).takeUnretainedValue()
            outcome.result = Capabilities.dropAll(except: [.perfmon, .syslog])
            outcome.after = Capabilities.effective()
            return nil
        }, Unmanaged.passUnretained(outcome).toOpaque())
        #expect(started == 0)
        pthread_join(thread, nil)
        #expect(outcome.result.map { (try? $0.get()) != nil } == true)
        #expect(outcome.after == [.perfmon, .syslog])
        #expect(Capabilities.effective().isSuperset(of: [.perfmon, .sysAdmin]))
    }
}
