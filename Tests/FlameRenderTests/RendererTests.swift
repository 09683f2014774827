import FlameGraph
import Foundation
import FlamedTestSupport
import Testing

@testable import FlameRender

// MARK: - Fixtures

/// A small tree with names that need escaping in JSON, HTML and folded output.
func sampleTree() -> FlameTree {
    var tree = FlameTree()
    func node(_ parent: Int32, _ name: String, _ kind: FrameKind = .user, value: UInt64 = 0) -> Int32 {
        let interned = tree.intern(name)
        let id = tree.child(of: parent, name: interned, kind: kind)
        if value > 0 { tree.add(value, to: id) }
        return id
    }
    let bash = node(FlameTree.root, "bash (123)")
    let main = node(bash, "main", value: 2)
    _ = node(main, "write", .kernel, value: 1)
    _ = node(bash, #"say "hi" \ there"#, value: 1)
    let java = node(FlameTree.root, "java (7)")
    _ = node(java, "Interp<svg/onload=1>&co", .jit, value: 3)
    let cafe = node(java, "café 🔥", value: 1)
    _ = node(cafe, "a;b\nc\r\td\u{1}\u{7F}\u{2028}\u{8}\u{C}", value: 1)
    return tree
}

let sampleJSON = #"{"n": "all", "l": "root", "v": 0, "c": [{"n": "bash (123)", "l": "", "v": 0, "c": [{"n": "main", "l": "", "v": 2, "c": [{"n": "write", "l": "kernel", "v": 1, "c": []}]}, {"n": "say \"hi\" \\ there", "l": "", "v": 1, "c": []}]}, {"n": "java (7)", "l": "", "v": 0, "c": [{"n": "Interp<svg/onload=1>&co", "l": "jit", "v": 3, "c": []}, {"n": "caf\u00e9 \ud83d\udd25", "l": "", "v": 1, "c": [{"n": "a;b\nc\r\td\u0001\u007f\u2028\b\f", "l": "", "v": 1, "c": []}]}]}]}"#

let sampleFolded = """
    bash (123);main 2
    bash (123);main;write 1
    bash (123);say "hi" \\ there 1
    java (7);Interp<svg/onload=1>&co 3
    java (7);café 🔥 1
    java (7);café 🔥;a:b c \td\u{1}\u{7F}\u{2028}\u{8}\u{C} 1

    """

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs a program and returns its exit status and standard output.
func run(_ arguments: [String], input: [UInt8]? = nil) throws -> (status: Int32, output: [UInt8]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = packageRoot
    let stdout = Pipe()
    process.standardOutput = stdout
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input)) }
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, Array(output))
}

// MARK: - A tiny JSON reader for checking output

indirect enum JSONValue: Equatable {
    case string(String)
    case number(UInt64)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    subscript(key: String) -> JSONValue? {
        guard case let .object(fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }
}

struct JSONReader {
    struct Failure: Error {}
    let bytes: [UInt8]
    var index = 0

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        let value = try reader.value()
        reader.skipSpace()
        guard reader.index == bytes.count else { throw Failure() }
        return value
    }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
    }

    mutating func expect(_ byte: UInt8) throws {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { throw Failure() }
        index += 1
    }

    mutating func peek() throws -> UInt8 {
        skipSpace()
        guard index < bytes.count else { throw Failure() }
        return bytes[index]
    }

    mutating func value() throws -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "{"):
            index += 1
            var fields: [(String, JSONValue)] = []
            if try peek() == UInt8(ascii: "}") { index += 1; return .object(fields) }
            while true {
                guard case let .string(key) = try value() else { throw Failure() }
                try expect(UInt8(ascii: ":"))
                fields.append((key, try value()))
                if try peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"))
                return .object(fields)
            }
        case UInt8(ascii: "["):
            index += 1
            var items: [JSONValue] = []
            if try peek() == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                items.append(try value())
                if try peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        case UInt8(ascii: "\""):
            index += 1
            return .string(try stringBody())
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            var number: UInt64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                number = number * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            return .number(number)
        default:
            throw Failure()
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count,
              let unit = UInt32(String(decoding: bytes[index ..< index + 4], as: UTF8.self), radix: 16)
        else { throw Failure() }
        index += 4
        return unit
    }

    mutating func stringBody() throws -> String {
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush()
                guard index < bytes.count else { throw Failure() }
                let escape = bytes[index]
                index += 1
                let simple: [UInt8: Unicode.Scalar] = [
                    UInt8(ascii: "\""): "\"", UInt8(ascii: "\\"): "\\", UInt8(ascii: "/"): "/",
                    UInt8(ascii: "n"): "\n", UInt8(ascii: "r"): "\r", UInt8(ascii: "t"): "\t",
                    UInt8(ascii: "b"): "\u{8}", UInt8(ascii: "f"): "\u{C}",
                ]
                if let scalar = simple[escape] {
                    scalars.append(scalar)
                } else if escape == UInt8(ascii: "u") {
                    var unit = try hex4()
                    if (0xD800 ..< 0xDC00).contains(unit) {
                        try expect(UInt8(ascii: "\\"))
                        try expect(UInt8(ascii: "u"))
                        let low = try hex4()
                        guard (0xDC00 ..< 0xE000).contains(low) else { throw Failure() }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(unit) else { throw Failure() }
                    scalars.append(scalar)
                } else {
                    throw Failure()
                }
            default:
                guard byte >= 0x20 else { throw Failure() }
                raw.append(byte)
            }
        }
        throw Failure()
    }
}

/// Folds a name the way the folded renderer does.
func foldedName(_ name: String) -> String {
    var result = String.UnicodeScalarView()
    for scalar in name.unicodeScalars {
        switch scalar {
        case ";": result.append(":")
        case "\n", "\r": result.append(" ")
        default: result.append(scalar)
        }
    }
    return String(result)
}

/// Inclusive totals per stack (frames below the root joined by `;`), from parsed JSON.
func pathTotals(json: JSONValue) throws -> [String: UInt64] {
    var totals: [String: UInt64] = [:]
    func visit(_ node: JSONValue, path: String?) throws -> UInt64 {
        guard case let .number(value)? = node["v"], case let .array(children)? = node["c"] else {
            throw JSONReader.Failure()
        }
        var total = value
        for child in children {
            guard case let .string(childName)? = child["n"] else { throw JSONReader.Failure() }
            let folded = foldedName(childName)
            total += try visit(child, path: path.map { "\($0);\(folded)" } ?? folded)
        }
        if let path, total > 0 { totals[path, default: 0] += total }
        return total
    }
    _ = try visit(json, path: nil)
    return totals
}

/// Inclusive totals per stack, from folded output.
func pathTotals(folded: String) -> [String: UInt64] {
    var totals: [String: UInt64] = [:]
    for line in folded.split(separator: "\n", omittingEmptySubsequences: true) {
        guard let space = line.lastIndex(of: " "), let count = UInt64(line[line.index(after: space)...]) else {
            continue
        }
        let frames = line[..<space].split(separator: ";", omittingEmptySubsequences: false)
        for depth in 1...frames.count {
            totals[frames[..<depth].joined(separator: ";"), default: 0] += count
        }
    }
    return totals
}

/// A chain of `depth` frames below the root, with one sample at the bottom.
func chain(depth: Int) -> FlameTree {
    var tree = FlameTree()
    var node = FlameTree.root
    for level in 0..<depth {
        node = tree.child(of: node, name: tree.intern("f\(level % 7)"), kind: level % 2 == 0 ? .user : .kernel)
    }
    tree.add(1, to: node)
    return tree
}

// MARK: - JSON

@Suite struct JSONRendererTests {
    @Test func matchesGolden() {
        #expect(text(JSONRenderer.render(sampleTree())) == sampleJSON)
    }

    @Test func emptyTree() {
        #expect(text(JSONRenderer.render(FlameTree())) == #"{"n": "all", "l": "root", "v": 0, "c": []}"#)
    }

    @Test func largeValues() {
        var tree = FlameTree()
        let node = tree.child(of: FlameTree.root, name: tree.intern("x"), kind: .user)
        tree.add(UInt64.max, to: node)
        tree.add(10, to: FlameTree.root)
        #expect(text(JSONRenderer.render(tree))
            == #"{"n": "all", "l": "root", "v": 10, "c": [{"n": "x", "l": "", "v": 18446744073709551615, "c": []}]}"#)
    }

    @Test func escapesHTMLWhenAsked() throws {
        let bytes = JSONRenderer.render(sampleTree(), escapeHTML: true)
        let output = text(bytes)
        #expect(!output.contains("<"))
        #expect(!output.contains(">"))
        #expect(!output.contains("&"))
        #expect(output.contains(#"Interp\u003csvg/onload=1\u003e\u0026co"#))
        let expected = sampleJSON
            .replacingOccurrences(of: "<", with: #"\u003c"#)
            .replacingOccurrences(of: ">", with: #"\u003e"#)
            .replacingOccurrences(of: "&", with: #"\u0026"#)
        #expect(output == expected)
        #expect(try JSONReader.parse(bytes) == JSONReader.parse(JSONRenderer.render(sampleTree())))
    }

    @Test func isPureASCII() {
        #expect(JSONRenderer.render(sampleTree()).allSatisfy { $0 >= 0x20 && $0 < 0x7F })
    }

    @Test func parsesBackToTheTree() throws {
        let tree = sampleTree()
        let json = try JSONReader.parse(JSONRenderer.render(tree))
        #expect(json["n"] == .string("all"))
        #expect(json["l"] == .string("root"))
        guard case let .array(processes)? = json["c"] else {
            Issue.record("no children")
            return
        }
        #expect(processes.count == 2)
        guard case let .array(javaChildren)? = processes[1]["c"] else {
            Issue.record("no java children")
            return
        }
        #expect(javaChildren[0]["n"] == .string("Interp<svg/onload=1>&co"))
        #expect(javaChildren[0]["l"] == .string("jit"))
        #expect(javaChildren[1]["n"] == .string("café 🔥"))
        guard case let .array(cafeChildren)? = javaChildren[1]["c"] else {
            Issue.record("no café children")
            return
        }
        #expect(cafeChildren[0]["n"] == .string("a;b\nc\r\td\u{1}\u{7F}\u{2028}\u{8}\u{C}"))
    }

    @Test(.requires(.python3)) func pythonRoundTripIsIdentical() throws {
        let plain = JSONRenderer.render(sampleTree())
        let escaped = JSONRenderer.render(sampleTree(), escapeHTML: true)
        let script = "import json, sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read())))"
        let fromPlain = try run(["python3", "-c", script], input: plain)
        #expect(fromPlain.status == 0)
        #expect(fromPlain.output == plain)
        let fromEscaped = try run(["python3", "-c", script], input: escaped)
        #expect(fromEscaped.status == 0)
        #expect(fromEscaped.output == plain)
    }

    @Test func deepChainDoesNotRecurse() throws {
        let depth = 20_000
        let output = JSONRenderer.render(chain(depth: depth))
        #expect(output.filter { $0 == UInt8(ascii: "{") }.count == depth + 1)
        #expect(output.filter { $0 == UInt8(ascii: "}") }.count == depth + 1)
        let json = text(output)
        let prefix = #"{"n": "all", "l": "root", "v": 0, "c": [{"n": "f0", "l": "", "v": 0, "c": [{"n": "f1", "l": "kernel""#
        let leaf = #"{"n": "f\#((depth - 1) % 7)", "l": "kernel", "v": 1, "c": []}"#
        let suffix = leaf + String(repeating: "]}", count: depth)
        let hasPrefix = json.hasPrefix(prefix)
        let hasSuffix = json.hasSuffix(suffix)
        #expect(hasPrefix)
        #expect(hasSuffix)
    }
}

// MARK: - Folded

@Suite struct FoldedRendererTests {
    @Test func matchesGolden() {
        #expect(text(FoldedRenderer.render(sampleTree())) == sampleFolded)
    }

    @Test func emptyTreeIsEmpty() {
        #expect(FoldedRenderer.render(FlameTree()).isEmpty)
    }

    @Test func everyStackIsOneLine() {
        let lines = text(FoldedRenderer.render(sampleTree())).split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines.allSatisfy { !$0.contains("\r") })
    }

    @Test func describesTheSameTreeAsJSON() throws {
        let tree = sampleTree()
        let fromJSON = try pathTotals(json: JSONReader.parse(JSONRenderer.render(tree)))
        let fromFolded = pathTotals(folded: text(FoldedRenderer.render(tree)))
        #expect(fromJSON == fromFolded)
        #expect(fromFolded["java (7)"] == 5)
        #expect(fromFolded["bash (123)"] == 4)
        #expect(fromFolded.count == 8)
    }

    @Test func deepChainDoesNotRecurse() {
        let depth = 20_000
        let output = text(FoldedRenderer.render(chain(depth: depth)))
        #expect(output.hasSuffix(" 1\n"))
        #expect(output.filter { $0 == "\n" }.count == 1)
        #expect(output.filter { $0 == ";" }.count == depth - 1)
    }
}

// MARK: - HTML

/// A deterministic tree shaped like a system-wide profile, with at least `nodes` nodes:
/// a few dozen processes, stacks 4 to 40 frames deep, C++-like names from a shared pool,
/// kernel frames at the tips and some JIT frames.
func generatedTree(nodes: Int, seed: UInt64 = 0x5EED) -> FlameTree {
    var state = seed
    func random(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(bound))
    }
    let modules = ["std", "boost::asio", "folly", "mysql", "v8::internal", "absl", "grpc::core", "net::http"]
    let verbs = ["run", "dispatch", "handle", "parse", "encode", "lookup", "flush", "poll", "read", "write"]
    let pool = (0..<6000).map { index in
        "\(modules[index % modules.count])::Component\(index / 40)::\(verbs[index % verbs.count])Impl<T\(index % 13)>(int, char const*)"
    }
    let kernel = (0..<400).map { "__x64_sys_call_\($0)" }
    let processes = (0..<40).map { "worker-\($0) (\(1000 + $0 * 17))" }
    var tree = FlameTree()
    while tree.nodeCount < nodes {
        // A few busy processes, hot paths that most stacks follow, and a long tail.
        let process = random(1 + random(processes.count))
        var node = tree.child(of: FlameTree.root, name: tree.intern(processes[process]), kind: .user)
        let depth = 4 + random(36)
        var previous = process * 97
        for level in 0..<depth {
            let hot = (previous &* 31 &+ 7) % pool.count
            previous = random(4) == 0 ? (previous + 1 + random(level < 6 ? 3 : 400)) % pool.count : hot
            let kind: FrameKind = random(50) == 0 ? .jit : .user
            node = tree.child(of: node, name: tree.intern(pool[previous]), kind: kind)
        }
        if random(3) == 0 {
            for _ in 0..<(1 + random(5)) {
                node = tree.child(of: node, name: tree.intern(kernel[random(kernel.count)]), kind: .kernel)
            }
        }
        tree.add(UInt64(1 + random(20)), to: node)
    }
    return tree
}

/// The nodes of `tree` in pre-order.
func preorder(_ tree: FlameTree) -> [Int32] {
    var order: [Int32] = []
    var stack: [Int32] = [FlameTree.root]
    while let node = stack.popLast() {
        order.append(node)
        stack.append(contentsOf: tree.children(of: node).reversed())
    }
    return order
}

@Suite struct CompactTreeEncoderTests {
    @Test func matchesGolden() {
        let expected = #"{"format":"flamed-compact-1","names":["all","bash (123)","main","write","say \"hi\" \\ there","java (7)","Interp\u003csvg/onload=1\u003e\u0026co","caf\u00e9 \ud83d\udd25","a;b\nc\r\td\u0001\u007f\u2028\b\f"],"nodes":[0,0,0,2,1,1,0,2,2,1,2,1,3,2,1,0,4,1,1,0,5,1,0,2,6,3,3,0,7,1,1,1,8,1,1,0]}"#
        #expect(text(CompactTreeEncoder.encode(sampleTree())) == expected)
    }

    @Test func leavesOutUnusedNamesAndNumbersByFirstUse() {
        var tree = FlameTree()
        _ = tree.intern("never used")
        let b = tree.child(of: FlameTree.root, name: tree.intern("b"), kind: .user)
        _ = tree.child(of: b, name: tree.intern("a"), kind: .kernel)
        _ = tree.child(of: FlameTree.root, name: tree.intern("a"), kind: .jit)
        tree.add(5, to: b)
        #expect(text(CompactTreeEncoder.encode(tree, escapeHTML: false))
            == #"{"format":"flamed-compact-1","names":["all","b","a"],"nodes":[0,0,0,2,1,1,5,1,2,2,0,0,2,3,0,0]}"#)
    }

    @Test func emptyTree() {
        #expect(text(CompactTreeEncoder.encode(FlameTree()))
            == #"{"format":"flamed-compact-1","names":["all"],"nodes":[0,0,0,0]}"#)
    }

    @Test func deepChainDoesNotRecurse() {
        let output = text(CompactTreeEncoder.encode(chain(depth: 20_000)))
        // The last of 20,000 frames is f0 (name 1), a kernel frame with one sample.
        let endsWithTheLeaf = output.hasSuffix(",1,0,1,1,2,1,0]}")
        let namesOnce = output.contains(#""names":["all","f0","f1","f2","f3","f4","f5","f6"],"nodes":[0,0,0,1,1,1,0,1,2,2,0,1,"#)
        #expect(endsWithTheLeaf)
        #expect(namesOnce)
        #expect(output.utf8.count < 20_001 * 9 + 100)
    }
}

@Suite struct HTMLRendererTests {
    static func hostileContext() -> ProfileContext {
        var context = ProfileContext(events: ["cpu-clock:ppp"], samples: 9, lost: 1)
        context.hostname = "host<svg/onload=1>"
        context.commandLine = #"perf record -- sh -c "echo </script><svg/onload=1> & é""#
        return context
    }

    static func page(title: String = "flamed") -> String {
        text(HTMLRenderer.render(sampleTree(), context: hostileContext(), title: title))
    }

    /// The text of the `<script>` element with the given id.
    static func script(_ id: String, in page: String) -> String? {
        let open = #"<script type="application/json" id="\#(id)">"#
        guard let start = page.range(of: open), let end = page.range(of: "</script>", range: start.upperBound..<page.endIndex)
        else { return nil }
        return String(page[start.upperBound..<end.lowerBound])
    }

    /// The text between `open` and the next `close`.
    static func element(_ open: String, _ close: String, in page: String) -> String? {
        guard let start = page.range(of: open), let end = page.range(of: close, range: start.upperBound..<page.endIndex)
        else { return nil }
        return String(page[start.upperBound..<end.lowerBound])
    }

    /// Decodes the embedded compact data and checks it against `tree`, node by node.
    static func expectRoundTrip(_ tree: FlameTree, page: String) throws {
        let embedded = try #require(script("flamed-data", in: page))
        let json = try JSONReader.parse(Array(embedded.utf8))
        #expect(json["format"] == .string("flamed-compact-1"))
        guard case let .array(names)? = json["names"], case let .array(flat)? = json["nodes"] else {
            Issue.record("no names or nodes")
            return
        }
        let order = preorder(tree)
        try #require(flat.count == order.count * 4)
        var usedNames = Set<String>()
        for (position, node) in order.enumerated() {
            guard case let .number(nameIndex) = flat[position * 4],
                  case let .number(kind) = flat[position * 4 + 1],
                  case let .number(value) = flat[position * 4 + 2],
                  case let .number(children) = flat[position * 4 + 3],
                  Int(nameIndex) < names.count, case let .string(name) = names[Int(nameIndex)]
            else {
                Issue.record("node \(position) is malformed")
                return
            }
            #expect(name == tree.name(of: node))
            #expect(kind == UInt64(tree.nodeKind[Int(node)].rawValue))
            #expect(value == tree.nodeValue[Int(node)])
            #expect(children == UInt64(tree.children(of: node).count))
            usedNames.insert(name)
        }
        #expect(names.count == usedNames.count, "each name once, and only names in use")
    }

    @Test func hostileNamesNeverAppearRaw() {
        let html = Self.page()
        #expect(!html.contains("<svg/onload=1>"))
        #expect(!html.lowercased().contains("<svg"))
        #expect(!html.contains("</script><svg"))
        #expect(html.contains(#"Interp\u003csvg/onload=1\u003e\u0026co"#))
    }

    @Test func linksNothingOutside() throws {
        let html = Self.page().lowercased()
        #expect(!html.contains("http://"))
        #expect(!html.contains("https://"))
        #expect(!html.contains("src="))
        #expect(!html.contains("href="))
        #expect(!html.contains("@import"))
        #expect(!html.contains("fetch("))
        #expect(!html.contains("xmlhttprequest"))
        #expect(!html.contains("websocket"))
        let css = try #require(Self.element("<style>", "</style>", in: html))
        #expect(!css.contains("url("))
        #expect(!css.contains("@font-face"))
    }

    @Test func embedsTheData() throws {
        let html = Self.page()
        try Self.expectRoundTrip(sampleTree(), page: html)
        #expect(html.contains(#"<script type="application/json" id="flamed-data">{"format":"flamed-compact-1","#))
        #expect(html.contains(#"<script type="application/json" id="flamed-context">"#))
    }

    @Test func dataRoundTripsForAGeneratedTree() throws {
        let tree = generatedTree(nodes: 3000)
        try Self.expectRoundTrip(tree, page: text(HTMLRenderer.render(tree, context: ProfileContext())))
    }

    @Test func embeddedDataIsASCIIAndInert() throws {
        let html = Self.page()
        let data = try #require(Self.script("flamed-data", in: html))
        #expect(data.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
        #expect(!data.contains("<") && !data.contains(">") && !data.contains("&"))
    }

    @Test func isNoLargerThanPerfJSONForLargeTrees() {
        let tree = generatedTree(nodes: 20_000)
        #expect(tree.nodeCount >= 20_000)
        let html = HTMLRenderer.render(tree, context: ProfileContext())
        let json = JSONRenderer.render(tree)
        #expect(html.count <= json.count, "HTML \(html.count) bytes, JSON \(json.count) bytes")
    }

    @Test func embedsTheContext() throws {
        let context = Self.hostileContext()
        let html = Self.page()
        let embedded = try #require(Self.script("flamed-context", in: html))
        #expect(!embedded.contains("<") && !embedded.contains(">") && !embedded.contains("&"))
        let expected = JSONValue.array(context.fields.map { .array([.string($0.0), .string($0.1)]) })
        #expect(try JSONReader.parse(Array(embedded.utf8)) == expected)
        #expect(embedded.hasPrefix(#"[["host", "host\u003csvg/onload=1\u003e"], ["#))
    }

    @Test func scriptElementsAreNotBrokenOut() {
        let html = Self.page()
        #expect(html.components(separatedBy: "</script>").count - 1 == 3)
        #expect(html.components(separatedBy: "<script").count - 1 == 3)
        #expect(html.components(separatedBy: "</style>").count - 1 == 1)
    }

    @Test func escapesTheTitle() {
        let html = Self.page(title: #"<b>"x"</b> & 'y'"#)
        #expect(html.contains("<title>&lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; &#39;y&#39;</title>"))
        #expect(!html.contains("<b>\""))
        #expect(!html.contains("<b>x"))
    }

    @Test func fillsEveryPlaceholder() {
        let html = text(HTMLRenderer.render(sampleTree(), context: ProfileContext(), colorScheme: "orange"))
        for key in ["TITLE", "CSS", "JS", "DATA", "CONTEXT", "SCHEME"] {
            #expect(!html.contains("{{\(key)}}"))
        }
        #expect(html.contains(#"data-scheme="orange""#))
        #expect(html.contains("<title>flamed</title>"))
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.hasSuffix("</html>\n"))
    }

    @Test func hasTheTestContract() {
        let html = Self.page()
        for element in [
            #"<canvas id="flame""#, #"<div id="chart">"#, #"<input type="search" id="search""#,
            #"<input type="checkbox" id="search-regex">"#, #"<input type="checkbox" id="search-case">"#,
            #"<span id="matched""#, #"<button type="button" id="reset""#, #"<select id="view""#,
            #"<option value="flame">"#, #"<option value="icicle">"#, #"<option value="reversed">"#,
            #"<select id="process"><option value="">"#, #"<div id="status">"#, #"<div id="help""#,
            #"<dl id="context">"#, #"<button type="button" id="export-json""#,
            #"<button type="button" id="export-folded""#,
        ] {
            #expect(html.contains(element), "missing \(element)")
        }
        #expect(html.contains("window, \"flamedViewer\""))
        #expect(html.contains("performance.mark(\"flamed-first-paint\")"))
    }

    @Test func viewerNeverParsesMarkup() {
        let html = Self.page()
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"] {
            #expect(!html.contains(sink), "viewer uses \(sink)")
        }
        #expect(html.contains("JSON.parse"))
    }

    @Test func deepChainRenders() throws {
        let tree = chain(depth: 20_000)
        let html = text(HTMLRenderer.render(tree, context: ProfileContext()))
        #expect(html.count > 20_000 * 8)
        try Self.expectRoundTrip(tree, page: html)
    }

    @Test(.requires(.python3)) func embeddedViewerIsUpToDate() throws {
        let result = try run(["python3", "scripts/embed-viewer", "--check"])
        #expect(result.status == 0, "run scripts/embed-viewer to regenerate ViewerAssets.generated.swift")
    }

    /// With FLAMED_VIEWER_PAGES set to a directory, writes sample pages there for checking the
    /// viewer by hand or in a browser: the sample tree, a deep chain and generated trees.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FLAMED_VIEWER_PAGES"] != nil))
    func writeSamplePages() throws {
        let directory = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment["FLAMED_VIEWER_PAGES"]))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func write(_ name: String, _ tree: FlameTree, scheme: String = "blue-green") throws {
            var context = Self.hostileContext()
            context.samples = tree.totals()[0]
            let page = HTMLRenderer.render(tree, context: context, title: "flamed: \(name)", colorScheme: scheme)
            try Data(page).write(to: directory.appendingPathComponent("\(name).html"))
            try Data(JSONRenderer.render(tree)).write(to: directory.appendingPathComponent("\(name).json"))
            try Data(FoldedRenderer.render(tree)).write(to: directory.appendingPathComponent("\(name).folded"))
        }
        try write("sample", sampleTree())
        try write("sample-orange", sampleTree(), scheme: "orange")
        try write("chain", chain(depth: 20_000))
        try write("empty", FlameTree())
        try write("g20k", generatedTree(nodes: 20_000))
        try write("g60k", generatedTree(nodes: 65_000), scheme: "orange")
        try write("g200k", generatedTree(nodes: 200_000))
    }
}
