import FlamedTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `flamed report` command line: defaults, formats, filters, diagnostics and bad input.
@Suite(.serialized, .requires(.perf))
struct CommandLineTests {
    /// A directory holding a small `perf.data` of the workload.
    static func recording(events: String = "cpu-clock") throws -> (URL, String) {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory)
        let record = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-e", events, "-o", "perf.data", "--", workload, "0.5", "renamed-wl"], cwd: directory)
        try #require(record.status == 0, "perf record failed: \(record.stderr)")
        return (directory, workload)
    }

    static func files(in directory: URL) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
    }

    @Test("defaults follow perf: perf.data in, flamegraph.html / stacks.json / stacks.folded out")
    func defaults() throws {
        let (directory, _) = try Self.recording()
        let html = Support.flamed(["report"], cwd: directory)
        #expect(html.status == 0, Comment(rawValue: html.stderr))
        let page = try String(contentsOf: directory.appendingPathComponent("flamegraph.html"), encoding: .utf8)
        #expect(page.contains("<html") && page.contains("flamed_leaf_gamma"))
        #expect(Support.flamed(["report", "-f", "json"], cwd: directory).status == 0)
        #expect(Support.flamed(["report", "-f", "folded"], cwd: directory).status == 0)
        let names = Self.files(in: directory)
        #expect(names.isSuperset(of: ["flamegraph.html", "stacks.json", "stacks.folded"]))
        #expect(!names.contains { $0.contains(".tmp") }, "no temporary files left behind")
        #expect(!html.stderr.contains("\r"), "no progress line when stderr is not a terminal")
    }

    @Test("the -o extension picks the format; -o - writes to stdout and diagnostics go to stderr")
    func formatFromExtension() throws {
        let (directory, _) = try Self.recording()
        #expect(Support.flamed(["report", "-o", "x.json"], cwd: directory).status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("x.json"))) as? [String: Any]
        #expect(json?["n"] as? String == "all" && json?["l"] as? String == "root")
        #expect(Support.flamed(["report", "-o", "x.folded"], cwd: directory).status == 0)
        let folded = try String(contentsOf: directory.appendingPathComponent("x.folded"), encoding: .utf8)
        #expect(folded.split(separator: "\n").allSatisfy { $0.last?.isNumber == true })
        let stdout = Support.flamed(["report", "-f", "json", "-o", "-"], cwd: directory)
        #expect(stdout.status == 0)
        #expect((try? JSONSerialization.jsonObject(with: stdout.stdout)) != nil, "stdout holds only the JSON")
    }

    @Test("-e keeps one event of several; --pid and --comm filter processes")
    func filters() throws {
        let (directory, _) = try Self.recording(events: "cpu-clock,task-clock")
        let all = try Support.paths(ofJSON: Support.flamed(["report", "-f", "json", "-o", "-"], cwd: directory).stdout)
        let cpu = try Support.paths(ofJSON: Support.flamed(["report", "-e", "cpu-clock", "-f", "json", "-o", "-"], cwd: directory).stdout)
        let task = try Support.paths(ofJSON: Support.flamed(["report", "-e", "task-clock", "-f", "json", "-o", "-"], cwd: directory).stdout)
        let total = { (tree: [String: Int]) in tree.values.reduce(0, +) }
        #expect(total(cpu) > 0 && total(task) > 0)
        #expect(total(cpu) + total(task) == total(all))
        let missing = Support.flamed(["report", "-e", "cycles", "-o", "-"], cwd: directory)
        #expect(missing.status == 1 && missing.stderr.contains("cpu-clock"), "an unknown event lists the file's events")

        let renamed = try Support.paths(ofJSON: Support.flamed(["report", "--comm", "renamed-wl", "-f", "json", "-o", "-"], cwd: directory).stdout)
        #expect(!renamed.isEmpty && renamed.keys.allSatisfy { $0.hasPrefix("renamed-wl (") })
        let pidText = try #require(renamed.keys.first?.split(separator: "(").last?.split(separator: ")").first)
        let byPID = try Support.paths(ofJSON: Support.flamed(["report", "--pid", String(pidText), "-f", "json", "-o", "-"], cwd: directory).stdout)
        #expect(!byPID.isEmpty && byPID.keys.allSatisfy { $0.hasSuffix("") && $0.contains("(\(pidText))") })
        let none = try Support.paths(ofJSON: Support.flamed(["report", "--pid", "1,2", "-f", "json", "-o", "-"], cwd: directory).stdout)
        #expect(none.isEmpty)
    }

    @Test("--help is complete and shell completions are generated")
    func help() throws {
        let help = Support.flamed(["report", "--help"])
        for option in ["--input", "--output", "--format", "--event", "--pid", "--comm", "--kallsyms", "--weight", "--colorscheme"] {
            #expect(help.stdoutText.contains(option), "help mentions \(option)")
        }
        let completion = Support.flamed(["--generate-completion-script", "bash"])
        #expect(completion.status == 0 && completion.stdoutText.contains("report"))
    }

    @Test("bad input ends with one line naming the file (and offset), exit 1, no output file")
    func badInput() throws {
        let (directory, _) = try Self.recording()
        let data = try Data(contentsOf: directory.appendingPathComponent("perf.data"))
        try Data().write(to: directory.appendingPathComponent("empty.data"))
        try Data("hello, this is not perf data at all\n".utf8).write(to: directory.appendingPathComponent("text.data"))
        try data.prefix(60).write(to: directory.appendingPathComponent("short.data"))
        // A record whose size field is below the 8-byte header, at the first record.
        let dataOffset = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 40, as: UInt64.self) })
        var corrupt = data
        corrupt[dataOffset + 6] = 3
        corrupt[dataOffset + 7] = 0
        try corrupt.write(to: directory.appendingPathComponent("corrupt.data"))

        let cases: [(String, String)] = [
            ("missing.data", "missing.data"), (".", "directory"), ("empty.data", "empty"),
            ("text.data", "not a perf.data"), ("short.data", "short.data"), ("corrupt.data", "0x"),
        ]
        for (input, expected) in cases {
            let before = Self.files(in: directory)
            let result = Support.flamed(["report", "-i", input, "-o", "out.json"], cwd: directory)
            #expect(result.status == 1, "\(input): exit \(result.status)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(input): one line, got: \(result.stderr)")
            #expect(result.stderr.contains(input == "." ? "." : input), "\(input): names the file: \(result.stderr)")
            #expect(result.stderr.contains(expected), "\(input): says \(expected): \(result.stderr)")
            #expect(Self.files(in: directory) == before, "\(input): no output or temporary file left")
        }

        let unwritable = Support.flamed(["report", "-o", "/nonexistent-dir/out.html"], cwd: directory)
        #expect(unwritable.status == 1 && unwritable.stderr.contains("/nonexistent-dir/out.html"))
        #expect(unwritable.stderr.split(separator: "\n").count == 1)
    }

    @Test("a truncated file (perf killed mid-write) gives a warning and the partial tree, never a crash")
    func truncated() throws {
        let (directory, _) = try Self.recording()
        let data = try Data(contentsOf: directory.appendingPathComponent("perf.data"))
        let dataOffset = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 40, as: UInt64.self) })
        let dataSize = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 48, as: UInt64.self) })
        for fraction in [0.1, 0.5, 0.9] {
            let cut = dataOffset + Int(Double(dataSize) * fraction) + 3
            try data.prefix(cut).write(to: directory.appendingPathComponent("cut.data"))
            let result = Support.flamed(["report", "-i", "cut.data", "-f", "json", "-o", "-"], cwd: directory)
            #expect(result.status == 0 || result.status == 1, "exit \(result.status): \(result.stderr)")
            if result.status == 0 {
                #expect(result.stderr.contains("warning") && result.stderr.contains("cut.data"))
                #expect((try? JSONSerialization.jsonObject(with: result.stdout)) != nil)
            }
        }
        // perf killed before it wrote the header's data size: read to the end with a warning.
        var unfinished = data.prefix(dataOffset + dataSize)
        unfinished.replaceSubrange(48..<56, with: [UInt8](repeating: 0, count: 8))
        try unfinished.write(to: directory.appendingPathComponent("unfinished.data"))
        let result = Support.flamed(["report", "-i", "unfinished.data", "-f", "json", "-o", "-"], cwd: directory)
        #expect(result.status == 0 && result.stderr.contains("warning"), Comment(rawValue: result.stderr))
    }

    @Test("-o to a FIFO or device writes into it and leaves it in place (never renamed over, as /dev/null must not be)")
    func deviceOutput() throws {
        let (directory, _) = try Self.recording()
        let fifo = directory.appendingPathComponent("out.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let copy = directory.appendingPathComponent("copy.folded").path
        let reader = try #require(Support.spawn(["/bin/cat", fifo], stdout: copy, stderr: "/dev/null"))
        let result = Support.flamed(["report", "-f", "folded", "-o", fifo], cwd: directory)
        #expect(result.status == 0, Comment(rawValue: result.stderr))
        #expect(Support.wait(reader, timeout: 10) == 0)
        let folded = (try? String(contentsOfFile: copy, encoding: .utf8)) ?? ""
        #expect(folded.contains("flamed_leaf_gamma"), "the report went through the FIFO")
        var info = stat()
        #expect(stat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "still a FIFO")
        let leftovers = Self.files(in: directory).filter { $0.hasPrefix(".out.fifo") }
        #expect(leftovers.isEmpty, "no temporary file beside it: \(leftovers)")
    }
}
