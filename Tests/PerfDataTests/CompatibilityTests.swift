import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

/// Records whose payload is not counted in header.size, and newer record types. perf reads
/// them; these tests show where the reader does not yet.
@Suite("Records perf writes that need more than header.size")
struct CompatibilityTests {
    @Test("COMPRESSED2 (type 83, perf 6.15+): u64 data_size, then the zstd data padded to 8 bytes")
    func compressed2() throws {
        let frame = ZstdFrame.raw([marker("inside"), timed(10)].flatMap { $0 })
        var body = le64(UInt64(frame.count)) + frame
        while (8 + body.count) % 8 != 0 { body.append(0) }
        let (reader, records) = try readAll(singleEventFile(orderedAttr, [record(83, body), timed(20)]))
        do {
            #expect(records.map(\.label) == ["comm:inside", "s10", "s20"])
            #expect(reader.skippedRecords == 0)
        }
    }

    @Test("AUXTRACE (type 71): its `size` bytes of trace data follow the record")
    func auxtrace() throws {
        var header = ByteWriter()
        header.u64(16)            // size of the AUX data that follows
        header.u64(0)             // offset
        header.u64(0x1234)        // reference
        header.u32(0); header.u32(1); header.u32(0); header.u32(0)  // idx, tid, cpu, reserved
        let aux = [UInt8](repeating: 0, count: 16)
        let built = PerfFileBuilder(attrs: [orderedAttr], records: [record(71, header.bytes) + aux, marker("after")]).build()
        var error: (any Error)?
        var labels: [String] = []
        do { labels = try readAll(built.bytes).records.map(\.label) } catch let caught { error = caught }
        do {
            #expect(error == nil, "\(String(describing: error))")
            #expect(labels == ["comm:after"])
        }
    }

    @Test("Pipe mode: HEADER_TRACING_DATA (type 66) is followed by its `size` bytes of tracing data")
    func tracingData() throws {
        let data = Array("tracing data for".utf8)  // 16 bytes, already 8-aligned
        let stream = pipeStream([headerAttrRecord(orderedAttr), record(RecordType.headerTracingData, le32(UInt32(data.count))) + data, marker("after")])
        let (reader, records) = try readAll(stream)
        do {
            #expect(records.map(\.label) == ["comm:after"])
            #expect(reader.warnings.isEmpty, "\(reader.warnings)")
        }
    }
}
