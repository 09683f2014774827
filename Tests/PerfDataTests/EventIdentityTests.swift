import FlamedSystem
import PerfDataBuilder
import Testing
@testable import PerfData

@Suite("Events: attributes, ids and names")
struct EventIdentityTests {
    static let withIdentifier = SampleFormat.identifier | SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.period
    static let withID = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.addr | SampleFormat.id
        | SampleFormat.cpu | SampleFormat.period

    // MARK: Attributes

    @Test("perf_event_attr fields are read from their offsets")
    func attrFields() throws {
        let attr = Attr(type: 4, config: 0x1c2, samplePeriod: 997,
                        sampleType: SampleFormat.ip | SampleFormat.callchain | SampleFormat.read,
                        readFormat: ReadFormat.group | ReadFormat.id, flags: Attr.freqFlag | Attr.sampleIDAllFlag | 1,
                        branchSampleType: 0x55, sampleRegsUser: 0xff0f, sampleRegsIntr: 0x3, size: 136, ids: [1, 2, 3])
        let reader = try PerfDataReader(bytes: ByteView(singleEventFile(attr, [])))
        #expect(reader.attrs.count == 1)
        let parsed = try #require(reader.attrs.first)
        #expect(parsed.type == 4)
        #expect(parsed.size == 136)
        #expect(parsed.config == 0x1c2)
        #expect(parsed.samplePeriodOrFrequency == 997)
        #expect(parsed.sampleType == SampleFormat.ip | SampleFormat.callchain | SampleFormat.read)
        #expect(parsed.readFormat == ReadFormat.group | ReadFormat.id)
        #expect(parsed.flags == Attr.freqFlag | Attr.sampleIDAllFlag | 1)
        #expect(parsed.usesFrequency)
        #expect(parsed.sampleIDAll)
        #expect(parsed.branchSampleType == 0x55)
        #expect(parsed.sampleRegsUser == 0xff0f)
        #expect(parsed.sampleRegsIntr == 0x3)
        #expect(parsed.ids == [1, 2, 3])
        #expect(parsed.name == "raw:4:0x1c2")
    }

    @Test("flags: freq is bit 10, sample_id_all is bit 18")
    func attrFlagBits() throws {
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(attrs: [
            Attr(flags: 0), Attr(flags: 1 << 10), Attr(flags: 1 << 18), Attr(flags: ~(1 << 10 | 1 << 18)),
        ]).build().bytes))
        #expect(reader.attrs.map(\.usesFrequency) == [false, true, false, false])
        #expect(reader.attrs.map(\.sampleIDAll) == [false, false, true, false])
    }

    @Test("Fields beyond attr.size read as zero; attr.size 0 means the original 64 bytes", arguments: [UInt32(64), 0, 72, 80])
    func attrFieldsBeyondSize(size: UInt32) throws {
        let attr = Attr(type: 0, config: 1, samplePeriod: 100, sampleType: SampleFormat.ip, readFormat: 0, flags: 0,
                        branchSampleType: 0x1111, sampleRegsUser: 0x2222, sampleRegsIntr: 0x3333, size: size, ids: [])
        var file = PerfFileBuilder(attrs: [attr])
        file.attrLength = 136
        var built = file.build()
        // Fill the rest of the attr entry with garbage: it is not part of this attr.
        let attrEnd = size == 0 ? 64 : Int(size)
        for i in built.attrsOffset + attrEnd..<built.attrsOffset + 136 { built.bytes[i] = 0xEE }
        let reader = try PerfDataReader(bytes: ByteView(built.bytes))
        let parsed = try #require(reader.attrs.first)
        #expect(parsed.size == (size == 0 ? 64 : size))
        #expect(parsed.config == 1)
        #expect(parsed.sampleType == SampleFormat.ip)
        #expect(parsed.branchSampleType == (size >= 80 ? 0x1111 : 0))
        #expect(parsed.sampleRegsUser == 0)
        #expect(parsed.sampleRegsIntr == 0)
        #expect(parsed.name == "instructions")
    }

    @Test("Attr entries larger than the attr (newer perf) are stepped over by attr_size")
    func attrEntriesLargerThanAttr() throws {
        var file = PerfFileBuilder(attrs: [
            Attr(type: 1, config: 0, sampleType: Self.withIdentifier, size: 120, ids: [10]),
            Attr(type: 0, config: 0, sampleType: Self.withIdentifier, size: 120, ids: [20]),
        ], records: [sample(Self.withIdentifier, id: 20, ip: 1, time: 1)])
        file.attrLength = 256
        let (reader, records) = try readAll(file.build().bytes)
        #expect(reader.attrs.map(\.name) == ["cpu-clock", "cycles"])
        #expect(records.first?.sample?.attrIndex == 1)
    }

    static let defaultNames: [(type: UInt32, config: UInt64, name: String)] = [
        (0, 0, "cycles"), (0, 1, "instructions"), (0, 2, "cache-references"), (0, 3, "cache-misses"),
        (0, 4, "branches"), (0, 5, "branch-misses"), (0, 6, "bus-cycles"), (0, 9, "ref-cycles"), (0, 10, "raw:0:0xa"),
        (1, 0, "cpu-clock"), (1, 1, "task-clock"), (1, 2, "page-faults"), (1, 3, "context-switches"),
        (1, 4, "cpu-migrations"), (1, 9, "dummy"), (1, 10, "bpf-output"), (1, 11, "cgroup-switches"), (1, 12, "raw:1:0xc"),
        (2, 345, "tracepoint:345"), (3, 0x10002, "raw:3:0x10002"), (4, 0x1c2, "raw:4:0x1c2"), (8, 0, "raw:8:0x0"),
    ]

    @Test("Default event names from type and config", arguments: 0..<defaultNames.count)
    func defaultName(index: Int) throws {
        let (type, config, name) = Self.defaultNames[index]
        let reader = try PerfDataReader(bytes: ByteView(singleEventFile(Attr(type: type, config: config), [])))
        #expect(reader.attrs.first?.name == name)
        #expect(reader.attrs.first?.defaultName == name)
    }

    // MARK: Several events in one file

    @Test("Samples are matched to events by IDENTIFIER, ids from the attrs' id lists")
    func eventsByIdentifier() throws {
        let attrs = [
            Attr(type: 1, config: 0, sampleType: Self.withIdentifier, ids: [10, 11]),
            Attr(type: 0, config: 0, sampleType: Self.withIdentifier | SampleFormat.callchain, ids: [20, 21]),
        ]
        let (reader, records) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            sample(Self.withIdentifier, id: 10, ip: 1, pid: 1, tid: 1, time: 1, period: 100),
            sample(Self.withIdentifier | SampleFormat.callchain, id: 21, ip: 2, pid: 1, tid: 1, time: 2, period: 200, callchain: [5, 6]),
            sample(Self.withIdentifier, id: 11, ip: 3, pid: 1, tid: 1, time: 3, period: 300),
            sample(Self.withIdentifier, id: 99, ip: 4, pid: 1, tid: 1, time: 4, period: 400),
            sample(Self.withIdentifier | SampleFormat.callchain, id: 20, ip: 5, pid: 1, tid: 1, time: 5, period: 500, callchain: []),
        ]).build().bytes)
        let samples = records.compactMap(\.sample)
        #expect(samples.map(\.attrIndex) == [0, 1, 0, 1])
        #expect(samples.map(\.ip) == [1, 2, 3, 5])
        #expect(samples.map(\.period) == [100, 200, 300, 500])
        #expect(samples[1].callchain?.entries == [5, 6])
        #expect(samples[0].callchain == nil)
        #expect(reader.unknownIDSamples == 1)
        #expect(reader.attrs.map(\.ids) == [[10, 11], [20, 21]])
        #expect(reader.attrs.map(\.name) == ["cpu-clock", "cycles"])
    }

    @Test("Samples are matched to events by ID (after IP, TID, TIME, ADDR)")
    func eventsByID() throws {
        let attrs = [
            Attr(type: 0, config: 0, sampleType: Self.withID, ids: [1000]),
            Attr(type: 0, config: 1, sampleType: Self.withID, ids: [2000, 2001]),
            Attr(type: 1, config: 0, sampleType: Self.withID, ids: [3000]),
        ]
        let (reader, records) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            sample(Self.withID, id: 2001, ip: 1, pid: 5, tid: 6, time: 10, addr: 0xaaaa, cpu: 3, period: 7),
            sample(Self.withID, id: 3000, ip: 2, time: 11),
            sample(Self.withID, id: 1000, ip: 3, time: 12),
            sample(Self.withID, id: 4000, ip: 4, time: 13),
            sample(Self.withID, id: 2000, ip: 5, time: 14),
        ]).build().bytes)
        let samples = records.compactMap(\.sample)
        #expect(samples.map(\.attrIndex) == [1, 2, 0, 1])
        #expect(samples.map(\.ip) == [1, 2, 3, 5])
        #expect(samples[0].cpu == 3)
        #expect(samples[0].period == 7)
        #expect(samples[0].pid == 5)
        #expect(reader.unknownIDSamples == 1)
        #expect(reader.attrs.map(\.name) == ["cycles", "instructions", "cpu-clock"])
    }

    @Test("With a single event, the sample id is not needed to find it")
    func singleEventIgnoresID() throws {
        let (reader, records) = try readAll(singleEventFile(Attr(sampleType: Self.withIdentifier, ids: [10]), [
            sample(Self.withIdentifier, id: 12345, ip: 1, time: 1),
        ]))
        #expect(records.first?.sample?.attrIndex == 0)
        #expect(reader.unknownIDSamples == 0)
    }

    @Test("Ids from ID_INDEX when the attrs' id lists are empty; out-of-range indexes are ignored")
    func idsFromIDIndex() throws {
        let attrs = [
            Attr(type: 1, config: 0, sampleType: Self.withIdentifier),
            Attr(type: 1, config: 1, sampleType: Self.withIdentifier),
        ]
        let (reader, records) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            idIndexRecord([(id: 10, index: 0), (id: 20, index: 1), (id: 21, index: 1), (id: 30, index: 7)]),
            sample(Self.withIdentifier, id: 21, ip: 1, time: 1),
            sample(Self.withIdentifier, id: 10, ip: 2, time: 2),
            sample(Self.withIdentifier, id: 30, ip: 3, time: 3),
            sample(Self.withIdentifier, id: 20, ip: 4, time: 4),
        ]).build().bytes)
        let samples = records.compactMap(\.sample)
        #expect(samples.map(\.attrIndex) == [1, 0, 1])
        #expect(samples.map(\.ip) == [1, 2, 4])
        #expect(reader.unknownIDSamples == 1)
        #expect(reader.attrs.map(\.ids) == [[10], [20, 21]])
    }

    @Test("ID_INDEX does not move an id the attrs already placed; nr 0 is accepted")
    func idIndexDoesNotOverride() throws {
        let attrs = [
            Attr(type: 1, config: 0, sampleType: Self.withIdentifier, ids: [10]),
            Attr(type: 1, config: 1, sampleType: Self.withIdentifier, ids: [20]),
        ]
        let (_, records) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            idIndexRecord([]),
            idIndexRecord([(id: 10, index: 1)]),
            sample(Self.withIdentifier, id: 10, ip: 1, time: 1),
        ]).build().bytes)
        #expect(records.compactMap(\.sample).map(\.attrIndex) == [0])
    }

    @Test("ID_INDEX with id_index_entry_2 (machine_pid, vcpu) appended after the entries, as perf kvm writes it")
    func idIndexWithSecondEntries() throws {
        let attrs = [
            Attr(type: 1, config: 0, sampleType: Self.withIdentifier),
            Attr(type: 1, config: 1, sampleType: Self.withIdentifier),
        ]
        // perf writes nr id_index_entry {id, idx, cpu, tid}, then nr id_index_entry_2 {machine_pid, vcpu}.
        var body = ByteWriter()
        let entries: [(UInt64, UInt64)] = [(10, 0), (20, 1), (21, 1)]
        body.u64(UInt64(entries.count))
        for (n, (id, index)) in entries.enumerated() { body.u64(id); body.u64(index); body.u64(UInt64(n)); body.u64(UInt64.max) }
        for n in 0..<entries.count { body.u64(4321); body.u64(UInt64(n)) }
        let (reader, records) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            record(RecordType.idIndex, body.bytes),
            sample(Self.withIdentifier, id: 20, ip: 1, time: 1),
            sample(Self.withIdentifier, id: 21, ip: 2, time: 2),
            sample(Self.withIdentifier, id: 10, ip: 3, time: 3),
        ]).build().bytes)
        do {
            #expect(records.compactMap(\.sample).map(\.attrIndex) == [1, 1, 0])
            #expect(reader.unknownIDSamples == 0)
            #expect(reader.attrs.map(\.ids) == [[10], [20, 21]])
        }
    }

    // MARK: Names

    @Test("Event names from the EVENT_DESC feature, matched by id")
    func namesFromEventDescByID() throws {
        let attrs = [
            Attr(type: 0, config: 0, sampleType: Self.withIdentifier, ids: [10]),
            Attr(type: 0, config: 1, sampleType: Self.withIdentifier, ids: [20]),
        ]
        // EVENT_DESC lists them in the other order; the ids decide.
        let desc = FeatureBody.eventDesc([(attrs[1], "instructions:u", [20]), (attrs[0], "cycles:u", [10])])
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(attrs: attrs, features: [(FeatureID.eventDesc, desc)]).build().bytes))
        #expect(reader.attrs.map(\.name) == ["cycles:u", "instructions:u"])
        #expect(reader.header.eventNames.map(\.name) == ["instructions:u", "cycles:u"])
        #expect(reader.header.eventNames.map(\.ids) == [[20], [10]])
        #expect(reader.warnings.isEmpty)
    }

    @Test("Event names from EVENT_DESC by position when it has no ids")
    func namesFromEventDescByIndex() throws {
        let attrs = [Attr(type: 0, config: 0), Attr(type: 1, config: 0)]
        let desc = FeatureBody.eventDesc([(attrs[0], "cycles:ppp", []), (attrs[1], "cpu-clock:k", []), (Attr(), "extra", [])])
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(attrs: attrs, features: [(FeatureID.eventDesc, desc)]).build().bytes))
        #expect(reader.attrs.map(\.name) == ["cycles:ppp", "cpu-clock:k"])
    }

    @Test("EVENT_DESC with a smaller attr size (an older perf) still names the events")
    func eventDescOldAttrSize() throws {
        let attrs = [Attr(type: 0, config: 0, size: 112, ids: [1]), Attr(type: 0, config: 1, size: 112, ids: [2])]
        let desc = FeatureBody.eventDesc([(attrs[0], "cycles", [1]), (attrs[1], "instructions", [2])], attrSize: 112)
        let reader = try PerfDataReader(bytes: ByteView(PerfFileBuilder(attrs: attrs, features: [(FeatureID.eventDesc, desc)]).build().bytes))
        #expect(reader.attrs.map(\.name) == ["cycles", "instructions"])
    }

    @Test("EVENT_UPDATE (type 78) NAME payloads rename the event whose id they carry")
    func namesFromEventUpdate() throws {
        let attrs = [
            Attr(type: 4, config: 0x3c, sampleType: Self.withIdentifier, ids: [10]),
            Attr(type: 4, config: 0xc0, sampleType: Self.withIdentifier, ids: [20]),
        ]
        let (reader, _) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            eventUpdateRecord(id: 20, name: "cpu/instructions/u"),
            eventUpdateRecord(kind: 0, id: 10, name: "unit-not-a-name"),   // UNIT
            eventUpdateRecord(kind: 1, id: 10, name: "scale"),             // SCALE
            eventUpdateRecord(id: 99, name: "nobody"),                    // unknown id
            eventUpdateRecord(id: 10, name: ""),                          // empty name ignored
        ]).build().bytes)
        #expect(reader.attrs.map(\.name) == ["raw:4:0x3c", "cpu/instructions/u"])
    }

    // MARK: Pipe mode

    @Test("Pipe mode: events and ids from HEADER_ATTR, names from EVENT_UPDATE")
    func pipeHeaderAttr() throws {
        let first = Attr(type: 1, config: 0, sampleType: Self.withIdentifier, ids: [10, 11])
        let second = Attr(type: 0, config: 0, sampleType: Self.withIdentifier, ids: [20])
        let (reader, records) = try readAll(pipeStream([
            headerAttrRecord(first),
            headerAttrRecord(second),
            eventUpdateRecord(id: 10, name: "cpu-clock:pppH"),
            eventUpdateRecord(id: 20, name: "cycles:P"),
            sample(Self.withIdentifier, id: 20, ip: 1, time: 1),
            sample(Self.withIdentifier, id: 11, ip: 2, time: 2),
            sample(Self.withIdentifier, id: 12, ip: 3, time: 3),
        ]))
        #expect(reader.isPipe)
        #expect(reader.attrs.count == 2)
        #expect(reader.attrs.map(\.ids) == [[10, 11], [20]])
        #expect(reader.attrs.map(\.name) == ["cpu-clock:pppH", "cycles:P"])
        #expect(records.compactMap(\.sample).map(\.attrIndex) == [1, 0])
        #expect(reader.unknownIDSamples == 1)
    }

    @Test("Pipe mode: an older perf's 64-byte attr in HEADER_ATTR (attr.size 0)")
    func pipeOldAttr() throws {
        let attr = Attr(type: 0, config: 1, sampleType: SampleFormat.ip | SampleFormat.tid, size: 0, ids: [5])
        let (reader, records) = try readAll(pipeStream([
            headerAttrRecord(attr),
            sample(SampleFormat.ip | SampleFormat.tid, ip: 0x1234, pid: 3, tid: 4),
        ]))
        #expect(reader.attrs.first?.size == 64)
        #expect(reader.attrs.first?.ids == [5])
        #expect(reader.attrs.first?.name == "instructions")
        #expect(records.first?.sample?.ip == 0x1234)
        #expect(records.first?.sample?.tid == 4)
    }

    @Test("Pipe mode: ids from ID_INDEX after the HEADER_ATTRs")
    func pipeIDIndex() throws {
        let (reader, records) = try readAll(pipeStream([
            headerAttrRecord(Attr(type: 1, config: 0, sampleType: Self.withIdentifier)),
            headerAttrRecord(Attr(type: 1, config: 1, sampleType: Self.withIdentifier)),
            idIndexRecord([(id: 7, index: 1), (id: 8, index: 0)]),
            sample(Self.withIdentifier, id: 7, ip: 1, time: 1),
            sample(Self.withIdentifier, id: 8, ip: 2, time: 2),
        ]))
        #expect(records.compactMap(\.sample).map(\.attrIndex) == [1, 0])
        #expect(reader.attrs.map(\.ids) == [[8], [7]])
    }

    @Test("Events with different sample_id layouts: the trailing IDENTIFIER picks the layout of each record")
    func nonSampleRecordsUseTrailerID() throws {
        // Both put IDENTIFIER first in samples and last in trailers, as perf requires;
        // event 0 also has TID, so its trailer is 8 bytes longer.
        let type0 = SampleFormat.identifier | SampleFormat.ip | SampleFormat.tid | SampleFormat.time
        let type1 = SampleFormat.identifier | SampleFormat.ip | SampleFormat.time
        let attrs = [
            Attr(type: 1, config: 0, sampleType: type0, flags: Attr.sampleIDAllFlag, ids: [10]),
            Attr(type: 1, config: 1, sampleType: type1, flags: Attr.sampleIDAllFlag, ids: [20]),
        ]
        let name = "abcdefghijklmnopq"  // 17 bytes + NUL, padded to 24
        let (reader, records) = try readAll(PerfFileBuilder(attrs: attrs, records: [
            commRecord(pid: 1, tid: 1, name: name, trailer: sampleID(type1, time: 300, id: 20)),
            commRecord(pid: 1, tid: 1, name: name, trailer: sampleID(type0, pid: 1, tid: 1, time: 200, id: 10)),
            commRecord(pid: 1, tid: 1, name: "unknown", trailer: sampleID(type0, pid: 1, tid: 1, time: 100, id: 99)),
            sample(type1, id: 20, ip: 0x20, time: 250),
            sample(type0, id: 10, ip: 0x10, pid: 4, tid: 5, time: 150),
        ]).build().bytes)
        #expect(records.map(\.label) == ["comm:unknown", "s150", "comm:\(name)", "s250", "comm:\(name)"])
        #expect(records.compactMap(\.comm).map(\.time) == [100, 200, 300])
        let samples = records.compactMap(\.sample)
        #expect(samples.map(\.attrIndex) == [0, 1])
        #expect(samples.map(\.ip) == [0x10, 0x20])
        #expect(samples[0].tid == 5)
        #expect(samples[1].tid == -1)
        #expect(reader.unknownIDSamples == 0)
    }
}
