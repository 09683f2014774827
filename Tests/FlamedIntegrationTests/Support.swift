import FlamedTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for tests that drive the real kernel, perf and the flamed binary (running
/// commands is in FlamedTestSupport's `Support`).
extension Support {
    /// Builds a fixture workload (`Fixtures/NAME.c`, the known-tree `workload` by default) with
    /// frame pointers and no tail calls into `directory`.
    static func buildWorkload(in directory: URL, named name: String = "workload") throws -> String {
        let source = packageRoot.appendingPathComponent("Tests/FlamedIntegrationTests/Fixtures/\(name).c").path
        let binary = directory.appendingPathComponent(name).path
        let result = run(["/usr/bin/gcc", "-O0", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls", "-pthread", "-o", binary, source])
        try #require(result.status == 0, "gcc failed: \(result.stderr)")
        return binary
    }

    /// Root-to-leaf paths of a perf-style JSON flame tree (process frame first), with the
    /// samples ending on each.
    static func paths(ofJSON data: Data) throws -> [String: Int] {
        let object = try JSONSerialization.jsonObject(with: data)
        let root = try #require(object as? [String: Any])
        var result: [String: Int] = [:]
        var stack: [([String: Any], [String])] = ((root["c"] as? [[String: Any]]) ?? []).reversed().map { ($0, []) }
        while let (node, prefix) = stack.popLast() {
            let name = node["n"] as? String ?? "?"
            let path = prefix + [name]
            let value = (node["v"] as? NSNumber)?.intValue ?? 0
            if value > 0 { result[path.joined(separator: ";"), default: 0] += value }
            for child in ((node["c"] as? [[String: Any]]) ?? []).reversed() { stack.append((child, path)) }
        }
        return result
    }

    /// The same for folded stacks.
    static func paths(ofFolded text: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let space = try #require(line.lastIndex(of: " "), "folded line without a count: \(line)")
            let count = try #require(Int(line[line.index(after: space)...]), "bad count in \(line)")
            result[String(line[..<space]), default: 0] += count
        }
        return result
    }

    /// The fraction of `reference`'s samples that lie on identical paths in `candidate`.
    ///
    /// With `returnAddressAware`, one known, explained difference is allowed: perf looks a
    /// return address up at the address itself, flamed at address−1 (so a call is charged
    /// to the function that made it). They differ only after a call to a function that
    /// never returns, where the return address is the first byte after the caller; in the
    /// kernel perf then names the next symbol, a `__pfx_` padding symbol that is never
    /// executed. A perf frame named `__pfx_…` therefore matches whatever flamed has at
    /// that position; every other frame must be identical.
    static func agreement(_ candidate: [String: Int], _ reference: [String: Int], returnAddressAware: Bool = false) -> Double {
        let total = reference.values.reduce(0, +)
        guard total > 0 else { return 0 }
        var remaining = candidate
        var same = 0
        for (path, count) in reference {
            let matched = min(count, remaining[path] ?? 0)
            same += matched
            remaining[path, default: 0] -= matched
        }
        guard returnAddressAware else { return Double(same) / Double(total) }
        func pattern(_ path: String) -> [Substring] { path.split(separator: ";", omittingEmptySubsequences: false) }
        for (path, count) in reference where path.contains(";__pfx_") {
            let wanted = pattern(path)
            var left = count - min(count, candidate[path] ?? 0)
            for (other, available) in remaining where available > 0 && left > 0 {
                let frames = pattern(other)
                guard frames.count == wanted.count,
                      zip(frames, wanted).allSatisfy({ $0 == $1 || $1.hasPrefix("__pfx_") }) else { continue }
                let matched = min(left, available)
                remaining[other] = available - matched
                left -= matched
                same += matched
            }
        }
        return Double(same) / Double(total)
    }

    /// The largest differences between two path maps, for failure messages.
    static func differences(_ candidate: [String: Int], _ reference: [String: Int], limit: Int = 8) -> String {
        var keys = Set(candidate.keys).union(reference.keys).filter { candidate[$0] != reference[$0] }.map { $0 }
        keys.sort { abs((candidate[$0] ?? 0) - (reference[$0] ?? 0)) > abs((candidate[$1] ?? 0) - (reference[$1] ?? 0)) }
        return keys.prefix(limit).map { "flamed \(candidate[$0] ?? 0) perf \(reference[$0] ?? 0): \($0.prefix(300))" }.joined(separator: "\n")
    }

    /// perf's own flame graph JSON for `perf.data` in `directory`.
    static func perfFlameGraphJSON(in directory: URL, file: String = "perf.data") throws -> Data {
        if file != "perf.data" {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("perf.data"))
            try FileManager.default.copyItem(at: directory.appendingPathComponent(file), to: directory.appendingPathComponent("perf.data"))
        }
        let result = run(["/usr/bin/perf", "script", "report", "flamegraph", "-f", "json", "-o", "perf-stacks.json"], cwd: directory)
        try #require(result.status == 0, "perf script report flamegraph failed: \(result.stderr)")
        return try Data(contentsOf: directory.appendingPathComponent("perf-stacks.json"))
    }

    /// Runs `flamed` with `arguments`.
    @discardableResult
    static func flamed(_ arguments: [String], cwd: URL? = nil, stdin: URL? = nil) -> Result {
        run([flamedBinary] + arguments, cwd: cwd, stdin: stdin)
    }
}
