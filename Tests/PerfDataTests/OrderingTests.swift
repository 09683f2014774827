import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

/// One event with TIME in its samples and a sample_id_all trailer with TID and TIME.
let orderedType = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.period
let orderedAttr = Attr(sampleType: orderedType, flags: Attr.sampleIDAllFlag)

func timed(_ time: UInt64, ip: UInt64 = 0) -> [UInt8] {
    sample(orderedType, ip: ip == 0 ? time : ip, pid: 1, tid: 1, time: time)
}

/// A COMM whose trailer time is `time` (0: delivered at once, a marker of where flushes happen).
func marker(_ name: String, time: UInt64 = 0) -> [UInt8] {
    commRecord(pid: 1, tid: 1, name: name, trailer: sampleID(orderedType, pid: 1, tid: 1, time: time))
}

func labels(_ records: [[UInt8]], pipe: Bool = false) throws -> [String] {
    let bytes = pipe ? pipeStream([headerAttrRecord(orderedAttr)] + records) : singleEventFile(orderedAttr, records)
    return try readAll(bytes).records.map(\.label)
}

@Suite("Ordering (perf's ordered events)")
struct OrderingTests {
    @Test("An MMAP written after a sample but with an earlier timestamp is delivered first")
    func mmapBeforeLaterSample() throws {
        let (_, records) = try readAll(singleEventFile(orderedAttr, [
            timed(100),
            mmapRecord(pid: 1, tid: 1, start: 0x1000, length: 0x1000, pageOffset: 0, filename: "/bin/x",
                       trailer: sampleID(orderedType, pid: 1, tid: 1, time: 50)),
        ]))
        #expect(records.map(\.label) == ["mmap:/bin/x", "s100"])
        #expect(records.first?.mmap?.time == 50)
    }

    @Test("Without FINISHED_ROUND everything is sorted at the end")
    func sortedAtEnd() throws {
        #expect(try labels([timed(30), timed(10), timed(20), marker("late", time: 15), timed(5)])
            == ["s5", "s10", "comm:late", "s20", "s30"])
    }

    @Test("A FINISHED_ROUND flushes only up to the largest time seen before the previous one")
    func roundsFlushUpToPreviousMaximum() throws {
        // Markers (time 0) are delivered the moment they are read, so they show where flushes happen.
        let order = try labels([
            timed(10), timed(50), finishedRound(),        // flush ≤ 0: nothing; next limit 50
            marker("a"),
            timed(40), timed(60), finishedRound(),        // flush ≤ 50: 10 40 50; next limit 60
            marker("b"),
            timed(55), finishedRound(),                   // flush ≤ 60: 55 60; next limit 60
            marker("c"),
            timed(70),                                    // end: everything
        ])
        #expect(order == ["comm:a", "s10", "s40", "s50", "comm:b", "s55", "s60", "comm:c", "s70"])
    }

    @Test("A record older than an earlier flush is delivered with the next flush, not before it")
    func lateRecordAfterFlush() throws {
        let order = try labels([
            timed(10), timed(30), timed(20), finishedRound(),
            timed(25), timed(15), finishedRound(),
            timed(40), timed(5),
        ])
        #expect(order == ["s10", "s15", "s20", "s25", "s30", "s5", "s40"])
    }

    @Test("Consecutive FINISHED_ROUNDs flush everything older than the last maximum")
    func doubleRound() throws {
        let order = try labels([timed(3), timed(1), timed(2), finishedRound(), finishedRound(), marker("m"), timed(4)])
        #expect(order == ["s1", "s2", "s3", "comm:m", "s4"])
    }

    @Test("Equal times keep file order, across kinds of record and across flushes")
    func equalTimesStable() throws {
        func time(_ i: Int) -> UInt64 { i % 3 == 0 ? 500 : 100 }
        func make(_ i: Int) -> [UInt8] {
            i % 5 == 0 ? marker("m\(i)", time: time(i)) : sample(orderedType, ip: UInt64(i), pid: 1, tid: 1, time: time(i))
        }
        func name(_ i: Int) -> String { i % 5 == 0 ? "comm:m\(i)" : "ip\(i)" }
        // Records 1...20, a round (flushes nothing), 21...29, a round (flushes 1...29, as the
        // largest time before the previous round was 500), then 30...40 flushed at the end.
        let records = (1...20).map(make) + [finishedRound()] + (21...29).map(make) + [finishedRound()] + (30...40).map(make)
        var expected: [String] = []
        for group in [1...29, 30...40] {
            for t: UInt64 in [100, 500] { expected += group.filter { time($0) == t }.map(name) }
        }
        let (_, delivered) = try readAll(singleEventFile(orderedAttr, records))
        let got = delivered.map { record -> String in
            if let s = record.sample { return "ip\(s.ip)" }
            return record.label
        }
        #expect(got == expected)
    }

    @Test("Records with time 0 are delivered at once, before queued records")
    func timeZeroImmediate() throws {
        let order = try labels([timed(100), sample(orderedType, ip: 7, pid: 1, tid: 1, time: 0), timed(50), marker("now")])
        #expect(order == ["s#7", "comm:now", "s50", "s100"])
    }

    @Test("Records with time ~0 are delivered at once as well")
    func timeMaxImmediate() throws {
        let order = try labels([timed(100), marker("max", time: UInt64.max), timed(50)])
        #expect(order == ["comm:max", "s50", "s100"])
    }

    @Test("Without TIME in sample_type, records come in file order")
    func noTimeFileOrder() throws {
        let type = SampleFormat.ip | SampleFormat.tid
        let attr = Attr(sampleType: type, flags: Attr.sampleIDAllFlag)
        let (_, records) = try readAll(singleEventFile(attr, [
            sample(type, ip: 3), commRecord(pid: 1, tid: 1, name: "x", trailer: sampleID(type, pid: 1, tid: 1)),
            sample(type, ip: 1), finishedRound(), sample(type, ip: 2),
        ]))
        #expect(records.map(\.label) == ["s#3", "comm:x", "s#1", "s#2"])
    }

    @Test("Non-sample records without sample_id_all have no time and are delivered at once")
    func noSampleIDAll() throws {
        let attr = Attr(sampleType: orderedType)
        let (_, records) = try readAll(singleEventFile(attr, [
            timed(20), timed(10), commRecord(pid: 1, tid: 1, name: "x"),
        ]))
        #expect(records.map(\.label) == ["comm:x", "s10", "s20"])
    }

    @Test("Trailer time is read after TID and before ID, STREAM_ID, CPU and IDENTIFIER",
          arguments: [
            SampleFormat.time,
            SampleFormat.tid | SampleFormat.time,
            SampleFormat.tid | SampleFormat.time | SampleFormat.id | SampleFormat.streamID | SampleFormat.cpu,
            SampleFormat.identifier | SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.cpu | SampleFormat.period,
            SampleFormat.time | SampleFormat.id | SampleFormat.cpu | SampleFormat.callchain | SampleFormat.addr,
          ])
    func trailerLayouts(type: UInt64) throws {
        let attr = Attr(sampleType: type, flags: Attr.sampleIDAllFlag, ids: [42])
        let trailer = { (time: UInt64) in sampleID(type, pid: 9, tid: 9, time: time, id: 42, streamID: 42, cpu: 3) }
        let (reader, records) = try readAll(singleEventFile(attr, [
            sample(type, id: 42, ip: 0x500, pid: 9, tid: 9, time: 500, cpu: 3, callchain: [1]),
            commRecord(pid: 9, tid: 9, name: "worker-thread-1", trailer: trailer(300)),
            mmapRecord(pid: 9, tid: 9, start: 0x1000, length: 0x1000, pageOffset: 0, filename: "/lib/a.so", trailer: trailer(400)),
            mmap2Record(pid: 9, tid: 9, start: 0x2000, length: 0x1000, pageOffset: 0, filename: "/lib/b.so", trailer: trailer(200)),
            taskRecord(RecordType.exit, pid: 9, ppid: 1, tid: 9, ptid: 1, time: 600, trailer: trailer(600)),
            ksymbolRecord(address: 0x1000, length: 8, type: 1, flags: 0, name: "bpf_prog_x", trailer: trailer(100)),
        ]))
        #expect(records.map(\.label) == ["ksymbol:bpf_prog_x", "mmap:/lib/b.so", "comm:worker-thread-1", "mmap:/lib/a.so", "s500", "exit:9"])
        #expect(records.compactMap(\.mmap).map(\.time) == [200, 400])
        #expect(records.compactMap(\.comm).first?.time == 300)
        #expect(records.compactMap(\.mmap).map(\.filename) == ["/lib/b.so", "/lib/a.so"])
        #expect(reader.warnings.isEmpty)
    }

    @Test("Ordering in pipe mode, with rounds")
    func pipeOrdering() throws {
        let order = try labels([timed(20), timed(10), finishedRound(), timed(15), finishedRound(), timed(1)], pipe: true)
        #expect(order == ["s10", "s15", "s20", "s1"])
    }

    @Test("Ordering holds across many records and rounds (a perf-like stream)")
    func manyRounds() throws {
        // Each round's records are shuffled within a window that overlaps the previous round,
        // as per-CPU buffers do; the output must match perf's rule exactly.
        var rng = SplitMix64(seed: 7)
        var records: [[UInt8]] = []
        var pending: [(time: UInt64, seq: Int)] = []
        var expected: [UInt64] = []
        var maxSeen: UInt64 = 0, nextFlush: UInt64 = 0
        var seq = 0
        for round in 0..<30 {
            for _ in 0..<(5 + Int(rng.next() % 20)) {
                let time = UInt64(round * 100) + rng.next() % 150 + 1
                records.append(timed(time, ip: UInt64(seq + 1)))
                pending.append((time, seq))
                seq += 1
                maxSeen = max(maxSeen, time)
            }
            records.append(finishedRound())
            pending.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
            let flushed = pending.prefix { $0.time <= nextFlush }
            expected += flushed.map { UInt64($0.seq + 1) }
            pending.removeFirst(flushed.count)
            nextFlush = maxSeen
        }
        pending.sort { $0.time != $1.time ? $0.time < $1.time : $0.seq < $1.seq }
        expected += pending.map { UInt64($0.seq + 1) }
        let (_, delivered) = try readAll(singleEventFile(orderedAttr, records))
        #expect(delivered.compactMap(\.sample).map(\.ip) == expected)
    }
}

/// A small deterministic generator for tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
