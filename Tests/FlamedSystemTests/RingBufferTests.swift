import FlamedSystem
@testable import PerfData
import Testing

// Tests of the ring-buffer reader over a synthetic ring, with this file playing the kernel:
// records are built by hand as the kernel lays them out (little-endian) and published with
// `produce`, then drained, split by their header sizes and decoded as the live sampler does.

/// A decoder for one event that samples IP|TID|TIME|CPU|PERIOD|CALLCHAIN with sample_id_all,
/// so non-sample records end with a TID, TIME, CPU trailer (24 bytes).
private final class TestDecoder: RecordDecoding {
    static let sampleType = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.cpu
        | SampleFormat.period | SampleFormat.callchain
    let attrs = [EventAttr(type: 1, config: 0, samplePeriodOrFrequency: 4000, sampleType: sampleType,
                           flags: 1 << 18, name: "cpu-clock")]
    lazy var layouts = attrs.map(RecordLayout.init)
    var unknownIDs = 0
    func attrIndex(forID id: UInt64) -> Int? { 0 }
    func noteUnknownID() { unknownIDs += 1 }
}

/// Little-endian record bytes.
private struct RecordBytes {
    var bytes: [UInt8] = []
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }

    /// A record: header {type, misc, size} followed by `body`.
    static func record(type: UInt32, misc: UInt16 = RecordMisc.user, _ body: (inout RecordBytes) -> Void) -> [UInt8] {
        var content = RecordBytes()
        body(&content)
        var record = RecordBytes()
        record.u32(type)
        record.u16(misc)
        record.u16(UInt16(8 + content.bytes.count))
        return record.bytes + content.bytes
    }

    /// The sample_id_all trailer: TID (pid, tid), TIME, CPU (cpu, reserved).
    mutating func trailer(pid: UInt32, tid: UInt32, time: UInt64, cpu: UInt32) {
        u32(pid); u32(tid); u64(time); u32(cpu); u32(0)
    }
}

private func sampleRecord(pid: UInt32, tid: UInt32, time: UInt64, ip: UInt64 = 0x40_1000, cpu: UInt32 = 3,
                          period: UInt64 = 250_000, callchain: [UInt64]) -> [UInt8] {
    RecordBytes.record(type: RecordType.sample) { body in
        body.u64(ip); body.u32(pid); body.u32(tid); body.u64(time); body.u32(cpu); body.u32(0); body.u64(period)
        body.u64(UInt64(callchain.count))
        for entry in callchain { body.u64(entry) }
    }
}

private func commRecord(pid: UInt32, tid: UInt32, name: String, time: UInt64) -> [UInt8] {
    RecordBytes.record(type: RecordType.comm) { body in
        body.u32(pid); body.u32(tid)
        var padded = Array(name.utf8) + [0]
        while padded.count % 8 != 0 { padded.append(0) }
        body.bytes += padded
        body.trailer(pid: pid, tid: tid, time: time, cpu: 3)
    }
}

private func lostRecord(id: UInt64, lost: UInt64, time: UInt64) -> [UInt8] {
    RecordBytes.record(type: RecordType.lost) { body in
        body.u64(id); body.u64(lost)
        body.trailer(pid: 0, tid: 0, time: time, cpu: 3)
    }
}

/// A record of a type no decoder knows, `size` bytes long (a multiple of 8, at least 8).
private func fillerRecord(size: Int) -> [UInt8] {
    RecordBytes.record(type: 0x7777) { body in body.bytes = [UInt8](repeating: 0xA5, count: size - 8) }
}

/// Splits drained bytes into records by their header sizes, as the sampler does; records an
/// issue when the bytes do not end on a record boundary.
private func split(_ bytes: ByteView, sourceLocation: SourceLocation = #_sourceLocation) -> [ByteView] {
    var records: [ByteView] = []
    var offset = 0
    while offset + 8 <= bytes.count {
        let size = Int(bytes.u16(offset + 6)!)
        guard size >= 8, let record = bytes.slice(offset, size) else { break }
        records.append(record)
        offset += size
    }
    #expect(offset == bytes.count, "drained bytes end inside a record", sourceLocation: sourceLocation)
    return records
}

private func decode(_ record: ByteView, with decoder: TestDecoder) throws -> PerfRecord? {
    try decoder.decode(record, type: record.u32(0)!, misc: record.u16(4)!, fileOffset: 0)
}

private func asSample(_ record: PerfRecord?) -> SampleRecord? {
    if case .sample(let sample)? = record { return sample }
    return nil
}

/// A synthetic `RingBuffer` behind a class, so `#expect` and `#require` can take its calls
/// apart (their expansions need copyable receivers).
private final class SyntheticRing {
    let ring: RingBuffer
    init(dataPages: Int) throws {
        switch RingBuffer.synthetic(dataPages: dataPages, pageSize: systemPageSize) {
        case .success(let made): ring = made
        case .failure(let code): throw code
        }
    }
    var head: UInt64 { ring.head }
    var tail: UInt64 { ring.tail }
    var dataSize: Int { ring.dataSize }
    func produce(_ record: [UInt8]) -> Bool { ring.produce(record) }
    func drain() -> ByteView? { ring.drain() }
}

/// A small deterministic pseudo-random generator (64-bit LCG, high bits).
private struct LCG {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(bound))
    }
}

@Suite struct RingBufferTests {
    @Test func trailerLayoutIsTidTimeCpu() {
        let attr = TestDecoder().attrs[0]
        #expect(attr.sampleIDAll)
        #expect(attr.sampleIDTrailerSize == 24)
        #expect(attr.trailerTimeOffset == 8)
        #expect(sampleRecord(pid: 1, tid: 2, time: 3, callchain: [4, 5]).count == 56 + 16)
        #expect(commRecord(pid: 1, tid: 2, name: "bash", time: 3).count == 48)
        #expect(lostRecord(id: 1, lost: 2, time: 3).count == 48)
    }

    @Test func oneDrainReturnsEveryRecordPublished() throws {
        let ring = try SyntheticRing(dataPages: 2)
        #expect(ring.dataSize == 2 * systemPageSize)
        #expect(ring.head == 0 && ring.tail == 0)
        #expect(ring.drain() == nil)

        let produced = [
            sampleRecord(pid: 100, tid: 101, time: 1_000, callchain: [0xAAA1, 0xAAA2, 0xAAA3]),
            sampleRecord(pid: 200, tid: 202, time: 2_000, callchain: []),
            commRecord(pid: 300, tid: 303, name: "worker", time: 2_500),
            sampleRecord(pid: 300, tid: 303, time: 3_000, ip: 0xDEAD_BEEF, cpu: 7, period: 12, callchain: [0xCCC1]),
        ]
        for record in produced { #expect(ring.produce(record)) }
        let total = produced.map(\.count).reduce(0, +)
        #expect(ring.head == UInt64(total))
        #expect(ring.tail == 0)

        let bytes = try #require(ring.drain())
        #expect(bytes.count == total)
        #expect(bytes.bytes(0, bytes.count) == produced.flatMap { $0 })
        #expect(ring.tail == ring.head)
        #expect(ring.tail == UInt64(total))
        #expect(ring.drain() == nil)

        let records = split(bytes)
        #expect(records.count == 4)
        try #require(records.count == 4)
        let decoder = TestDecoder()
        let decoded = try records.map { try decode($0, with: decoder) }

        let first = try #require(asSample(decoded[0]))
        #expect(first.pid == 100 && first.tid == 101 && first.time == 1_000 && first.cpu == 3 && first.period == 250_000)
        #expect(first.callchain?.entries == [0xAAA1, 0xAAA2, 0xAAA3])
        #expect(first.cpumode == RecordMisc.user)
        let second = try #require(asSample(decoded[1]))
        #expect(second.pid == 200 && second.tid == 202 && second.time == 2_000)
        #expect(second.callchain?.entries == [])
        guard case .comm(let comm)? = decoded[2] else {
            Issue.record("record 3 is not a COMM: \(String(describing: decoded[2]))")
            return
        }
        #expect(comm.pid == 300 && comm.tid == 303 && comm.name == "worker" && comm.time == 2_500 && !comm.isExec)
        let fourth = try #require(asSample(decoded[3]))
        #expect(fourth.pid == 300 && fourth.tid == 303 && fourth.time == 3_000)
        #expect(fourth.ip == 0xDEAD_BEEF && fourth.cpu == 7 && fourth.period == 12)
        #expect(fourth.callchain?.entries == [0xCCC1])

        #expect(records.map { decoder.recordTime($0, type: $0.u32(0)!) } == [1_000, 2_000, 2_500, 3_000])
        #expect(decoder.unknownIDs == 0)
    }

    @Test func recordStraddlingTheEndComesOutContiguous() throws {
        let ring = try SyntheticRing(dataPages: 1)
        let size = ring.dataSize
        #expect(size == systemPageSize)

        // Move head and tail to 40 bytes before the end of the data area.
        var remaining = size - 40
        while remaining > 0 {
            let filler = fillerRecord(size: min(remaining, 1024))
            #expect(ring.produce(filler))
            remaining -= filler.count
        }
        let filler = try #require(ring.drain())
        #expect(filler.count == size - 40)
        #expect(ring.head == UInt64(size - 40) && ring.tail == ring.head)
        #expect(split(filler).allSatisfy { (try? decode($0, with: TestDecoder())) == nil })

        // 96 bytes from size-40: 40 before the end, 56 after the start.
        let straddling = sampleRecord(pid: 41, tid: 42, time: 777, callchain: [0x1111, 0x2222, 0x3333, 0x4444, 0x5555])
        let following = commRecord(pid: 41, tid: 42, name: "after", time: 778)
        #expect(straddling.count == 96)
        #expect(ring.produce(straddling))
        #expect(ring.produce(following))
        #expect(ring.head == UInt64(size - 40 + 96 + 48))

        let bytes = try #require(ring.drain())
        #expect(bytes.count == 96 + 48)
        #expect(bytes.bytes(0, 96) == straddling)
        #expect(bytes.bytes(96, 48) == following)
        #expect(ring.tail == ring.head)

        let records = split(bytes)
        try #require(records.count == 2)
        let decoder = TestDecoder()
        let sample = try #require(asSample(try decode(records[0], with: decoder)))
        #expect(sample.pid == 41 && sample.tid == 42 && sample.time == 777)
        #expect(sample.callchain?.entries == [0x1111, 0x2222, 0x3333, 0x4444, 0x5555])
        guard case .comm(let comm)? = try decode(records[1], with: decoder) else {
            Issue.record("second record is not a COMM")
            return
        }
        #expect(comm.name == "after" && comm.time == 778)
    }

    @Test func lostRecordsDecodeInOrderWithTheirTrailerTime() throws {
        let ring = try SyntheticRing(dataPages: 1)
        #expect(ring.produce(sampleRecord(pid: 7, tid: 7, time: 100, callchain: [1])))
        #expect(ring.produce(lostRecord(id: 99, lost: 17, time: 150)))
        #expect(ring.produce(sampleRecord(pid: 8, tid: 9, time: 200, callchain: [2, 3])))

        let records = split(try #require(ring.drain()))
        try #require(records.count == 3)
        let decoder = TestDecoder()
        let decoded = try records.map { try decode($0, with: decoder) }
        #expect(asSample(decoded[0])?.time == 100)
        guard case .lost(let count)? = decoded[1] else {
            Issue.record("second record is not LOST: \(String(describing: decoded[1]))")
            return
        }
        #expect(count == 17)
        #expect(asSample(decoded[2])?.pid == 8)
        #expect(asSample(decoded[2])?.callchain?.entries == [2, 3])
        #expect(records.map { decoder.recordTime($0, type: $0.u32(0)!) } == [100, 150, 200])
    }

    @Test func produceRefusesToOverwriteUnreadBytes() throws {
        let ring = try SyntheticRing(dataPages: 1)
        let size = ring.dataSize
        // 72-byte samples (two callchain entries) carrying their sequence number as time.
        func numbered(_ sequence: UInt64) -> [UInt8] {
            sampleRecord(pid: 1, tid: 1, time: sequence, callchain: [sequence, ~sequence])
        }
        var produced: [UInt8] = []
        var sequence: UInt64 = 0
        while ring.produce(numbered(sequence)) {
            produced += numbered(sequence)
            sequence += 1
        }
        #expect(Int(sequence) == size / 72)
        #expect(ring.head == UInt64(produced.count) && ring.tail == 0)
        #expect(ring.head &- ring.tail <= UInt64(size))

        // A full record does not fit, the head stays put; the exact remainder still fits.
        let headBefore = ring.head
        #expect(!ring.produce(numbered(999)))
        #expect(ring.head == headBefore)
        let gap = size - produced.count
        try #require(gap > 0 && gap < 72)
        let closing = fillerRecord(size: gap)
        #expect(ring.produce(closing))
        produced += closing
        #expect(ring.head &- ring.tail == UInt64(size))
        #expect(!ring.produce(fillerRecord(size: 8)))

        let bytes = try #require(ring.drain())
        #expect(bytes.count == size)
        #expect(bytes.bytes(0, bytes.count) == produced)
        #expect(ring.tail == ring.head)
        let decoder = TestDecoder()
        let samples = try split(bytes).compactMap { asSample(try decode($0, with: decoder)) }
        #expect(samples.map(\.time) == Array(0..<sequence))
        #expect(samples.allSatisfy { $0.callchain?.entries == [$0.time, ~$0.time] })

        // Room again after the drain: the next record wraps to the start intact.
        #expect(ring.produce(numbered(sequence)))
        let again = try #require(ring.drain())
        #expect(again.bytes(0, again.count) == numbered(sequence))
    }

    @Test func tailNeverPassesHeadAndRecordsStayInOrder() throws {
        let ring = try SyntheticRing(dataPages: 1)
        let size = UInt64(ring.dataSize)
        let decoder = TestDecoder()
        var random = LCG(state: 0x5EED)
        func numbered(_ sequence: UInt64, entries: Int) -> [UInt8] {
            sampleRecord(pid: 10, tid: UInt32(sequence % 1000), time: sequence,
                         callchain: (0..<UInt64(entries)).map { sequence << 16 | $0 })
        }
        var nextSequence: UInt64 = 0
        var expectedSequence: UInt64 = 0
        var producedBytes = 0, drainedBytes = 0, refusals = 0, wrapped = 0

        func checkInvariants(_ step: Int) {
            let head = ring.head, tail = ring.tail
            #expect(tail <= head, "step \(step): tail \(tail) passed head \(head)")
            #expect(head &- tail <= size, "step \(step): \(head &- tail) unread bytes in a \(size)-byte ring")
        }

        func drainAndCheck(_ step: Int) throws {
            guard let bytes = ring.drain() else {
                #expect(ring.head == ring.tail, "step \(step): drain returned nil with unread bytes")
                return
            }
            drainedBytes += bytes.count
            #expect(ring.tail == ring.head)
            for record in split(bytes) {
                let sample = try #require(asSample(try decode(record, with: decoder)), "step \(step)")
                #expect(sample.time == expectedSequence, "step \(step): out of order")
                let entries = (0..<UInt64(sample.callchain?.count ?? 0)).map { expectedSequence << 16 | $0 }
                #expect(sample.callchain?.entries == entries, "step \(step): callchain of \(expectedSequence) corrupted")
                #expect(sample.tid == Int32(expectedSequence % 1000))
                expectedSequence += 1
            }
        }

        for step in 0..<200 {
            for _ in 0..<random.next(6) {
                let record = numbered(nextSequence, entries: random.next(48))
                let head = ring.head
                guard ring.produce(record) else {
                    refusals += 1
                    #expect(ring.head == head)
                    let unread = Int(truncatingIfNeeded: head &- ring.tail)
                    #expect(Int(size) - unread < record.count, "step \(step): refused a record that fits")
                    break
                }
                if Int(head % size) + record.count > Int(size) { wrapped += 1 }
                #expect(ring.head == head + UInt64(record.count))
                producedBytes += record.count
                nextSequence += 1
                checkInvariants(step)
            }
            if random.next(3) == 0 { try drainAndCheck(step) }
            checkInvariants(step)
        }
        try drainAndCheck(200)
        #expect(ring.drain() == nil)
        #expect(drainedBytes == producedBytes)
        #expect(expectedSequence == nextSequence)
        #expect(ring.head == UInt64(producedBytes) && ring.tail == ring.head)
        // The walk must have filled the ring and wrapped records around its end.
        #expect(refusals > 0)
        #expect(wrapped > 0)
        #expect(ring.head > 4 * size)
    }
}
