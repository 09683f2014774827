import FlamedTestSupport
import FlameGraph
import FlameRender
import FlamedReport
import Foundation
import Logging
import PerfData
import Testing

/// Reports symbolized on two threads (two workers fed by the reading thread, each taking
/// whole processes) against the same reports on one thread, on real system-wide recordings.
@Suite(.serialized, .requires(.perf))
struct ParallelReportTests {
    static func report(_ path: String, threads: Int, configure: (inout ReportOptions) -> Void = { _ in }) throws -> Report {
        var options = ReportOptions(buildIDCache: NSHomeDirectory() + "/.debug")
        options.threads = threads
        configure(&options)
        let reader = try PerfDataReader.open(path: path)
        return try ReportBuilder(options: options, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }).build(reader)
    }

    /// A system-wide recording while two copies of the known-tree workload and a shell loop run.
    static func recordSystem(in directory: URL, pipe: Bool = false) throws -> String {
        let workload = try Support.buildWorkload(in: directory)
        let output = pipe ? "-o - > pipe.data" : "-o perf.data"
        let record = Support.shell(
            "(\(workload) 3 >/dev/null &); (\(workload) 3 >/dev/null &); (for i in $(seq 200); do /bin/true; done &); "
                + "/usr/bin/perf record -q -a -g \(output) -- sleep 2", cwd: directory)
        try #require(record.status == 0, "perf record -a failed: \(record.stderr)")
        return directory.appendingPathComponent(pipe ? "pipe.data" : "perf.data").path
    }

    @Test("two threads give byte-identical JSON, folded and HTML output, processes in first-seen order")
    func sameOutput() throws {
        let directory = Support.temporaryDirectory()
        let path = try Self.recordSystem(in: directory)
        let one = try Self.report(path, threads: 1)
        let two = try Self.report(path, threads: 2)
        #expect(one.samplesPerThread.count == 1)
        try #require(two.samplesPerThread.count == 2)
        #expect(two.samplesPerThread.allSatisfy { $0 > 100 }, "both threads took samples: \(two.samplesPerThread)")
        #expect(two.samplesPerThread.reduce(0, +) == one.samplesPerThread[0])
        #expect(one.context.samples > 1000)
        let oneJSON = JSONRenderer.render(one.tree), twoJSON = JSONRenderer.render(two.tree)
        let twoPaths = try Support.paths(ofJSON: Data(twoJSON)), onePaths = try Support.paths(ofJSON: Data(oneJSON))
        // Outputs are compared as Booleans: a failure prints the differing paths, not megabytes.
        let sameJSON = oneJSON == twoJSON
        #expect(sameJSON, "JSON differs: \(Support.differences(twoPaths, onePaths))")
        let sameFolded = FoldedRenderer.render(one.tree) == FoldedRenderer.render(two.tree)
        #expect(sameFolded)
        let sameHTML = HTMLRenderer.render(one.tree, context: one.context, title: "t") == HTMLRenderer.render(two.tree, context: two.context, title: "t")
        #expect(sameHTML)
        let oneProcesses = one.tree.children(of: FlameTree.root).map { one.tree.name(of: $0) }
        let twoProcesses = two.tree.children(of: FlameTree.root).map { two.tree.name(of: $0) }
        #expect(oneProcesses == twoProcesses, "process order: \(oneProcesses.prefix(6)) vs \(twoProcesses.prefix(6))")
    }

    @Test("two threads with --comm, --pid and period weights, and from a pipe, match one thread")
    func filtersAndPipe() throws {
        let directory = Support.temporaryDirectory()
        let path = try Self.recordSystem(in: directory)
        let settings: [(String, (inout ReportOptions) -> Void)] = [
            ("--comm workload", { $0.comm = "workload" }),
            ("--weight period", { $0.weight = .period }),
            ("--max-stack 3", { $0.maxStack = 3 }),
        ]
        for (label, configure) in settings {
            let one = try Self.report(path, threads: 1, configure: configure)
            let two = try Self.report(path, threads: 2, configure: configure)
            #expect(one.context.samples > 100, "\(label)")
            let same = JSONRenderer.render(one.tree) == JSONRenderer.render(two.tree)
            #expect(same, "\(label): the trees differ")
        }
        let whole = try Self.report(path, threads: 1)
        let pids = Set(whole.tree.children(of: FlameTree.root).compactMap { node -> Int32? in
            whole.tree.name(of: node).split(separator: "(").last?.split(separator: ")").first.flatMap { Int32($0) }
        }.prefix(3))
        try #require(pids.count >= 2, "the recording has processes with pids")
        let onePIDs = try Self.report(path, threads: 1) { $0.pids = pids }
        let twoPIDs = try Self.report(path, threads: 2) { $0.pids = pids }
        #expect(onePIDs.context.samples > 0)
        let samePIDs = JSONRenderer.render(onePIDs.tree) == JSONRenderer.render(twoPIDs.tree)
        #expect(samePIDs, "--pid: the trees differ")

        // perf's pipe format: the events arrive as records, and the worker is fed the same way.
        let pipePath = try Self.recordSystem(in: directory, pipe: true)
        try #require(try PerfDataReader.open(path: pipePath).isPipe)
        let onePipe = try Self.report(pipePath, threads: 1), twoPipe = try Self.report(pipePath, threads: 2)
        #expect(onePipe.context.samples > 1000)
        #expect(twoPipe.samplesPerThread.count == 2)
        let samePipe = JSONRenderer.render(onePipe.tree) == JSONRenderer.render(twoPipe.tree)
        #expect(samePipe, "pipe: the trees differ")
    }
}
