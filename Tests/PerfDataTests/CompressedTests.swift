import FlamedSystem
import FlamedTestSupport
import Foundation
import PerfDataBuilder
import Testing
@testable import PerfData

/// The zstd command, when installed: used to make real compressed frames.
let zstdTool: String? = Requirement.zstd.path

/// Compresses `data` with the zstd command into one frame.
func zstdCompress(_ data: [UInt8], level: Int = 19) throws -> [UInt8] {
    let tool = try #require(zstdTool)
    let directory = FileManager.default.temporaryDirectory
    let input = directory.appendingPathComponent("perfdata-zstd-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
    try Data(data).write(to: input)
    defer { try? FileManager.default.removeItem(at: input) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = ["-q", "-c", "-\(level)", input.path]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let compressed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    return [UInt8](compressed)
}

/// Splits `payload` into COMPRESSED records of at most `chunk` bytes, as perf record -z does
/// when a compressed stream does not fit one record.
func compressedRecords(_ payload: [UInt8], chunk: Int) -> [[UInt8]] {
    stride(from: 0, to: payload.count, by: chunk).map { compressedRecord(Array(payload[$0..<min(payload.count, $0 + chunk)])) }
}

@Suite("COMPRESSED records")
struct CompressedTests {
    /// Records to compress: a COMM at time 0, then samples and an MMAP out of time order.
    static let inner: [[UInt8]] = [
        marker("inner"),
        timed(30),
        mmapRecord(pid: 1, tid: 1, start: 0x1000, length: 0x1000, pageOffset: 0, filename: "/usr/lib/libz.so.1",
                   trailer: sampleID(orderedType, pid: 1, tid: 1, time: 5)),
        sample(orderedType, ip: 0x401000, pid: 1, tid: 1, time: 10),
    ]
    static let innerBytes = inner.flatMap { $0 }
    static let innerLabels = ["comm:inner", "mmap:/usr/lib/libz.so.1", "s10", "s15", "s30"]

    @Test("One frame with several records, sorted together with the plain records")
    func singleFrame() throws {
        let (reader, records) = try readAll(singleEventFile(orderedAttr, [
            compressedRecord(ZstdFrame.raw(Self.innerBytes)),
            timed(15),
        ]))
        #expect(records.map(\.label) == Self.innerLabels)
        #expect(reader.compressedRecords == 1)
        #expect(reader.warnings.isEmpty)
        #expect(records.compactMap(\.sample).first?.ip == 0x401000)
    }

    @Test("A record split across two COMPRESSED records (two frames), at every split point")
    func recordSplitAcrossFrames() throws {
        for split in 1..<Self.innerBytes.count {
            let (reader, records) = try readAll(singleEventFile(orderedAttr, [
                compressedRecord(ZstdFrame.raw(Array(Self.innerBytes[..<split]))),
                timed(15),
                compressedRecord(ZstdFrame.raw(Array(Self.innerBytes[split...]))),
            ]))
            #expect(records.map(\.label) == Self.innerLabels, "split at \(split)")
            #expect(reader.compressedRecords == 2)
            #expect(reader.warnings.isEmpty, "split at \(split): \(reader.warnings)")
        }
    }

    @Test("One zstd frame split across two COMPRESSED records, at every split point")
    func frameSplitAcrossRecords() throws {
        let frame = ZstdFrame.frame([.raw(Array(Self.innerBytes[..<50])), .raw(Array(Self.innerBytes[50...]))])
        for split in 1..<frame.count {
            let (reader, records) = try readAll(singleEventFile(orderedAttr, [
                compressedRecord(Array(frame[..<split])),
                compressedRecord(Array(frame[split...])),
                timed(15),
            ]))
            #expect(records.map(\.label) == Self.innerLabels, "split at \(split)")
            #expect(reader.warnings.isEmpty, "split at \(split): \(reader.warnings)")
        }
    }

    @Test("A record split over three frames, with empty frames between")
    func recordOverThreeFrames() throws {
        let record = sample(orderedType | SampleFormat.callchain, ip: 1, pid: 1, tid: 1, time: 10, callchain: Array(1...20))
        let attr = Attr(sampleType: orderedType | SampleFormat.callchain, flags: Attr.sampleIDAllFlag)
        let (reader, records) = try readAll(singleEventFile(attr, [
            compressedRecord(ZstdFrame.raw(Array(record[..<10]))),
            compressedRecord(ZstdFrame.raw([])),
            compressedRecord(ZstdFrame.raw(Array(record[10..<100]))),
            compressedRecord(ZstdFrame.raw(Array(record[100...]))),
        ]))
        #expect(records.first?.sample?.callchain?.entries == Array(1...20))
        #expect(reader.compressedRecords == 4)
        #expect(reader.warnings.isEmpty)
    }

    @Test("FINISHED_ROUND inside compressed data flushes like a plain one")
    func roundInsideCompressed() throws {
        let inner = [timed(20), timed(10), finishedRound(), timed(30), finishedRound(), marker("m")].flatMap { $0 }
        let (_, records) = try readAll(singleEventFile(orderedAttr, [compressedRecord(ZstdFrame.raw(inner)), timed(5)]))
        #expect(records.map(\.label) == ["s10", "s20", "comm:m", "s5", "s30"])
    }

    @Test("RLE blocks, and output larger than the decompressor's 128 KiB chunk", arguments: [60, 63, 64, 65, 100, 127, 128, 129, 200])
    func largeOutput(fillerRecords: Int) throws {
        // 0x08 repeated is a record of type 0x08080808 and size 0x0808: unknown, skipped by size.
        let filler = 0x0808 * fillerRecords
        let tail = [marker("after-filler"), timed(7)].flatMap { $0 }
        var blocks: [ZstdFrame.Block] = []
        var left = filler
        while left > 0 {
            blocks.append(.rle(0x08, count: min(left, 1 << 17)))
            left -= min(left, 1 << 17)
        }
        let frame = ZstdFrame.frame(blocks + [.raw(tail)])
        let (reader, records) = try readAll(singleEventFile(orderedAttr, [compressedRecord(frame), marker("plain")]))
        #expect(records.map(\.label) == ["comm:after-filler", "comm:plain", "s7"])
        #expect(reader.skippedRecords == fillerRecords)
        #expect(reader.warnings.isEmpty, "\(reader.warnings)")
    }

    @Test("Compressed data that ends inside a record: warning, the records before it are kept")
    func endsInsideRecord() throws {
        let inner = [marker("a"), timed(10)].flatMap { $0 }
        let (reader, records) = try readAll(singleEventFile(orderedAttr, [
            compressedRecord(ZstdFrame.raw(inner + Array(timed(20).prefix(12)))),
        ]))
        #expect(records.map(\.label) == ["comm:a", "s10"])
        #expect(reader.warnings == ["compressed data ends inside a record (12 bytes left over); they are ignored"])
    }

    @Test("Compressed data that ends inside a zstd frame before any output: the loss is reported")
    func endsInsideFrame() throws {
        let frame = ZstdFrame.raw([marker("a"), timed(10)].flatMap { $0 })
        let (reader, records) = try readAll(singleEventFile(orderedAttr, [compressedRecord(Array(frame[..<12])), marker("plain")]))
        #expect(records.map(\.label) == ["comm:plain"])
        do {
            #expect(!reader.warnings.isEmpty)
        }
    }

    @Test("Corrupt compressed data is an error at the COMPRESSED record's offset")
    func corrupt() throws {
        let built = PerfFileBuilder(attrs: [orderedAttr], records: [
            // A frame header, then a block of the reserved block type 3.
            timed(1), compressedRecord([0x28, 0xB5, 0x2F, 0xFD, 0xA0, 8, 0, 0, 0, 0x47, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ]).build()
        expectPerfError(.compression, at: built.recordOffsets[1], messageContains: "zstd: ") { try parseAndRead(built.bytes) }
        let notZstd = PerfFileBuilder(attrs: [orderedAttr], records: [compressedRecord(Array("not zstd at all!".utf8))]).build()
        expectPerfError(.compression, at: notZstd.recordOffsets[0]) { try parseAndRead(notZstd.bytes) }
    }

    @Test("Errors in decompressed records give the COMPRESSED record's offset")
    func errorInsideCompressed() throws {
        let inner = timed(1) + le32(9) + le16(0) + le16(4)  // a record of size 4
        let built = PerfFileBuilder(attrs: [orderedAttr], records: [timed(2), compressedRecord(ZstdFrame.raw(inner))]).build()
        expectPerfError(.badRecordSize, at: built.recordOffsets[1], messageContains: "size 4") { try parseAndRead(built.bytes) }

        let short = record(RecordType.mmap, [UInt8](repeating: 0, count: 16))
        let built2 = PerfFileBuilder(attrs: [Attr(sampleType: SampleFormat.ip)], records: [compressedRecord(ZstdFrame.raw(short))]).build()
        expectPerfError(.badRecord, at: built2.recordOffsets[0], messageContains: "MMAP") { try parseAndRead(built2.bytes) }
    }

    @Test("Pipe mode: COMPRESSED records after the HEADER_ATTR")
    func pipeCompressed() throws {
        let (reader, records) = try readAll(pipeStream([
            headerAttrRecord(orderedAttr),
            compressedRecord(ZstdFrame.raw(Array(Self.innerBytes.prefix(40)))),
            timed(15),
            compressedRecord(ZstdFrame.raw(Array(Self.innerBytes.dropFirst(40)))),
        ]))
        #expect(records.map(\.label) == Self.innerLabels)
        #expect(reader.compressedRecords == 2)
    }

    @Test("Real zstd frames made by the zstd tool, split over COMPRESSED records", .requires(.zstd))
    func realZstd() throws {
        let type = orderedType | SampleFormat.callchain
        let attr = Attr(sampleType: type, flags: Attr.sampleIDAllFlag)
        var inner: [UInt8] = []
        var expected: [UInt64] = []
        for i in 0..<3000 {
            let time = UInt64(1000 + (i * 7919) % 3000)
            inner += sample(type, ip: UInt64(i), pid: 100, tid: 100, time: time,
                            callchain: [CallchainContext.user, 0x401000 + UInt64(i % 13), 0x402000 + UInt64(i % 7)])
            expected.append(time)
        }
        let half = inner.count / 2
        let first = try zstdCompress(Array(inner[..<half]))
        let second = try zstdCompress(Array(inner[half...]), level: 1)
        let (reader, records) = try readAll(singleEventFile(attr, compressedRecords(first, chunk: 1000) + compressedRecords(second, chunk: 60000)))
        let samples = records.compactMap(\.sample)
        #expect(samples.count == 3000)
        #expect(samples.map(\.time) == expected.sorted())
        #expect(samples.allSatisfy { $0.callchain?.count == 3 })
        #expect(reader.warnings.isEmpty)
        #expect(reader.compressedRecords == (first.count + 999) / 1000 + (second.count + 59999) / 60000)
    }

    @Test("One COMPRESSED record whose frame inflates to far more than one output chunk (perf -z under load)",
          .requires(.zstd))
    func largeFrameInOneRecord() throws {
        let type = orderedType | SampleFormat.callchain
        let attr = Attr(sampleType: type, flags: Attr.sampleIDAllFlag)
        var inner: [UInt8] = []
        for i in 0..<12000 {
            inner += sample(type, ip: UInt64(i), pid: 100, tid: 100, time: UInt64(1000 + i),
                            callchain: [CallchainContext.user, 0x401000 + UInt64(i % 13), 0x402000 + UInt64(i % 7)])
        }
        #expect(inner.count > 4 * (1 << 17), "the frame must inflate to several 128 KiB output chunks")
        let frame = try zstdCompress(inner)
        let (reader, records) = try readAll(singleEventFile(attr, compressedRecords(frame, chunk: 60000)))
        #expect(records.compactMap(\.sample).count == 12000)
        #expect(reader.warnings.isEmpty, "\(reader.warnings)")
    }
}
