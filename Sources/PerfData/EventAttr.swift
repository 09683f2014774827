import FlamedSystem

/// One event's `perf_event_attr`, with the sample ids that belong to it and its name.
public struct EventAttr: Sendable {
    public var type: UInt32
    /// `attr.size` as recorded; fields beyond it are zero.
    public var size: UInt32
    public var config: UInt64
    /// Sample period, or frequency when `usesFrequency`.
    public var samplePeriodOrFrequency: UInt64
    public var sampleType: UInt64
    public var readFormat: UInt64
    public var flags: UInt64
    public var branchSampleType: UInt64
    public var sampleRegsUser: UInt64
    public var sampleRegsIntr: UInt64
    /// Sample ids that identify this event in SAMPLE and other records.
    public var ids: [UInt64]
    /// The name perf shows (from EVENT_DESC or EVENT_UPDATE), or one derived from type and config.
    public var name: String

    public var usesFrequency: Bool { flags & (1 << 10) != 0 }
    public var sampleIDAll: Bool { flags & (1 << 18) != 0 }

    /// The smallest attr size perf ever wrote (PERF_ATTR_SIZE_VER0).
    public static let minimumSize = 64

    /// Parses an attr from `view` at `offset`, reading no more than `limit` bytes.
    /// `attr.size` says how many bytes belong to it; 0 means the original 64.
    static func parse(_ view: ByteView, at offset: Int, limit: Int, fileOffset: Int) throws -> EventAttr {
        guard let type = view.u32(offset), let rawSize = view.u32(offset + 4) else {
            throw PerfDataError(.badAttribute, offset: fileOffset, "attr needs 8 bytes, \(max(0, view.count - offset)) left")
        }
        let size = rawSize == 0 ? UInt32(minimumSize) : rawSize
        guard size >= UInt32(minimumSize), Int(size) <= limit else {
            throw PerfDataError(.badAttribute, offset: fileOffset, "attr.size \(rawSize) outside 64...\(limit)")
        }
        guard view.slice(offset, Int(size)) != nil else {
            throw PerfDataError(.badAttribute, offset: fileOffset, "attr needs \(size) bytes, \(max(0, view.count - offset)) left")
        }
        func field(_ at: Int) -> UInt64 { at + 8 <= Int(size) ? (view.u64(offset + at) ?? 0) : 0 }
        var attr = EventAttr(
            type: type, size: size, config: field(8), samplePeriodOrFrequency: field(16),
            sampleType: field(24), readFormat: field(32), flags: field(40),
            branchSampleType: field(72), sampleRegsUser: field(80), sampleRegsIntr: field(96),
            ids: [], name: "")
        attr.name = attr.defaultName
        return attr
    }

    /// A name from the type and config, used when the file does not name the event.
    public var defaultName: String {
        let hardware = ["cycles", "instructions", "cache-references", "cache-misses", "branches",
                        "branch-misses", "bus-cycles", "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles"]
        let software = ["cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations",
                        "minor-faults", "major-faults", "alignment-faults", "emulation-faults", "dummy", "bpf-output",
                        "cgroup-switches"]
        switch type {
        case 0 where config < UInt64(hardware.count): return hardware[Int(config)]
        case 1 where config < UInt64(software.count): return software[Int(config)]
        case 2: return "tracepoint:\(config)"
        default: return "raw:\(type):0x\(String(config, radix: 16))"
        }
    }

    /// Size in bytes of the sample_id_all trailer on non-sample records.
    var sampleIDTrailerSize: Int {
        guard sampleIDAll else { return 0 }
        var size = 0
        for bit in [SampleFormat.tid, SampleFormat.time, SampleFormat.id, SampleFormat.streamID, SampleFormat.cpu, SampleFormat.identifier]
        where sampleType & bit != 0 { size += 8 }
        return size
    }

    /// Offset of the TIME field from the start of the trailer, if there is one.
    var trailerTimeOffset: Int? {
        guard sampleIDAll, sampleType & SampleFormat.time != 0 else { return nil }
        return sampleType & SampleFormat.tid != 0 ? 8 : 0
    }

    /// Offset of the ID field counted back from the end of a non-sample record.
    var trailerIDOffsetFromEnd: Int? {
        guard sampleIDAll else { return nil }
        if sampleType & SampleFormat.identifier != 0 { return 8 }
        guard sampleType & SampleFormat.id != 0 else { return nil }
        var after = 8
        if sampleType & SampleFormat.streamID != 0 { after += 8 }
        if sampleType & SampleFormat.cpu != 0 { after += 8 }
        return after
    }

    /// Offset of the sample id within a SAMPLE body (after the 8-byte header), if present.
    var sampleIDOffset: Int? {
        if sampleType & SampleFormat.identifier != 0 { return 0 }
        guard sampleType & SampleFormat.id != 0 else { return nil }
        var offset = 0
        for bit in [SampleFormat.ip, SampleFormat.tid, SampleFormat.time, SampleFormat.addr] where sampleType & bit != 0 { offset += 8 }
        return offset
    }

    /// Offset of the TIME field within a SAMPLE body, if present.
    var sampleTimeOffset: Int? {
        guard sampleType & SampleFormat.time != 0 else { return nil }
        var offset = 0
        for bit in [SampleFormat.identifier, SampleFormat.ip, SampleFormat.tid] where sampleType & bit != 0 { offset += 8 }
        return offset
    }
}

/// Where an event's fields lie in its records, worked out once per event: decoding a record
/// then reads a few integers instead of copying an `EventAttr` (with its name and ids).
public struct RecordLayout: Sendable {
    let sampleType: UInt64
    let readFormat: UInt64
    let sampleIDTrailerSize: Int
    let trailerTimeOffset: Int?
    let trailerIDOffsetFromEnd: Int?
    let sampleIDOffset: Int?
    let sampleTimeOffset: Int?

    public init(_ attr: EventAttr) {
        sampleType = attr.sampleType
        readFormat = attr.readFormat
        sampleIDTrailerSize = attr.sampleIDTrailerSize
        trailerTimeOffset = attr.trailerTimeOffset
        trailerIDOffsetFromEnd = attr.trailerIDOffsetFromEnd
        sampleIDOffset = attr.sampleIDOffset
        sampleTimeOffset = attr.sampleTimeOffset
    }
}

extension EventAttr {
    /// An attr as flamed opens it (live sampling), named `name`.
    public init(type: UInt32, config: UInt64, samplePeriodOrFrequency: UInt64, sampleType: UInt64, flags: UInt64,
                ids: [UInt64] = [], name: String) {
        self.init(type: type, size: 0, config: config, samplePeriodOrFrequency: samplePeriodOrFrequency,
                  sampleType: sampleType, readFormat: 0, flags: flags, branchSampleType: 0, sampleRegsUser: 0,
                  sampleRegsIntr: 0, ids: ids, name: name)
    }
}
