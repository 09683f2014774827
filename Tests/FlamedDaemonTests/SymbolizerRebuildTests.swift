import FlamedSystem
import FlamedTestSupport
import Foundation
import Logging
import Testing
@testable import FlamedDaemon

/// The daemon rebuilds its symbol caches when they pass their caps; on a machine with more
/// processes than a cap, the reseed from /proc after a rebuild must not itself trigger the
/// next one.
struct SymbolizerRebuildTests {
    @Test(.requires(.root, .python3), .timeLimit(.minutes(3)))
    func reseedOverTheCapDoesNotRebuildEveryPass() throws {
        let directory = Support.temporaryDirectory()
        let ready = directory.appendingPathComponent("ready").path
        // 600 processes that sleep: more than the 400 address spaces this test's caps allow.
        let script = """
        import os, signal, sys, time
        children = []
        for _ in range(600):
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                time.sleep(600)
                os._exit(0)
            children.append(pid)
        open(sys.argv[1], "w").close()
        def stop(*_):
            for child in children:
                try: os.kill(child, signal.SIGKILL)
                except OSError: pass
            os._exit(0)
        signal.signal(signal.SIGTERM, stop)
        time.sleep(600)
        stop()
        """
        let scriptPath = directory.appendingPathComponent("hold.py").path
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        guard let holder = Support.spawn([Requirement.executable("python3")!, scriptPath, ready],
                                         stdout: directory.appendingPathComponent("out").path,
                                         stderr: directory.appendingPathComponent("err").path) else {
            Issue.record("cannot start python3")
            return
        }
        defer {
            kill(holder, SIGTERM)
            _ = Support.wait(holder, timeout: 30)
        }
        let deadline = Date().addingTimeInterval(90)
        while !FileManager.default.fileExists(atPath: ready) && Date() < deadline { usleep(100_000) }
        #expect(FileManager.default.fileExists(atPath: ready), "the 600 processes did not start")

        let caps = DaemonState.defaultSymbolizerCaps
        let state = DaemonState(config: DaemonConfig(), symbolizerCaps: (spaces: 400, threads: caps.threads, binaries: caps.binaries, frames: caps.frames),
                                logger: Logger(label: "test"))
        state.seedFromProc()
        let second: UInt64 = 1_000_000_000
        for pass in 1...4 { state.maintain(now: UInt64(pass) * 30 * second) }
        let status = state.statusText()
        let line = status.split(separator: "\n").first { $0.hasPrefix("symbol caches:") }.map(String.init) ?? ""
        let processes = Int(line.split(separator: " ").dropFirst(2).first ?? "") ?? 0
        #expect(processes > 400, "\(line)")
        #expect(line.hasSuffix(" 1 rebuilds"), "\(line)")
    }
}
