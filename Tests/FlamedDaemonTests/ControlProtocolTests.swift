import FlameGraph
import FlameRender
@testable import FlamedDaemon
import Testing

// The control protocol: typed commands to one JSON line and back, and hostile lines that
// must each become a one-line error, never a crash.

/// The bytes of `text`, for lines written out by hand.
private func line(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The error decoding `bytes` gives, or nil (and a failed expectation) if it decodes.
private func refusal(_ bytes: [UInt8]) -> String? {
    switch ControlCommand.decode(bytes) {
    case .success(let command):
        Issue.record("decoded to \(command)")
        return nil
    case .failure(let error):
        #expect(!error.description.contains("\n"))
        return error.description
    }
}

@Test func commandsRoundTrip() throws {
    let filtered = ProcessFilter(pids: [7, 1234], comm: "java \"x\"\n", container: "1a2b3c4d5e6f")
    let commands: [ControlCommand] = [
        .status,
        .snapshot(SnapshotRequest()),
        .snapshot(SnapshotRequest(format: .folded, window: .seconds(30), processes: filtered)),
        .snapshot(SnapshotRequest(format: .json, window: .milliseconds(1), processes: ProcessFilter(pids: []))),
    ] + OutputFormat.allCases.map { .snapshot(SnapshotRequest(format: $0, window: .seconds(5400))) }
    for command in commands {
        let bytes = command.encoded()
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") }, "one line")
        #expect(try ControlCommand.decode(Array(bytes.dropLast())).get() == command)
    }
}

@Test func wireShapeIsFlatJSON() {
    #expect(ControlCommand.status.encoded() == line("{\"command\":\"status\"}\n"))
    let request = SnapshotRequest(format: .json, window: .seconds(30), processes: ProcessFilter(pids: [7], comm: "sh"))
    #expect(ControlCommand.snapshot(request).encoded()
        == line("{\"comm\":\"sh\",\"command\":\"snapshot\",\"format\":\"json\",\"pids\":[7],\"windowMilliseconds\":30000}\n"))
}

@Test func decodingFillsDefaultsAndIgnoresUnknownKeys() throws {
    #expect(try ControlCommand.decode(line(#"{"command":"snapshot"}"#)).get() == .snapshot(SnapshotRequest()))
    #expect(try ControlCommand.decode(line(#"{"command":"status","format":"svg","extra":[1,{"a":null}]}"#)).get() == .status)
    #expect(try ControlCommand.decode(line(#" { "windowMilliseconds" : 1500 , "command" : "snapshot" } "#)).get()
        == .snapshot(SnapshotRequest(window: .milliseconds(1500))))
}

/// A hostile line and text its error must contain.
struct HostileLine: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let message: String
    var testDescription: String { name }
}

@Test(arguments: [
    HostileLine(name: "empty", bytes: [], message: "bad request: expected one line of JSON"),
    HostileLine(name: "garbage", bytes: line("snapshot please"), message: "bad request: expected one line of JSON"),
    HostileLine(name: "binary", bytes: [0, 0xFF, 0xFE, 0x80, 0x7B], message: "bad request: expected one line of JSON"),
    HostileLine(name: "invalid UTF-8 in a string", bytes: line(#"{"command":""#) + [0xC3, 0x28] + line(#""}"#),
                message: "bad request: expected one line of JSON"),
    HostileLine(name: "not an object", bytes: line(#"["status"]"#), message: "bad request: expected one line of JSON"),
    HostileLine(name: "no command", bytes: line(#"{"format":"html"}"#), message: "bad request: expected one line of JSON"),
    HostileLine(name: "command of the wrong type", bytes: line(#"{"command":1}"#), message: "bad request: expected one line of JSON"),
    HostileLine(name: "truncated", bytes: line(#"{"command":"snap"#), message: "bad request: expected one line of JSON"),
    HostileLine(name: "deeply nested", bytes: line(#"{"command":"status","x":"# + String(repeating: "[", count: 4000)),
                message: "bad request: expected one line of JSON"),
    HostileLine(name: "unknown command", bytes: line(#"{"command":"shutdown"}"#), message: "unknown command 'shutdown'"),
    HostileLine(name: "command in another case", bytes: line(#"{"command":"Status"}"#), message: "unknown command 'Status'"),
    HostileLine(name: "long unknown command", bytes: line(#"{"command":""# + String(repeating: "x", count: 3000) + #""}"#),
                message: "unknown command '\(String(repeating: "x", count: 64))…'"),
    HostileLine(name: "unknown format", bytes: line(#"{"command":"snapshot","format":"svg"}"#),
                message: "unknown format 'svg'; use html, json or folded"),
    HostileLine(name: "format by extension", bytes: line(#"{"command":"snapshot","format":"htm"}"#),
                message: "unknown format 'htm'; use html, json or folded"),
    HostileLine(name: "format of the wrong type", bytes: line(#"{"command":"snapshot","format":["html"]}"#),
                message: "bad request: expected one line of JSON"),
    HostileLine(name: "negative window", bytes: line(#"{"command":"snapshot","windowMilliseconds":-30000}"#),
                message: "the window must be a positive duration"),
    HostileLine(name: "zero window", bytes: line(#"{"command":"snapshot","windowMilliseconds":0}"#),
                message: "the window must be a positive duration"),
    HostileLine(name: "fractional window", bytes: line(#"{"command":"snapshot","windowMilliseconds":0.5}"#),
                message: "bad request: expected one line of JSON"),
    HostileLine(name: "window beyond Int64", bytes: line(#"{"command":"snapshot","windowMilliseconds":1e300}"#),
                message: "bad request: expected one line of JSON"),
    HostileLine(name: "pid beyond Int32", bytes: line(#"{"command":"snapshot","pids":[4294967296]}"#),
                message: "bad request: expected one line of JSON"),
    HostileLine(name: "oversize", bytes: line(#"{"command":"status","pad":""# + String(repeating: " ", count: 4096) + #""}"#),
                message: "bad request: longer than 4096 bytes"),
])
func hostileLinesAreRefusedInOneLine(_ hostile: HostileLine) throws {
    let message = try #require(refusal(hostile.bytes))
    #expect(message == hostile.message)
    let reply = ControlReply.error(message)
    #expect(reply.starts(with: line("error ")) && reply.last == 10 && reply.dropLast().allSatisfy { $0 != 10 })
}

@Test func lineAtTheCapIsRead() throws {
    let head = #"{"command":"status","pad":""#
    let bytes = line(head + String(repeating: " ", count: ControlCommand.maximumSize - head.utf8.count - 2) + #""}"#)
    #expect(bytes.count == ControlCommand.maximumSize)
    #expect(try ControlCommand.decode(bytes).get() == .status)
}

@Test func repliesStayOneLine() {
    #expect(ControlReply.error("a\nb\rc") == line("error a b c\n"))
    #expect(ControlReply.ok(line("x\ny")) == line("ok 3\nx\ny"))
}
