import Demangling
import FlamedTestSupport
import Foundation
import Symbolizer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `--demangle perf|full|none` on real C++, Rust (legacy and v0) and Swift programs, through
/// `flamed record`, `flamed report` (after `perf record -g`) and the `flamed run` daemon.
@Suite(.serialized, .requires(.perf))
struct DemangleTests {
    // MARK: Tools and fixtures

    static let rustc = Requirement.rustc.path
    static let swiftc = Requirement.swiftc.path

    static func fixture(_ name: String) -> String {
        Support.packageRoot.appendingPathComponent("Tests/FlamedIntegrationTests/Fixtures/\(name)").path
    }

    static func buildCxx(in directory: URL) throws -> String {
        let binary = directory.appendingPathComponent("cppprog").path
        let result = Support.run(["/usr/bin/g++", "-O0", "-fno-omit-frame-pointer", "-o", binary, fixture("demangle_cpp.cpp")])
        try #require(result.status == 0, "g++ failed: \(result.stderr)")
        return binary
    }

    /// The Rust fixture as crate `rustprog`, with rustc's default (legacy) mangling or v0.
    static func buildRust(in directory: URL, v0: Bool) throws -> String {
        let rustc = try #require(rustc, "\(Requirement.rustc.missingReason ?? "")")
        let binary = directory.appendingPathComponent(v0 ? "rustprog_v0" : "rustprog").path
        var arguments = [rustc, "-C", "force-frame-pointers=yes", "-C", "opt-level=0", "-g", "--crate-name", "rustprog", "-o", binary]
        if v0 { arguments += ["-C", "symbol-mangling-version=v0"] }
        let result = Support.run(arguments + [fixture("demangle_rust.rs")], cwd: directory)
        try #require(result.status == 0, "rustc failed: \(result.stderr)")
        return binary
    }

    static func buildSwift(in directory: URL) throws -> String {
        let swiftc = try #require(swiftc, "\(Requirement.swiftc.missingReason ?? "")")
        let binary = directory.appendingPathComponent("swiftprog").path
        let result = Support.run([swiftc, "-Onone", "-module-name", "swiftprog", "-o", binary, fixture("demangle_swift.swift")], cwd: directory)
        try #require(result.status == 0, "swiftc failed: \(result.stderr)")
        return binary
    }

    // MARK: Trees

    /// `flamed record [--demangle style] -f json -- binary 1`, as root-to-leaf paths.
    static func record(_ binary: String, style: String?, in directory: URL) throws -> [String: Int] {
        let output = directory.appendingPathComponent("record-\(style ?? "default").json").path
        let arguments = ["record", "-F", "999"] + (style.map { ["--demangle", $0] } ?? []) + ["-f", "json", "-o", output, "--", binary, "1"]
        let result = Support.flamed(arguments, cwd: directory)
        try #require(result.status == 0, "flamed \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return try Support.paths(ofJSON: Data(contentsOf: URL(fileURLWithPath: output)))
    }

    /// `perf record -g -- binary 1` into `perf.data` in `directory`.
    static func perfRecord(_ binary: String, in directory: URL) throws {
        let result = Support.run(["/usr/bin/perf", "record", "-q", "-g", "-e", "cpu-clock", "-F", "999", "-o", "perf.data", "--", binary, "1"], cwd: directory)
        try #require(result.status == 0, "perf record failed: \(result.stderr)")
    }

    /// `flamed report [--demangle style] -i perf.data -f json`, as root-to-leaf paths.
    static func report(style: String?, in directory: URL) throws -> [String: Int] {
        let output = directory.appendingPathComponent("report-\(style ?? "default").json").path
        let arguments = ["report", "-i", "perf.data"] + (style.map { ["--demangle", $0] } ?? []) + ["-f", "json", "-o", output]
        let result = Support.flamed(arguments, cwd: directory)
        try #require(result.status == 0, "flamed \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return try Support.paths(ofJSON: Data(contentsOf: URL(fileURLWithPath: output)))
    }

    /// The paths of the process running `binary` (its node is `name (pid)`), process node dropped.
    static func process(_ paths: [String: Int], _ binary: String) -> [String: Int] {
        let name = String(URL(fileURLWithPath: binary).lastPathComponent.prefix(15))
        var result: [String: Int] = [:]
        for (path, count) in paths where path.hasPrefix(name + " (") {
            guard let separator = path.firstIndex(of: ";") else { continue }
            result[String(path[path.index(after: separator)...]), default: 0] += count
        }
        return result
    }

    /// The share of `paths`' samples whose stack has `chain` (frames, caller first) in a row.
    static func share(_ paths: [String: Int], through chain: [String]) -> Double {
        let total = paths.values.reduce(0, +)
        guard total > 0 else { return 0 }
        let wanted = chain.joined(separator: ";")
        let matching = paths.filter { (";" + $0.key + ";").contains(";" + wanted + ";") }.values.reduce(0, +)
        return Double(matching) / Double(total)
    }

    /// The share of `paths`' samples that run through a frame matching `pattern` (a whole frame).
    static func share(_ paths: [String: Int], throughFrameMatching pattern: String) throws -> Double {
        let regex = try NSRegularExpression(pattern: "^" + pattern + "$")
        let total = paths.values.reduce(0, +)
        guard total > 0 else { return 0 }
        let matching = paths.filter { path in
            path.key.split(separator: ";").contains { frame in
                let text = String(frame)
                return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            }
        }.values.reduce(0, +)
        return Double(matching) / Double(total)
    }

    static func frames(_ paths: [String: Int]) -> Set<String> {
        Set(paths.keys.flatMap { $0.split(separator: ";").map(String.init) })
    }

    static func describe(_ paths: [String: Int]) -> String {
        paths.sorted { $0.value > $1.value }.prefix(4).map { "\($0.value) \($0.key.suffix(400))" }.joined(separator: "\n")
    }

    // MARK: C++

    @Test("C++ record: perf style (the default) drops the parameter list, full keeps it, none is the symbol")
    func cxxRecord() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildCxx(in: directory)
        let expected: [(String?, String)] = [
            (nil, "hot::Cruncher::churn"),
            ("perf", "hot::Cruncher::churn"),
            ("full", "hot::Cruncher::churn(int const*, unsigned long, int) const"),
            ("none", "_ZNK3hot8Cruncher5churnEPKimi"),
        ]
        for (style, name) in expected {
            let paths = Self.process(try Self.record(binary, style: style, in: directory), binary)
            #expect(Self.share(paths, through: ["main", name]) > 0.5, "--demangle \(style ?? "(default)"): main -> \(name)\n\(Self.describe(paths))")
        }
    }

    @Test("C++ report after perf record -g: perf style names the hot frame as perf does; full and none differ as in record")
    func cxxReport() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildCxx(in: directory)
        try Self.perfRecord(binary, in: directory)
        let perfs = Self.process(try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory)), binary)
        #expect(Self.share(perfs, through: ["main", "hot::Cruncher::churn"]) > 0.5, "perf's own names:\n\(Self.describe(perfs))")
        let ours = Self.process(try Self.report(style: nil, in: directory), binary)
        #expect(Self.share(ours, through: ["main", "hot::Cruncher::churn"]) > 0.5, "\(Self.describe(ours))")
        let full = Self.process(try Self.report(style: "full", in: directory), binary)
        #expect(Self.share(full, through: ["main", "hot::Cruncher::churn(int const*, unsigned long, int) const"]) > 0.5, "\(Self.describe(full))")
        let none = Self.process(try Self.report(style: "none", in: directory), binary)
        #expect(Self.share(none, through: ["main", "_ZNK3hot8Cruncher5churnEPKimi"]) > 0.5, "\(Self.describe(none))")
    }

    // MARK: Rust

    @Test("Rust legacy record: perf drops the ::h<hash>, full keeps it, none is the _ZN symbol", .requires(.rustc))
    func rustLegacyRecord() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildRust(in: directory, v0: false)
        let perf = Self.process(try Self.record(binary, style: "perf", in: directory), binary)
        #expect(Self.share(perf, through: ["rustprog::main", "rustprog::hot::Cruncher::churn"]) > 0.5, "\(Self.describe(perf))")
        let hashed = try NSRegularExpression(pattern: "::h[0-9a-f]{16}$|\\$LT\\$|^_ZN|^_R")
        let raw = Self.frames(perf).filter { regexMatches(hashed, $0) }
        #expect(raw.isEmpty, "perf style leaves no hashes or mangled Rust names: \(raw.sorted().prefix(5))")
        #expect(Self.frames(perf).contains("std::rt::lang_start::{{closure}}"), "\(Self.frames(perf).sorted().prefix(20))")

        let full = Self.process(try Self.record(binary, style: "full", in: directory), binary)
        #expect(try Self.share(full, throughFrameMatching: "rustprog::hot::Cruncher::churn::h[0-9a-f]{16}") > 0.5, "\(Self.describe(full))")
        let none = Self.process(try Self.record(binary, style: "none", in: directory), binary)
        #expect(try Self.share(none, throughFrameMatching: "_ZN8rustprog3hot8Cruncher5churn17h[0-9a-f]{16}E") > 0.5, "\(Self.describe(none))")
    }

    @Test("Rust v0 record: perf has no crate hashes, full has them, none is the _R symbol", .requires(.rustc))
    func rustV0Record() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildRust(in: directory, v0: true)
        let perf = Self.process(try Self.record(binary, style: nil, in: directory), binary)
        #expect(Self.share(perf, through: ["rustprog::main", "<rustprog::hot::Cruncher>::churn"]) > 0.5, "\(Self.describe(perf))")
        let hashed = Self.frames(perf).filter { $0.contains("[") && $0.range(of: "\\[[0-9a-f]{6,}\\]", options: .regularExpression) != nil || $0.hasPrefix("_R") }
        #expect(hashed.isEmpty, "perf style leaves no crate hashes or mangled names: \(hashed.sorted().prefix(5))")

        let full = Self.process(try Self.record(binary, style: "full", in: directory), binary)
        #expect(try Self.share(full, throughFrameMatching: "<rustprog\\[[0-9a-f]+\\]::hot::Cruncher>::churn") > 0.5, "\(Self.describe(full))")
        #expect(try Self.share(full, throughFrameMatching: "rustprog\\[[0-9a-f]+\\]::main") > 0.5, "\(Self.describe(full))")
        let none = Self.process(try Self.record(binary, style: "none", in: directory), binary)
        #expect(try Self.share(none, throughFrameMatching: "_RNvMNtCs[0-9A-Za-z]+_8rustprog3hotNtB[0-9A-Za-z]*_8Cruncher5churn") > 0.5, "\(Self.describe(none))")
    }

    @Test("Rust report after perf record -g: legacy and v0 hot frames named as perf names them", .requires(.rustc))
    func rustReport() throws {
        for (v0, name) in [(false, "rustprog::hot::Cruncher::churn"), (true, "<rustprog::hot::Cruncher>::churn")] {
            let directory = Support.temporaryDirectory("rustReport\(v0 ? "V0" : "Legacy")")
            let binary = try Self.buildRust(in: directory, v0: v0)
            try Self.perfRecord(binary, in: directory)
            let ours = Self.process(try Self.report(style: "perf", in: directory), binary)
            #expect(Self.share(ours, through: ["rustprog::main", name]) > 0.5, "\(Self.describe(ours))")
            // perf prints Rust names through rustc-demangle's alternate form too, where it can.
            let perfs = Self.process(try Support.paths(ofJSON: Support.perfFlameGraphJSON(in: directory)), binary)
            if Self.frames(perfs).contains(name) {
                #expect(Self.share(perfs, through: [name]) > 0.5, "\(Self.describe(perfs))")
            }
        }
    }

    // MARK: Swift

    @Test("Swift record: perf is Hotspot.churnNumbers(_:) under closure #1 in Hotspot.run(seconds:); full is the runtime's; none the symbol")
    func swiftRecord() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildSwift(in: directory)
        let perf = Self.process(try Self.record(binary, style: nil, in: directory), binary)
        #expect(Self.share(perf, through: ["main", "Hotspot.run(seconds:)", "closure #1 in Hotspot.run(seconds:)", "Hotspot.churnNumbers(_:)"]) > 0.5,
                "\(Self.describe(perf))")
        let full = Self.process(try Self.record(binary, style: "full", in: directory), binary)
        #expect(Self.share(full, through: [
            "swiftprog.Hotspot.run(seconds: Swift.Double) -> Swift.Int",
            "closure #1 (Swift.Int) -> Swift.Int in swiftprog.Hotspot.run(seconds: Swift.Double) -> Swift.Int",
            "swiftprog.Hotspot.churnNumbers(Swift.Int) -> Swift.Int",
        ]) > 0.5, "\(Self.describe(full))")
        let none = Self.process(try Self.record(binary, style: "none", in: directory), binary)
        #expect(Self.share(none, through: ["$s9swiftprog7HotspotV3run7secondsSiSd_tFS2icfU_", "$s9swiftprog7HotspotV12churnNumbersyS2iF"]) > 0.5,
                "\(Self.describe(none))")
    }

    @Test("Swift report after perf record -g: the simplified names (perf itself leaves Swift names mangled)")
    func swiftReport() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildSwift(in: directory)
        try Self.perfRecord(binary, in: directory)
        let ours = Self.process(try Self.report(style: nil, in: directory), binary)
        #expect(Self.share(ours, through: ["Hotspot.run(seconds:)", "closure #1 in Hotspot.run(seconds:)", "Hotspot.churnNumbers(_:)"]) > 0.5,
                "\(Self.describe(ours))")
        let full = Self.process(try Self.report(style: "full", in: directory), binary)
        #expect(Self.share(full, through: ["swiftprog.Hotspot.churnNumbers(Swift.Int) -> Swift.Int"]) > 0.5, "\(Self.describe(full))")
    }

    // MARK: Daemon and command line

    @Test("flamed run --demangle full: the daemon's snapshots carry full C++ names")
    func daemon() throws {
        let directory = Support.temporaryDirectory()
        let binary = try Self.buildCxx(in: directory)
        let socket = directory.appendingPathComponent("flamed.sock").path
        let config = directory.appendingPathComponent("flamed.toml").path
        let log = directory.appendingPathComponent("daemon.log").path
        try """
            [sampling]
            frequency = 499
            [snapshot]
            directory = "\(directory.appendingPathComponent("snapshots").path)"
            interval = "off"
            [control]
            socket = "\(socket)"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try #require(Support.spawn([Support.flamedBinary, "run", "--config", config, "--demangle", "full"],
                                                stdout: "/dev/null", stderr: log))
        defer {
            kill(daemon, SIGTERM)
            if Support.wait(daemon, timeout: 5) == nil {
                kill(daemon, SIGKILL)
                _ = Support.wait(daemon, timeout: 5)
            }
        }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) {
            let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            try #require(Support.wait(daemon, timeout: 0) == nil, "the daemon exited: \(logText)")
            try #require(Date() < deadline, "no socket within 10 s: \(logText)")
            usleep(50_000)
        }
        let workload = try #require(Support.spawn([binary, "2"], stdout: "/dev/null", stderr: "/dev/null"))
        usleep(1_500_000)
        let output = directory.appendingPathComponent("snapshot.json").path
        let snapshot = Support.flamed(["snapshot", "--socket", socket, "--pid", String(workload), "-f", "json", "-o", output])
        _ = Support.wait(workload, timeout: 5)
        try #require(snapshot.status == 0, "flamed snapshot failed: \(snapshot.stderr)")
        let paths = Self.process(try Support.paths(ofJSON: Data(contentsOf: URL(fileURLWithPath: output))), binary)
        #expect(Self.share(paths, through: ["main", "hot::Cruncher::churn(int const*, unsigned long, int) const"]) > 0.5, "\(Self.describe(paths))")
    }

    @Test("--demangle takes perf, full or none, on report, record and run")
    func commandLine() {
        for command in [["report"], ["record", "--", "/bin/true"], ["run"]] {
            let result = Support.flamed([command[0], "--demangle", "pretty"] + command.dropFirst())
            #expect(result.status == 64, "\(command[0]): exit \(result.status)")
            #expect(result.stderr.contains("'pretty' is invalid for '--demangle") && result.stderr.contains("'perf', 'full' or 'none'"),
                    "\(command[0]): \(result.stderr)")
        }
    }
}

extension Support {
    /// perf's own paths with the names perf leaves mangled (Swift's; perf demangles C++ and
    /// Rust itself) demangled as flamed's default perf style shows them, for comparing whole
    /// trees with perf when Swift programs were running.
    static func demangledAsFlamed(_ paths: [String: Int]) -> [String: Int] {
        var names: [Substring: String] = [:]
        var result: [String: Int] = [:]
        for (path, count) in paths {
            let frames = path.split(separator: ";", omittingEmptySubsequences: false).map { frame in
                if let known = names[frame] { return known }
                let name = Demangler.demangle(String(frame), style: .perf)
                names[frame] = name
                return name
            }
            result[frames.joined(separator: ";"), default: 0] += count
        }
        return result
    }
}

private func regexMatches(_ regex: NSRegularExpression, _ text: String) -> Bool {
    regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
}
