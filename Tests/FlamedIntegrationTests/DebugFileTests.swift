import FlamedTestSupport
import Foundation
import Testing

/// Where symbols come from, end to end: a stripped binary's separate debug file found
/// through `.gnu_debuglink` (next to it, or in `.debug/`), MiniDebugInfo, and a binary
/// with no symbols at all, whose frames are named `[binary]` as stackcollapse-perf does.
@Suite(.serialized, .requires(.perf))
struct DebugFileTests {
    /// The hot paths of `Fixtures/debuginfo.c`, below the process frame and libc's start.
    static let globalPath = "main;debuginfo_outer;debuginfo_hot_global"
    static let staticPath = "main;debuginfo_outer;debuginfo_hot_static"

    /// Builds the fixture and its variants in `directory`:
    /// - `next/debuginfo-linked`: stripped, with a debuglink to `next/debuginfo.debug`;
    /// - `dot/debuginfo-linked`: the same, its debug file in `dot/.debug/`;
    /// - `wrongcrc/debuginfo-linked`: the same, its debug file altered after linking;
    /// - `debuginfo-mini`: stripped, with MiniDebugInfo (the Fedora recipe);
    /// - `debuginfo-stripped`: a build without -rdynamic, stripped: no symbols of its own.
    /// Build ids are random so that no debug file of another run (~/.debug,
    /// /usr/lib/debug) can be found for them.
    static func buildVariants(in directory: URL) throws {
        let source = Support.packageRoot.appendingPathComponent("Tests/FlamedIntegrationTests/Fixtures/debuginfo.c").path
        func buildID() -> String { (0..<20).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() }
        let flags = "-O0 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls"
        let script = """
            set -euo pipefail
            gcc \(flags) -rdynamic -Wl,--build-id=0x\(buildID()) -o debuginfo '\(source)'
            gcc -O0 -fno-omit-frame-pointer -fno-optimize-sibling-calls -Wl,--build-id=0x\(buildID()) -o plain '\(source)'
            # (a) a separate debug file through .gnu_debuglink
            objcopy --only-keep-debug debuginfo debuginfo.debug
            strip --strip-all -o linked debuginfo
            objcopy --add-gnu-debuglink=debuginfo.debug linked
            mkdir -p next dot/.debug wrongcrc
            cp linked next/debuginfo-linked; cp debuginfo.debug next/debuginfo.debug
            cp linked dot/debuginfo-linked; cp debuginfo.debug dot/.debug/debuginfo.debug
            cp linked wrongcrc/debuginfo-linked; cp debuginfo.debug wrongcrc/debuginfo.debug; printf x >> wrongcrc/debuginfo.debug
            # (b) MiniDebugInfo
            \(DebugBuilds.miniDebugInfo(from: "debuginfo", to: "debuginfo-mini"))
            # (c) no symbols at all
            strip --strip-all -o debuginfo-stripped plain
            """
        let result = Support.run(["/bin/bash", "-c", script], cwd: directory)
        try #require(result.status == 0, "building the variants failed: \(result.stderr)")
    }

    /// `flamed record -f json -- BINARY 1` in `directory`: the tree's paths.
    static func record(_ binary: String, in directory: URL) throws -> [String: Int] {
        let result = Support.flamed(["record", "-f", "json", "-o", "out.json", "--", binary, "1"], cwd: directory)
        try #require(result.status == 0, "flamed record \(binary) failed: \(result.stderr)")
        let paths = try Support.paths(ofJSON: Data(contentsOf: directory.appendingPathComponent("out.json")))
        #expect(paths.values.reduce(0, +) > 100, "\(binary): a 1 s run gives hundreds of samples")
        return paths
    }

    /// Samples on paths that contain `fragment` (frames joined by ';').
    static func samples(_ paths: [String: Int], through fragment: String) -> Int {
        paths.filter { ($0.key + ";").contains(";" + fragment + ";") }.values.reduce(0, +)
    }

    /// `label` and the heaviest paths, for failure messages.
    static func summary(_ paths: [String: Int], _ label: String = "") -> Comment {
        let heaviest = paths.sorted { $0.value > $1.value }.prefix(6).map { "\($0.value) \($0.key)" }
        return Comment(rawValue: ([label] + heaviest).joined(separator: "\n"))
    }

    @Test("a stripped binary's debug file is found through .gnu_debuglink, next to it and in .debug/")
    func debugLink() throws {
        let directory = Support.temporaryDirectory()
        try Self.buildVariants(in: directory)
        for variant in ["next", "dot"] {
            let paths = try Self.record("./\(variant)/debuginfo-linked", in: directory)
            let total = paths.values.reduce(0, +)
            let global = Self.samples(paths, through: Self.globalPath), local = Self.samples(paths, through: Self.staticPath)
            #expect(global > total / 5, Self.summary(paths, "\(variant): \(Self.globalPath)"))
            #expect(local > total / 5, Self.summary(paths, "\(variant): the static function comes from the debug file"))
            #expect(!paths.keys.contains { $0.contains("[debuginfo-linked]") }, Self.summary(paths, "\(variant)"))
        }
    }

    @Test("a debuglink file whose CRC does not match is ignored")
    func wrongCRC() throws {
        let directory = Support.temporaryDirectory()
        try Self.buildVariants(in: directory)
        let paths = try Self.record("./wrongcrc/debuginfo-linked", in: directory)
        let total = paths.values.reduce(0, +)
        #expect(!paths.keys.contains { $0.contains("debuginfo_hot_static") }, Self.summary(paths))
        // .dynsym (-rdynamic) still names the global functions; the static one's code is
        // known to be in the binary, and named after it.
        #expect(Self.samples(paths, through: Self.globalPath) > total / 5, Self.summary(paths))
        #expect(Self.samples(paths, through: "main;debuginfo_outer;[debuginfo-linked]") > total / 5, Self.summary(paths))
    }

    @Test("MiniDebugInfo (.gnu_debugdata) names the static function, merged with .dynsym")
    func miniDebugInfo() throws {
        let directory = Support.temporaryDirectory()
        try Self.buildVariants(in: directory)
        let paths = try Self.record("./debuginfo-mini", in: directory)
        let total = paths.values.reduce(0, +)
        #expect(Self.samples(paths, through: Self.globalPath) > total / 5, Self.summary(paths))
        #expect(Self.samples(paths, through: Self.staticPath) > total / 5, Self.summary(paths))
    }

    @Test("a binary without symbols: its frames are [debuginfo-stripped], not [unknown]")
    func strippedBinary() throws {
        let directory = Support.temporaryDirectory()
        try Self.buildVariants(in: directory)
        let paths = try Self.record("./debuginfo-stripped", in: directory)
        let total = paths.values.reduce(0, +)
        #expect(!paths.keys.contains { $0.contains("debuginfo_") }, Self.summary(paths))
        let named = "[debuginfo-stripped];[debuginfo-stripped];[debuginfo-stripped]"
        #expect(Self.samples(paths, through: named) > total / 2, Self.summary(paths))
        let unknownLeaves = paths.filter { $0.key.hasSuffix(";[unknown]") }.values.reduce(0, +)
        #expect(unknownLeaves < total / 20, Self.summary(paths))
    }

    @Test("perf record -g, then flamed report: debug files and MiniDebugInfo name frames; the debuglink tree agrees with perf")
    func reportAgainstPerf() throws {
        let directory = Support.temporaryDirectory()
        try Self.buildVariants(in: directory)
        for (binary, output) in [("./next/debuginfo-linked", "linked.data"), ("./debuginfo-mini", "mini.data")] {
            let record = Support.run(["/usr/bin/perf", "record", "-q", "-N", "-g", "-o", output, "--", binary, "1"], cwd: directory)
            try #require(record.status == 0, "perf record failed: \(record.stderr)")
            let report = Support.flamed(["report", "-i", output, "-f", "json", "-o", "-"], cwd: directory)
            try #require(report.status == 0, Comment(rawValue: report.stderr))
            let ours = try Support.paths(ofJSON: report.stdout)
            let total = ours.values.reduce(0, +)
            #expect(total > 300, "\(binary): a 1 s run gives thousands of samples (fewer when the CPU is shared)")
            #expect(Self.samples(ours, through: Self.globalPath) > total / 5, Self.summary(ours, "\(binary)"))
            #expect(Self.samples(ours, through: Self.staticPath) > total / 5, Self.summary(ours, "\(binary)"))
            guard output == "linked.data" else { continue }
            // perf reads debuglinks too. Where it has [unknown] for code in a known file,
            // flamed names the file: compare with those frames made [unknown] again.
            let theirs = try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory, file: output))
            let normalized = AgainstPerfTests.unknownForFileFrames(ours)
            #expect(Support.agreement(normalized, theirs) >= 0.99, Comment(rawValue: Support.differences(normalized, theirs)))
        }
    }
}
