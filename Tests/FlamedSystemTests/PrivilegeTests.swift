#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import FlamedTestSupport
import SystemPackage
import Testing
@testable import FlamedSystem

/// Privileges, capabilities and their rules.
@Suite struct PrivilegeTests {
    static let unprivileged = PerfPrivileges(
        paranoid: 2, mlockKiB: 516, capabilities: [], seccompMode: 0, isRoot: false)
    static let withPerfmon = PerfPrivileges(
        paranoid: 2, mlockKiB: 516, capabilities: [.perfmon, .syslog], seccompMode: 2, isRoot: false)

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
