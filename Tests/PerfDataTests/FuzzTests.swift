import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

// Damaged inputs must give records, warnings or a PerfDataError: never a trap, another
// error type or a hang.

/// A file-mode perf.data using every part of the format the reader knows.
func richFile() -> [UInt8] {
    let type = SampleFormat.identifier | SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.cpu
        | SampleFormat.period | SampleFormat.read | SampleFormat.callchain
    let attrs = [
        Attr(type: 1, config: 0, sampleType: type, readFormat: ReadFormat.group | ReadFormat.id | ReadFormat.totalTimeEnabled,
             flags: Attr.sampleIDAllFlag | Attr.freqFlag, ids: [10, 11]),
        Attr(type: 0, config: 1, sampleType: type, readFormat: ReadFormat.id, flags: Attr.sampleIDAllFlag, ids: []),
    ]
    func trailer(_ time: UInt64, _ id: UInt64 = 10) -> [UInt8] { sampleID(type, pid: 5, tid: 6, time: time, id: id, cpu: 1) }
    func s0(_ time: UInt64) -> [UInt8] {
        sample(type, id: 10, ip: 0x401000 + time, pid: 5, tid: 6, time: time, cpu: 1, period: 100,
               read: [2, 999, 1, 10, 2, 20], callchain: [CallchainContext.user, 0x401000, 0x402000])
    }
    func s1(_ time: UInt64) -> [UInt8] {
        sample(type, id: 20, ip: 0xffff_ffff_8100_0000 + time, pid: 5, tid: 6, time: time, cpu: 0, period: 7,
               read: [5, 20], callchain: [CallchainContext.kernel, 0xffff_ffff_8100_0000])
    }
    let compressed = [s0(35), commRecord(pid: 5, tid: 6, name: "zz", trailer: trailer(37)), s1(36), finishedRound()].flatMap { $0 }
    let split = compressed.count / 2
    let records: [[UInt8]] = [
        idIndexRecord([(id: 20, index: 1), (id: 21, index: 1)]),
        eventUpdateRecord(id: 20, name: "instructions:u"),
        commRecord(pid: 5, tid: 6, name: "worker", exec: true, trailer: trailer(1)),
        mmapRecord(pid: 5, tid: 6, start: 0x400000, length: 0x10000, pageOffset: 0, filename: "/usr/bin/worker", trailer: trailer(2)),
        mmap2Record(pid: 5, tid: 6, start: 0x7f00_0000_0000, length: 0x1000, pageOffset: 0, buildID: Array(1...20),
                    filename: "/lib/libc.so.6", trailer: trailer(3, 20)),
        taskRecord(RecordType.fork, pid: 7, ppid: 5, tid: 7, ptid: 6, time: 4, trailer: trailer(4)),
        s0(20), s1(10), s0(15),
        finishedRound(),
        lostRecord(id: 10, lost: 3, trailer: trailer(11)),
        lostSamplesRecord(lost: 2, trailer: trailer(12)),
        throttleRecord(time: 13, id: 10, trailer: trailer(13)),
        throttleRecord(unthrottle: true, time: 14, id: 10, trailer: trailer(14)),
        ksymbolRecord(address: 0xffff_ffff_c000_0000, length: 64, type: 1, flags: 0, name: "bpf_prog_1", trailer: trailer(16)),
        record(RecordType.threadMap, le64(1) + le64(5) + [UInt8](repeating: 0, count: 16)),
        record(300, [1, 2, 3, 4, 5, 6, 7, 8]),
        compressedRecord(ZstdFrame.raw(Array(compressed[..<split]))),
        compressedRecord(ZstdFrame.raw(Array(compressed[split...]))),
        s1(40),
        finishedRound(),
        taskRecord(RecordType.exit, pid: 7, ppid: 5, tid: 7, ptid: 6, time: 50, trailer: trailer(50)),
        s0(45),
    ]
    return PerfFileBuilder(attrs: attrs, records: records, features: allFeatures(attrs: attrs)).build().bytes
}

/// A pipe-mode stream with HEADER_ATTR, HEADER_FEATURE, EVENT_UPDATE, ID_INDEX and COMPRESSED records.
func richPipe() -> [UInt8] {
    let type = SampleFormat.identifier | SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.callchain
    let a = Attr(type: 1, config: 0, sampleType: type, flags: Attr.sampleIDAllFlag, ids: [1])
    let b = Attr(type: 0, config: 0, sampleType: type, flags: Attr.sampleIDAllFlag, ids: [])
    let inner = [sample(type, id: 2, ip: 9, time: 8, callchain: [1, 2, 3]), finishedRound()].flatMap { $0 }
    let frame = ZstdFrame.raw(inner)
    return pipeStream([
        headerAttrRecord(a), headerAttrRecord(b),
        idIndexRecord([(id: 2, index: 1)]),
        eventUpdateRecord(id: 2, name: "cycles:u"),
        headerFeatureRecord(FeatureID.hostname, FeatureBody.string("pipe")),
        headerFeatureRecord(FeatureID.cmdline, FeatureBody.cmdline(["perf", "record", "-o", "-"])),
        headerFeatureRecord(FeatureID.eventDesc, FeatureBody.eventDesc([(a, "cpu-clock", [1]), (b, "cycles", [2])])),
        buildIDEvent(pid: 1, buildID: Array(1...20), filename: "/bin/true", misc: RecordMisc.user, type: RecordType.headerBuildID),
        commRecord(pid: 1, tid: 1, name: "true", trailer: sampleID(type, pid: 1, tid: 1, time: 1, id: 1)),
        sample(type, id: 1, ip: 5, pid: 1, tid: 1, time: 5, callchain: [CallchainContext.user, 5]),
        compressedRecord(Array(frame[..<20])),
        compressedRecord(Array(frame[20...])),
        sample(type, id: 2, ip: 6, pid: 1, tid: 1, time: 3, callchain: []),
        finishedRound(),
    ])
}

enum FuzzOutcome: Equatable { case read, threw }

/// Parses and reads `bytes`, touching every delivered field. Any error other than
/// PerfDataError is recorded as a test issue.
func fuzzRead(_ bytes: [UInt8], _ label: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) -> FuzzOutcome {
    do {
        let reader = try PerfDataReader(bytes: ByteView(bytes))
        var checksum: UInt64 = 0
        try reader.readRecords { record in
            switch record {
            case .sample(let s):
                checksum &+= s.ip &+ s.time &+ UInt64(s.attrIndex)
                #expect(s.attrIndex >= 0 && s.attrIndex < reader.attrs.count, sourceLocation: sourceLocation)
                if let chain = s.callchain { for entry in chain.entries { checksum &+= entry } }
            case .mmap(let m): checksum &+= m.start &+ UInt64(m.filename.utf8.count) &+ UInt64(m.buildID?.count ?? 0)
            case .comm(let c): checksum &+= UInt64(c.name.utf8.count)
            case .ksymbol(let k): checksum &+= k.address &+ UInt64(k.name.utf8.count)
            default: checksum &+= 1
            }
        }
        _ = (checksum, reader.header.hostname, reader.attrs.map(\.name), reader.warnings)
        return .read
    } catch let error as PerfDataError {
        #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
        return .threw
    } catch {
        Issue.record("\(label()): not a PerfDataError: \(error)", sourceLocation: sourceLocation)
        return .threw
    }
}

@Suite("Damaged input never traps", .timeLimit(.minutes(5)))
struct FuzzTests {
    @Test("The base inputs read cleanly")
    func basesAreValid() throws {
        let (reader, records) = try readAll(richFile())
        #expect(reader.warnings.isEmpty, "\(reader.warnings)")
        #expect(reader.compressedRecords == 2)
        #expect(records.count == 18)
        #expect(records.compactMap(\.sample).map(\.time) == [10, 15, 20, 35, 36, 40, 45])
        #expect(records.compactMap(\.sample).map(\.attrIndex) == [1, 0, 0, 0, 1, 1, 0])
        #expect(reader.attrs.map(\.name) == ["event-0", "instructions:u"])
        #expect(reader.unknownIDSamples == 0)
        #expect(reader.skippedRecords == 2)
        let (pipe, pipeRecords) = try readAll(richPipe())
        #expect(pipe.warnings.isEmpty, "\(pipe.warnings)")
        #expect(pipeRecords.map(\.label) == ["comm:true", "s3", "s5", "s8"])
        #expect(pipe.attrs.map(\.name) == ["cpu-clock", "cycles"])
    }

    @Test("Every prefix of the inputs", arguments: ["file", "pipe"])
    func everyPrefix(kind: String) {
        let base = kind == "file" ? richFile() : richPipe()
        var outcomes: [FuzzOutcome: Int] = [:]
        for length in 0...base.count {
            let variant = Array(base.prefix(length))
            outcomes[fuzzRead(variant, "\(kind) prefix \(length)"), default: 0] += 1
        }
        #expect(outcomes[.read, default: 0] > 0)
        #expect(outcomes[.threw, default: 0] > 0)
    }

    @Test("Thousands of mutated inputs", arguments: ["file", "pipe"])
    func mutations(kind: String) {
        let base = kind == "file" ? richFile() : richPipe()
        let specials: [UInt64] = [0, 1, 7, 8, 9, 15, 16, 63, 64, 72, 104, 255, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0xFFFF_FFFF,
                                  1 << 32, 1 << 40, 1 << 62, UInt64(Int.max), UInt64.max, UInt64(base.count), UInt64(base.count - 1)]
        var rng = SplitMix64(seed: kind == "file" ? 0x5EED : 0xF00D)
        var outcomes: [FuzzOutcome: Int] = [:]
        for variant in 0..<4000 {
            var bytes = base
            let position = Int(rng.next() % UInt64(bytes.count))
            let mode = variant % 7
            switch mode {
            case 0:  // one byte
                bytes[position] = UInt8(truncatingIfNeeded: rng.next())
            case 1:  // a few bytes
                for _ in 0..<(1 + Int(rng.next() % 8)) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 2:  // a special u64 at an 8-aligned offset (header fields, sizes, counts)
                let at = min(position & ~7, bytes.count - 8)
                patch64(&bytes, at: at, specials[Int(rng.next() % UInt64(specials.count))])
            case 3:  // a special u16 (record sizes) at an even offset
                let at = min(position & ~1, bytes.count - 2)
                patch16(&bytes, at: at, UInt16(truncatingIfNeeded: specials[Int(rng.next() % UInt64(specials.count))]))
            case 4:  // a special u32 (counts, string lengths, attr.size)
                let at = min(position & ~3, bytes.count - 4)
                patch32(&bytes, at: at, UInt32(truncatingIfNeeded: specials[Int(rng.next() % UInt64(specials.count))]))
            case 5:  // cut, then damage near the end
                bytes.removeLast(Int(rng.next() % UInt64(bytes.count / 2)))
                if !bytes.isEmpty { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            default:  // remove or duplicate a run of bytes inside
                let length = 1 + Int(rng.next() % 64)
                let end = min(bytes.count, position + length)
                if rng.next() % 2 == 0 {
                    bytes.removeSubrange(position..<end)
                } else {
                    bytes.insert(contentsOf: bytes[position..<end], at: position)
                }
            }
            outcomes[fuzzRead(bytes, "\(kind) variant \(variant) (mode \(mode), position \(position))"), default: 0] += 1
        }
        #expect(outcomes[.read, default: 0] > 100)
        #expect(outcomes[.threw, default: 0] > 100)
    }

    @Test("Every single byte set to 0x00, 0x80 and 0xFF in turn")
    func everyByte() {
        let base = richFile()
        for position in 0..<base.count {
            for value: UInt8 in [0x00, 0x80, 0xFF] {
                var bytes = base
                bytes[position] = value
                _ = fuzzRead(bytes, "byte \(position) = \(value)")
            }
        }
    }
}
