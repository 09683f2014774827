import FlamedTestSupport
import Foundation
import Testing

/// flamed's trees compared with perf's own flame graph script on the same recordings.
@Suite(.serialized, .requires(.perf))
struct AgainstPerfTests {
    @Test("perf record -g of a known workload: same totals, >=99% identical paths, the known tree")
    func knownWorkload() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory)
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-F", "2000", "-o", "perf.data", "--", workload, "2"], cwd: directory)
        try #require(record.status == 0, "perf record failed: \(record.stderr)")

        let flamed = Support.flamed(["report", "-f", "json", "-o", "flamed.json"], cwd: directory)
        try #require(flamed.status == 0, "flamed failed: \(flamed.stderr)")
        let ours = try Support.paths(ofJSON: Data(contentsOf: directory.appendingPathComponent("flamed.json")))
        let theirs = try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory))

        #expect(ours.values.reduce(0, +) == theirs.values.reduce(0, +))
        #expect(ours.values.reduce(0, +) > 1000, "expected thousands of samples from a 2 s run at 2 kHz")
        let agreement = Support.agreement(ours, theirs)
        #expect(agreement >= 0.99, "only \(agreement * 100)% identical:\n\(Support.differences(ours, theirs))")

        // The known call tree, with its expected proportions.
        func weight(_ suffix: String) -> Int { ours.filter { $0.key.hasSuffix(suffix) }.values.reduce(0, +) }
        let total = Double(ours.values.reduce(0, +))
        let gammaViaBeta = Double(weight("main;flamed_outer_alpha;flamed_middle_beta;flamed_leaf_gamma"))
        let delta = Double(weight("main;flamed_outer_alpha;flamed_leaf_delta"))
        let gammaViaEpsilon = Double(weight("main;flamed_outer_epsilon;flamed_leaf_gamma"))
        #expect(gammaViaBeta / total > 0.35 && gammaViaBeta / total < 0.65, "beta->gamma share \(gammaViaBeta / total)")
        #expect(delta / total > 0.12 && delta / total < 0.38, "delta share \(delta / total)")
        #expect(gammaViaEpsilon / total > 0.12 && gammaViaEpsilon / total < 0.38, "epsilon->gamma share \(gammaViaEpsilon / total)")
        #expect(ours.keys.allSatisfy { $0.hasPrefix("workload (") }, "every path starts at the process frame")
    }

    @Test("a prctl rename shows each sample under the name it had when taken, as perf does")
    func renamedProcess() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory)
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-o", "perf.data", "--", workload, "1", "renamed-wl"], cwd: directory)
        try #require(record.status == 0, "perf record failed: \(record.stderr)")
        let flamed = Support.flamed(["report", "-f", "json", "-o", "flamed.json"], cwd: directory)
        try #require(flamed.status == 0, Comment(rawValue: flamed.stderr))
        let ours = try Support.paths(ofJSON: Data(contentsOf: directory.appendingPathComponent("flamed.json")))
        let theirs = try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory))
        let before = ours.filter { $0.key.hasPrefix("workload (") }.values.reduce(0, +)
        let after = ours.filter { $0.key.hasPrefix("renamed-wl (") }.values.reduce(0, +)
        #expect(before > 100 && after > 100, "samples before (\(before)) and after (\(after)) the rename")
        #expect(Support.agreement(ours, theirs) >= 0.99, Comment(rawValue: Support.differences(ours, theirs)))
    }

    /// `paths` with flamed's `[binary]` / `[libname.so]` frames (code in a known file that no
    /// symbol covers) written as perf's flame graph script writes them: `[unknown]`.
    static func unknownForFileFrames(_ paths: [String: Int]) -> [String: Int] {
        Dictionary(paths.map { path, count in
            (path.split(separator: ";", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("[") && $0.hasSuffix("]") ? "[unknown]" : String($0) }.joined(separator: ";"), count)
        }, uniquingKeysWith: +)
    }

    @Test("a system-wide recording (-a -g) agrees with perf on >=99% of samples")
    func systemWide() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory)
        let record = Support.shell("(\(workload) 3 >/dev/null &) ; /usr/bin/perf record -q -a -g -o perf.data -- sleep 2", cwd: directory)
        try #require(record.status == 0, "perf record -a failed: \(record.stderr)")
        let flamed = Support.flamed(["report", "-f", "json", "-o", "flamed.json"], cwd: directory)
        try #require(flamed.status == 0, Comment(rawValue: flamed.stderr))
        let ours = try Support.paths(ofJSON: Data(contentsOf: directory.appendingPathComponent("flamed.json")))
        // Other Swift processes: perf leaves their names mangled, flamed demangles them.
        let theirs = Support.demangledAsFlamed(try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory)))
        #expect(ours.values.reduce(0, +) == theirs.values.reduce(0, +))
        // Other processes run binaries without symbols: perf's [unknown] is flamed's [binary].
        let comparable = Self.unknownForFileFrames(ours)
        let agreement = Support.agreement(comparable, theirs, returnAddressAware: true)
        #expect(agreement >= 0.99, "only \(agreement * 100)% identical:\n\(Support.differences(comparable, theirs))")
        #expect(ours.keys.contains { $0.hasPrefix("swapper;") } == theirs.keys.contains { $0.hasPrefix("swapper;") },
                "idle CPUs appear as plain swapper, as in perf")
        #expect(ours.keys.contains { $0.contains("flamed_leaf_gamma") })
    }

    @Test("pipe mode: perf record -o - matches perf, and a file and its pipe form give the same tree")
    func pipeMode() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory)
        let record = Support.shell("/usr/bin/perf record -q -g -o - -- \(workload) 1 > pipe.data", cwd: directory)
        try #require(record.status == 0, "perf record -o - failed: \(record.stderr)")
        let fromPipe = Support.flamed(["report", "-i", "-", "-f", "json", "-o", "-"], cwd: directory, stdin: directory.appendingPathComponent("pipe.data"))
        try #require(fromPipe.status == 0, Comment(rawValue: fromPipe.stderr))
        let pipeTree = try Support.paths(ofJSON: fromPipe.stdout)
        #expect(pipeTree.values.reduce(0, +) > 1000)
        let theirs = try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory, file: "pipe.data"))
        #expect(pipeTree.values.reduce(0, +) == theirs.values.reduce(0, +))
        #expect(Support.agreement(pipeTree, theirs) >= 0.99, Comment(rawValue: Support.differences(pipeTree, theirs)))

        // The same recording in both formats: perf inject writes a file's records as a pipe stream.
        let recordFile = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-o", "file.data", "--", workload, "1"], cwd: directory)
        try #require(recordFile.status == 0, Comment(rawValue: recordFile.stderr))
        let inject = Support.shell("/usr/bin/perf inject -i file.data -o - > injected.data", cwd: directory)
        try #require(inject.status == 0, "perf inject failed: \(inject.stderr)")
        let file = Support.flamed(["report", "-i", "file.data", "-f", "json", "-o", "-"], cwd: directory)
        let injected = Support.flamed(["report", "-i", "-", "-f", "json", "-o", "-"], cwd: directory, stdin: directory.appendingPathComponent("injected.data"))
        try #require(file.status == 0 && injected.status == 0, Comment(rawValue: file.stderr + injected.stderr))
        let fileTree = try Support.paths(ofJSON: file.stdout), injectedTree = try Support.paths(ofJSON: injected.stdout)
        #expect(fileTree.values.reduce(0, +) > 1000)
        #expect(fileTree == injectedTree, Comment(rawValue: Support.differences(injectedTree, fileTree)))
    }

    @Test("a zstd-compressed recording (perf record -z) gives the same tree as its decompressed copy")
    func compressed() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory)
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-z", "-g", "-o", "z.data", "--", workload, "1"], cwd: directory)
        try #require(record.status == 0, "perf record -z failed: \(record.stderr)")
        let header = Support.run(["/usr/bin/perf", "report", "--header-only", "-i", "z.data"], cwd: directory)
        #expect(header.stdoutText.contains("compressed"), "perf wrote a compressed file")
        let inject = Support.run(["/usr/bin/perf", "inject", "-i", "z.data", "-o", "plain.data"], cwd: directory)
        try #require(inject.status == 0, "perf inject failed: \(inject.stderr)")

        let compressed = Support.flamed(["report", "-i", "z.data", "-f", "json", "-o", "-"], cwd: directory)
        try #require(compressed.status == 0, Comment(rawValue: compressed.stderr))
        let plain = Support.flamed(["report", "-i", "plain.data", "-f", "json", "-o", "-"], cwd: directory)
        try #require(plain.status == 0, Comment(rawValue: plain.stderr))
        let compressedTree = try Support.paths(ofJSON: compressed.stdout)
        let plainTree = try Support.paths(ofJSON: plain.stdout)
        #expect(compressedTree.values.reduce(0, +) > 100)
        #expect(compressedTree == plainTree, Comment(rawValue: Support.differences(compressedTree, plainTree)))
        let theirs = try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory, file: "z.data"))
        #expect(Support.agreement(compressedTree, theirs) >= 0.99, Comment(rawValue: Support.differences(compressedTree, theirs)))
    }

    @Test("folded and JSON describe the same tree; --kallsyms with a copy gives the same tree")
    func formatsAgree() throws {
        let directory = Support.temporaryDirectory()
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-a", "-g", "-o", "perf.data", "--", "sleep", "1"], cwd: directory)
        try #require(record.status == 0, Comment(rawValue: record.stderr))
        let json = Support.flamed(["report", "-o", "out.json"], cwd: directory)
        try #require(json.status == 0, Comment(rawValue: json.stderr))
        let folded = Support.flamed(["report", "-o", "out.folded"], cwd: directory)
        try #require(folded.status == 0, Comment(rawValue: folded.stderr))
        let jsonTree = try Support.paths(ofJSON: Data(contentsOf: directory.appendingPathComponent("out.json")))
        let foldedText = try String(contentsOf: directory.appendingPathComponent("out.folded"), encoding: .utf8)
        let foldedTree = try Support.paths(ofFolded: foldedText)
        let sanitized = Dictionary(jsonTree.map { ($0.key.split(separator: ";", omittingEmptySubsequences: false).map { $0.replacingOccurrences(of: ";", with: ":") }.joined(separator: ";"), $0.value) }, uniquingKeysWith: +)
        #expect(!foldedTree.isEmpty)
        #expect(foldedTree == sanitized, Comment(rawValue: Support.differences(foldedTree, sanitized)))

        // /proc/kallsyms reports size 0, so copy it by reading it, as cp does.
        #expect(Support.shell("cat /proc/kallsyms > kallsyms.copy", cwd: directory).status == 0)
        let withCopy = Support.flamed(["report", "--kallsyms", "kallsyms.copy", "-f", "json", "-o", "-"], cwd: directory)
        try #require(withCopy.status == 0, Comment(rawValue: withCopy.stderr))
        let copyTree = try Support.paths(ofJSON: withCopy.stdout)
        #expect(copyTree == jsonTree, Comment(rawValue: Support.differences(copyTree, jsonTree)))
        #expect(jsonTree.keys.contains { $0.contains("do_syscall_64") || $0.contains("default_idle") || $0.contains("pv_native_safe_halt") },
                "kernel frames are resolved")
    }
}
