import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

/// A small valid file with one event and three records.
func smallFile(records: [[UInt8]]? = nil) -> BuiltFile {
    PerfFileBuilder(attrs: [Attr(sampleType: orderedType, flags: Attr.sampleIDAllFlag, ids: [1, 2])],
                    records: records ?? [marker("a"), timed(10), timed(20)]).build()
}

@Suite("Errors")
struct ErrorTests {
    // MARK: Not perf.data

    @Test("An empty file")
    func empty() {
        expectPerfError(.notPerfData, at: 0, messageContains: "file is empty") { _ = try PerfDataReader(bytes: ByteView([])) }
    }

    @Test("Fewer than 8 bytes", arguments: 1..<8)
    func tooShort(count: Int) {
        expectPerfError(.notPerfData, at: 0, messageContains: "only \(count) bytes") {
            _ = try PerfDataReader(bytes: ByteView(Array(perfMagic.prefix(count))))
        }
    }

    @Test("A bad magic", arguments: ["PERFILE1", "PERFFILE", "\u{7F}ELF\u{2}\u{1}\u{1}\u{0}", "perfile2", "PERFILE2"])
    func badMagic(magic: String) {
        var bytes = smallFile().bytes
        bytes.replaceSubrange(0..<8, with: Array(magic.utf8))
        if magic == "PERFILE2" {
            #expect(throws: Never.self) { _ = try PerfDataReader(bytes: ByteView(bytes)) }
        } else {
            expectPerfError(.notPerfData, at: 0, messageContains: "bad magic (expected PERFILE2)") { _ = try PerfDataReader(bytes: ByteView(bytes)) }
        }
    }

    @Test("Byte-swapped magic (a big-endian machine's file) is refused with a clear message")
    func byteSwapped() {
        var bytes = Array("2ELIFREP".utf8)
        bytes += [0, 0, 0, 0, 0, 0, 0, 104] + [UInt8](repeating: 0, count: 96)
        let error = expectPerfError(.byteSwapped, at: 0, messageContains: "other byte order") { _ = try PerfDataReader(bytes: ByteView(bytes)) }
        #expect(error?.description.hasPrefix("byte-swapped perf.data at offset 0x0: ") == true)
        // Pipe form too.
        expectPerfError(.byteSwapped, at: 0) { _ = try PerfDataReader(bytes: ByteView(Array("2ELIFREP".utf8) + [0, 0, 0, 0, 0, 0, 0, 16])) }
    }

    // MARK: Header

    @Test("Magic but no header size", arguments: 8..<16)
    func noHeaderSize(count: Int) {
        expectPerfError(.truncatedHeader, at: 8, messageContains: "header size field missing") {
            _ = try PerfDataReader(bytes: ByteView(Array(smallFile().bytes.prefix(count))))
        }
    }

    @Test("Header size neither 16 nor at least 104", arguments: [UInt64(0), 8, 15, 17, 24, 64, 100, 103, 1 << 20, 1 << 40, UInt64.max])
    func badHeaderSize(size: UInt64) {
        var bytes = smallFile().bytes
        patch64(&bytes, at: 8, size)
        expectPerfError(.truncatedHeader, at: 8, messageContains: "header size \(size) is neither 16 (pipe) nor at least 104") {
            _ = try PerfDataReader(bytes: ByteView(bytes))
        }
    }

    @Test("A larger file header (a future perf) is accepted: sections are found by their offsets")
    func largerHeader() throws {
        var bytes = smallFile().bytes
        patch64(&bytes, at: 8, 112)
        let (reader, records) = try readAll(bytes)
        #expect(records.map(\.label) == ["comm:a", "s10", "s20"])
        #expect(reader.warnings.isEmpty)
    }

    @Test("A file header cut short", arguments: [16, 17, 50, 72, 103])
    func headerCutShort(count: Int) {
        expectPerfError(.truncatedHeader, at: count, messageContains: "file header needs 104 bytes, \(count) present") {
            _ = try PerfDataReader(bytes: ByteView(Array(smallFile().bytes.prefix(count))))
        }
    }

    @Test("The attrs section outside the file",
          arguments: [(0, 100_000), (100_000, 152), (UInt64.max, 152), (UInt64.max - 8, 16), (0, UInt64.max), (8, UInt64.max - 4)] as [(UInt64, UInt64)])
    func attrsOutside(offset: UInt64, size: UInt64) {
        var bytes = smallFile().bytes
        patch64(&bytes, at: 24, offset)
        patch64(&bytes, at: 32, size)
        expectPerfError(.truncatedHeader, at: 24, messageContains: "attrs section [0x\(String(offset, radix: 16)), +\(size)) lies beyond the end of the file (\(bytes.count) bytes)") {
            _ = try PerfDataReader(bytes: ByteView(bytes))
        }
    }

    @Test("The data section starting outside the file", arguments: [UInt64(1), 8, 1 << 40])
    func dataOutside(past: UInt64) {
        var bytes = smallFile().bytes
        patch64(&bytes, at: 40, UInt64(bytes.count) + past)
        expectPerfError(.truncatedHeader, at: 40, messageContains: "data section") { _ = try PerfDataReader(bytes: ByteView(bytes)) }
        patch64(&bytes, at: 48, 0)
        expectPerfError(.truncatedHeader, at: 40, messageContains: "beyond the end of the file") { _ = try PerfDataReader(bytes: ByteView(bytes)) }
    }

    @Test("An attr's id list outside the file, or not a whole number of ids",
          arguments: [(100_000, 8), (0, 100_000), (UInt64.max, 8), (8, UInt64.max), (104, 12), (104, 1)] as [(UInt64, UInt64)])
    func idsOutside(offset: UInt64, size: UInt64) {
        let built = PerfFileBuilder(attrs: [Attr(ids: [1]), Attr(ids: [2])], records: [timed(1)]).build()
        var bytes = built.bytes
        let field = built.attrsOffset + built.attrEntrySize + built.attrEntrySize - 16  // the second attr's ids
        patch64(&bytes, at: field, offset)
        patch64(&bytes, at: field + 8, size)
        expectPerfError(.badAttribute, at: field, messageContains: "id list of attr 1 lies outside the file") {
            _ = try PerfDataReader(bytes: ByteView(bytes))
        }
    }

    @Test("An implausible attr entry size", arguments: [UInt64(0), 16, 64, 79, 4097, 1 << 32, 1 << 62])
    func attrEntrySize(size: UInt64) {
        var bytes = smallFile().bytes
        patch64(&bytes, at: 16, size)
        expectPerfError(.badAttribute, at: 16, messageContains: "attr entry size \(size) is not plausible") {
            _ = try PerfDataReader(bytes: ByteView(bytes))
        }
    }

    @Test("The smallest plausible attr entry: a 64-byte attr and its ids section")
    func smallestAttrEntry() throws {
        var file = PerfFileBuilder(attrs: [Attr(sampleType: SampleFormat.ip, size: 64, ids: [3])], records: [sample(SampleFormat.ip, ip: 7)])
        file.attrLength = 64
        let (reader, records) = try readAll(file.build().bytes)
        #expect(reader.attrs.first?.ids == [3])
        #expect(records.first?.sample?.ip == 7)
    }

    @Test("An attrs section that is not a whole number of entries")
    func attrsNotMultiple() {
        let built = smallFile()
        var bytes = built.bytes
        patch64(&bytes, at: 32, UInt64(built.attrEntrySize + 8))
        expectPerfError(.badAttribute, at: built.attrsOffset, messageContains: "not a multiple of the entry size \(built.attrEntrySize)") {
            _ = try PerfDataReader(bytes: ByteView(bytes))
        }
    }

    @Test("attr.size larger than the entry, or smaller than 64", arguments: [UInt32(137), 200, 0xFFFF_FFFF, 63, 8, 1])
    func attrSizeField(size: UInt32) {
        let built = smallFile()
        var bytes = built.bytes
        patch32(&bytes, at: built.attrsOffset + 4, size)
        expectPerfError(.badAttribute, at: built.attrsOffset, messageContains: "attr.size \(size) outside 64...136") {
            _ = try PerfDataReader(bytes: ByteView(bytes))
        }
    }

    @Test("Files with no attrs: records need an event")
    func noAttrs() throws {
        var file = PerfFileBuilder(attrs: [], records: [finishedRound()])
        let reader = try PerfDataReader(bytes: ByteView(file.build().bytes))
        #expect(reader.attrs.isEmpty)
        try reader.readRecords { _ in Issue.record("no records expected") }
        file.records = [commRecord(pid: 1, tid: 1, name: "x")]
        let built = file.build()
        expectPerfError(.badRecord, at: built.recordOffsets[0], messageContains: "COMM record before any event attribute") {
            try parseAndRead(built.bytes)
        }
    }

    // MARK: Records

    @Test("A record size below 8 is an error naming its offset", arguments: [UInt16(0), 1, 4, 7])
    func badRecordSize(size: UInt16) {
        var records = [marker("a"), timed(10), record(RecordType.sample, [])]
        records[2] = le32(RecordType.sample) + le16(0) + le16(size)
        let built = smallFile(records: records + [timed(20)])
        expectPerfError(.badRecordSize, at: built.recordOffsets[2], messageContains: "record of type 9 has size \(size), less than its 8-byte header") {
            try parseAndRead(built.bytes)
        }
        let pipe = [headerAttrRecord(orderedAttr), timed(1), le32(3) + le16(0) + le16(size), timed(2)]
        expectPerfError(.badRecordSize, at: pipeOffsets(pipe)[2]) { try parseAndRead(pipeStream(pipe)) }
    }

    @Test("The records before an error have been delivered")
    func recordsBeforeError() {
        let built = smallFile(records: [marker("first"), le32(1) + le16(0) + le16(0)])
        var seen: [String] = []
        expectPerfError(.badRecordSize, at: built.recordOffsets[1]) {
            let reader = try PerfDataReader(bytes: ByteView(built.bytes))
            try reader.readRecords { seen.append($0.label) }
        }
        #expect(seen == ["comm:first"])
    }

    @Test("A sample too short for its sample_type", arguments: [false, true])
    func sampleTooShort(followed: Bool) {
        let type = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.period
        let attr = Attr(sampleType: type)
        let short = sample(SampleFormat.ip | SampleFormat.tid, ip: 1, pid: 2, tid: 3)
        let built = PerfFileBuilder(attrs: [attr], records: [sample(type, ip: 5, time: 5)] + [short] + (followed ? [sample(type, ip: 6, time: 6)] : [])).build()
        expectPerfError(.badSample, at: built.recordOffsets[1], messageContains: "SAMPLE needs TIME at byte 24, record has 24 bytes") {
            try parseAndRead(built.bytes)
        }
    }

    @Test("A sample with no room for its event id when there are several events")
    func sampleWithoutID() {
        let type = SampleFormat.identifier | SampleFormat.ip
        let built = PerfFileBuilder(attrs: [Attr(sampleType: type, ids: [1]), Attr(sampleType: type, ids: [2])],
                                    records: [record(RecordType.sample, le32(1))]).build()
        expectPerfError(.badSample, at: built.recordOffsets[0], messageContains: "has no event id") { try parseAndRead(built.bytes) }
        let noIDs = PerfFileBuilder(attrs: [Attr(sampleType: SampleFormat.ip), Attr(sampleType: SampleFormat.ip)],
                                    records: [sample(SampleFormat.ip, ip: 1)]).build()
        expectPerfError(.badSample, at: noIDs.recordOffsets[0], messageContains: "has no event id") { try parseAndRead(noIDs.bytes) }
    }

    @Test("A callchain whose nr is larger than the record", arguments: [UInt64(3), 1000, 1 << 61, UInt64.max])
    func callchainAbsurd(count: UInt64) {
        let type = SampleFormat.ip | SampleFormat.callchain
        var bytes = sample(type, ip: 1, callchain: [1, 2])
        patch64(&bytes, at: 16, count)
        let built = PerfFileBuilder(attrs: [Attr(sampleType: type)], records: [sample(type, ip: 9, callchain: [1]), bytes]).build()
        expectPerfError(.badSample, at: built.recordOffsets[1], messageContains: "callchain of \(count) entries") { try parseAndRead(built.bytes) }
    }

    @Test("A READ group whose nr is absurd", arguments: [UInt64(1 << 40), UInt64.max, 1 << 61])
    func readGroupAbsurd(count: UInt64) {
        let type = SampleFormat.ip | SampleFormat.read
        let attr = Attr(sampleType: type, readFormat: ReadFormat.group | ReadFormat.id)
        let built = PerfFileBuilder(attrs: [attr], records: [sample(type, ip: 1, read: [count, 1, 2])]).build()
        expectPerfError(.badSample, at: built.recordOffsets[0], messageContains: "READ group claims \(count) values") { try parseAndRead(built.bytes) }
    }

    @Test("READ values that do not fit the record", arguments: [
        (ReadFormat.group | ReadFormat.id, [4, 1, 2]),
        (ReadFormat.group | ReadFormat.totalTimeEnabled | ReadFormat.totalTimeRunning, [2, 1]),
        (ReadFormat.totalTimeEnabled | ReadFormat.id, [1, 2]),
        (ReadFormat.id | ReadFormat.lost, []),
    ] as [(UInt64, [UInt64])])
    func readTooShort(format: UInt64, words: [UInt64]) {
        let type = SampleFormat.ip | SampleFormat.read
        let built = PerfFileBuilder(attrs: [Attr(sampleType: type, readFormat: format)], records: [sample(type, ip: 1, read: words)]).build()
        expectPerfError(.badSample, at: built.recordOffsets[0], messageContains: "READ values need") { try parseAndRead(built.bytes) }
    }

    @Test("HEADER_ATTR shorter than an attr, or with an attr.size beyond the record")
    func headerAttrTooShort() {
        let short = [record(RecordType.headerAttr, [UInt8](repeating: 0, count: 32))]
        expectPerfError(.badAttribute, at: 16, messageContains: "HEADER_ATTR of 40 bytes is shorter than an attr") { try parseAndRead(pipeStream(short)) }
        var bytes = headerAttrRecord(Attr(size: 96))
        patch32(&bytes, at: 8 + 4, 200)
        expectPerfError(.badAttribute, at: 16, messageContains: "attr.size 200 outside 64...96") { try parseAndRead(pipeStream([bytes])) }
        let later = [headerAttrRecord(Attr()), commRecord(pid: 1, tid: 1, name: "x"), bytes]
        expectPerfError(.badAttribute, at: pipeOffsets(later)[2]) { try parseAndRead(pipeStream(later)) }
    }

    @Test("Pipe mode: a kernel record before any HEADER_ATTR")
    func pipeRecordBeforeAttr() {
        expectPerfError(.badRecord, at: 16, messageContains: "SAMPLE record before any event attribute") {
            try parseAndRead(pipeStream([sample(SampleFormat.ip, ip: 1), headerAttrRecord(Attr())]))
        }
    }

    @Test("ID_INDEX claiming more entries than it holds", arguments: [UInt64(2), 1000, UInt64.max])
    func idIndexAbsurd(count: UInt64) {
        var index = idIndexRecord([(id: 1, index: 0)])
        patch64(&index, at: 8, count)
        let built = smallFile(records: [marker("a"), index])
        expectPerfError(.badRecord, at: built.recordOffsets[1], messageContains: "ID_INDEX claims \(count) entries but has room for 1") {
            try parseAndRead(built.bytes)
        }
    }

    static let shortRecords: [(type: UInt32, bodySize: Int, needs: Int)] = [
        (RecordType.mmap, 16, 40), (RecordType.mmap, 31, 40), (RecordType.mmap2, 40, 72), (RecordType.mmap2, 63, 72),
        (RecordType.comm, 4, 16), (RecordType.fork, 16, 32), (RecordType.exit, 23, 32), (RecordType.lost, 8, 24),
        (RecordType.lostSamples, 0, 16), (RecordType.ksymbol, 8, 24),
    ]

    @Test("Kernel records too short for their fixed fields", arguments: 0..<shortRecords.count)
    func shortKernelRecords(index: Int) {
        let (type, bodySize, needs) = Self.shortRecords[index]
        let built = PerfFileBuilder(attrs: [Attr(sampleType: SampleFormat.ip)],
                                    records: [commRecord(pid: 1, tid: 1, name: "ok"), record(type, [UInt8](repeating: 1, count: bodySize))]).build()
        expectPerfError(.badRecord, at: built.recordOffsets[1], messageContains: "\(RecordType.name(type)) needs \(needs) bytes, record has \(8 + bodySize)") {
            try parseAndRead(built.bytes)
        }
    }

    @Test("A COMM or MMAP too short to hold its sample_id trailer")
    func recordShorterThanTrailer() {
        let type = SampleFormat.tid | SampleFormat.time | SampleFormat.id | SampleFormat.cpu
        let attr = Attr(sampleType: type, flags: Attr.sampleIDAllFlag)
        // 8 + 8 bytes of COMM body, 32 bytes of trailer expected: only 16 of them present.
        let comm = record(RecordType.comm, le32(1) + le32(1) + [UInt8](repeating: 0, count: 24))
        let built = PerfFileBuilder(attrs: [attr], records: [comm]).build()
        expectPerfError(.badRecord, at: built.recordOffsets[0], messageContains: "COMM needs 48 bytes") { try parseAndRead(built.bytes) }
        let mmap = record(RecordType.mmap, [UInt8](repeating: 0, count: 48))
        let built2 = PerfFileBuilder(attrs: [attr], records: [mmap]).build()
        expectPerfError(.badRecord, at: built2.recordOffsets[0], messageContains: "MMAP needs 72 bytes") { try parseAndRead(built2.bytes) }
    }

    @Test("Errors thrown by the handler pass through unchanged")
    func handlerErrors() {
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            let reader = try PerfDataReader(bytes: ByteView(smallFile().bytes))
            try reader.readRecords { _ in throw Stop() }
        }
    }

    // MARK: Damaged files that still read

    @Test("A record cut short at the end of the data: a warning and the records before it")
    func truncatedTail() throws {
        let cut = Array(timed(30).prefix(20))
        let built = smallFile(records: [marker("a"), timed(20), timed(10), cut])
        let (reader, records) = try readAll(built.bytes)
        #expect(records.map(\.label) == ["comm:a", "s10", "s20"])
        let offset = String(built.recordOffsets[3], radix: 16)
        #expect(reader.warnings == ["truncated record at offset 0x\(offset): SAMPLE needs 40 bytes, 20 left; the rest of the file is ignored"])
    }

    @Test("Fewer than 8 bytes left at the end of the data", arguments: 1..<8)
    func truncatedHeaderAtEnd(left: Int) throws {
        let built = smallFile(records: [marker("a"), timed(10), Array(timed(30).prefix(left))])
        let (reader, records) = try readAll(built.bytes)
        #expect(records.map(\.label) == ["comm:a", "s10"])
        #expect(reader.warnings == ["truncated record at offset 0x\(String(built.recordOffsets[2], radix: 16)): header needs 8 bytes, \(left) left; the rest of the file is ignored"])
    }

    @Test("A file cut inside its data section: warning, records up to the cut")
    func fileCutShort() throws {
        let built = smallFile(records: [marker("a"), timed(10), timed(20), timed(30)])
        let bytes = Array(built.bytes.prefix(built.recordOffsets[3] + 12))
        let (reader, records) = try readAll(bytes)
        #expect(records.map(\.label) == ["comm:a", "s10", "s20"])
        #expect(reader.warnings.count == 2)
        #expect(reader.warnings.first == "the data section is cut short (header says \(built.dataSize) bytes, \(built.dataSize - 28) present): the file is truncated")
        #expect(reader.warnings.last?.hasPrefix("truncated record at offset 0x\(String(built.recordOffsets[3], radix: 16)): SAMPLE needs 40 bytes, 12 left") == true)
        #expect(reader.dataSize == built.dataSize - 28)
    }

    @Test("A data size of 0 in the header (perf was killed): read to the end of the file, with a warning")
    func dataSizeZero() throws {
        var file = PerfFileBuilder(attrs: [orderedAttr], records: [marker("a"), timed(20), timed(10)])
        file.headerDataSize = 0
        let built = file.build()
        let (reader, records) = try readAll(built.bytes)
        #expect(records.map(\.label) == ["comm:a", "s10", "s20"])
        #expect(reader.warnings == ["the data size in the header is 0: perf record did not finish writing this file; reading to its end"])
        #expect(reader.dataSize == built.dataSize)
        // And when the kill also cut a record:
        let (reader2, records2) = try readAll(Array(built.bytes.dropLast(3)))
        #expect(records2.map(\.label) == ["comm:a", "s20"])
        #expect(reader2.warnings.count == 2)
    }

    @Test("Pipe mode: a stream cut inside a record")
    func pipeTruncated() throws {
        let records = [headerAttrRecord(orderedAttr), timed(20), marker("m"), timed(10)]
        let stream = pipeStream(records)
        let (reader, delivered) = try readAll(Array(stream.dropLast(1)))
        #expect(delivered.map(\.label) == ["comm:m", "s20"])
        #expect(reader.warnings == ["truncated record at offset 0x\(String(pipeOffsets(records)[3], radix: 16)): SAMPLE needs 40 bytes, 39 left; the rest of the file is ignored"])
        #expect(reader.isPipe)
        // Just the pipe header: no records, no warnings.
        let (empty, none) = try readAll(perfMagic + le64(16))
        #expect(none.isEmpty)
        #expect(empty.warnings.isEmpty)
        #expect(empty.attrs.isEmpty)
    }

    @Test("Progress is reported with the data section's size")
    func progress() throws {
        let type = SampleFormat.ip | SampleFormat.callchain
        let one = sample(type, ip: 1, callchain: Array(1...30))  // 264 bytes
        let built = PerfFileBuilder(attrs: [Attr(sampleType: type)], records: Array(repeating: one, count: 40_000)).build()
        let reader = try PerfDataReader(bytes: ByteView(built.bytes))
        var reports: [(Int, Int)] = []
        var count = 0
        try reader.readRecords(progress: { reports.append(($0, $1)) }) { _ in count += 1 }
        #expect(count == 40_000)
        #expect(!reports.isEmpty)
        #expect(reports.allSatisfy { $0.1 == built.dataSize && $0.0 > 0 && $0.0 <= built.dataSize })
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 < $1.0 })
    }
}

// MARK: - Crashes on hostile headers

// Each runs in a child process: a trap there fails the test without stopping the others.

func parseWithHeaderField(_ offset: Int, _ value: UInt64, alsoDataSize: UInt64? = nil) {
    var bytes = smallFile().bytes
    patch64(&bytes, at: offset, value)
    if let alsoDataSize { patch64(&bytes, at: 48, alsoDataSize) }
    do {
        let reader = try PerfDataReader(bytes: ByteView(bytes))
        try reader.readRecords { _ in }
    } catch {}
}

@Suite("Hostile header fields must throw, not trap")
struct HostileHeaderTests {
    @Test("attr_size of 2^63 or more")
    func hugeAttrSize() async {
        do {
            await #expect(processExitsWith: .success) { parseWithHeaderField(16, 1 << 63) }
            await #expect(processExitsWith: .success) { parseWithHeaderField(16, UInt64.max) }
        }
    }

    @Test("data offset of 2^63 or more")
    func hugeDataOffset() async {
        do {
            await #expect(processExitsWith: .success) { parseWithHeaderField(40, UInt64.max) }
            await #expect(processExitsWith: .success) { parseWithHeaderField(40, 1 << 63, alsoDataSize: 0) }
        }
    }

    @Test("data size so large that offset + size overflows")
    func hugeDataSize() async {
        do {
            await #expect(processExitsWith: .success) { parseWithHeaderField(48, UInt64.max) }
            await #expect(processExitsWith: .success) { parseWithHeaderField(48, 1 << 63) }
        }
    }

    @Test("Large but representable values are errors or warnings, in this process")
    func largeButRepresentable() throws {
        for (field, value) in [(16, UInt64(1) << 62), (24, UInt64(Int.max)), (32, UInt64(Int.max)), (40, UInt64(1) << 62)] {
            var bytes = smallFile().bytes
            patch64(&bytes, at: field, value)
            #expect(throws: PerfDataError.self) { try parseAndRead(bytes) }
        }
        var bytes = smallFile().bytes
        patch64(&bytes, at: 48, 1 << 62)
        let (reader, records) = try readAll(bytes)
        #expect(records.count == 3)
        #expect(reader.warnings.first?.contains("cut short") == true)
    }
}
