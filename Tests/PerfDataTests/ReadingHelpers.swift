import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

// MARK: - Reading

/// Parses `bytes` and collects every record `readRecords` delivers.
func readAll(_ bytes: [UInt8]) throws -> (reader: PerfDataReader, records: [PerfRecord]) {
    let reader = try PerfDataReader(bytes: ByteView(bytes))
    var records: [PerfRecord] = []
    try reader.readRecords { records.append($0) }
    return (reader, records)
}

extension PerfRecord {
    var sample: SampleRecord? { if case .sample(let s) = self { return s } else { return nil } }
    var mmap: MmapRecord? { if case .mmap(let m) = self { return m } else { return nil } }
    var comm: CommRecord? { if case .comm(let c) = self { return c } else { return nil } }

    /// A short label for order checks: "s<time>" for samples (or "s#<ip>" without time),
    /// "mmap:<file>", "comm:<name>", …
    var label: String {
        switch self {
        case .sample(let s): return s.time != 0 ? "s\(s.time)" : "s#\(s.ip)"
        case .mmap(let m): return "mmap:\(m.filename)"
        case .comm(let c): return "comm:\(c.name)"
        case .fork(let t): return "fork:\(t.tid)"
        case .exit(let t): return "exit:\(t.tid)"
        case .lost(let n): return "lost:\(n)"
        case .lostSamples(let n): return "lostSamples:\(n)"
        case .throttle(let on): return on ? "throttle" : "unthrottle"
        case .ksymbol(let k): return "ksymbol:\(k.name)"
        }
    }
}

/// Checks that `body` throws a `PerfDataError` of `kind` at `offset`, and that its
/// description names the offset in hex.
@discardableResult
func expectPerfError(_ kind: PerfDataError.Kind, at offset: Int?, messageContains fragment: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws -> Void) -> PerfDataError? {
    let error = #expect(throws: PerfDataError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return nil }
    #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    #expect(error.offset == offset, "\(error)", sourceLocation: sourceLocation)
    if let offset {
        #expect(error.description.contains("at offset 0x\(String(offset, radix: 16)):"), "\(error)",
                sourceLocation: sourceLocation)
    }
    #expect(error.description.contains(kind.rawValue), sourceLocation: sourceLocation)
    if let fragment {
        #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
    }
    return error
}

/// Parses the header and reads every record, as the report pipeline does.
func parseAndRead(_ bytes: [UInt8]) throws {
    let reader = try PerfDataReader(bytes: ByteView(bytes))
    try reader.readRecords { _ in }
}
