import PerfData

// Builders that write perf.data bytes by hand, following
// tools/perf/Documentation/perf.data-file-format.txt and include/uapi/linux/perf_event.h.
// Everything is little-endian, as on the machines flamed runs on. Shared by the reader's
// unit tests (PerfDataTests) and the golden tests of the whole report (FlamedGoldenTests).

// MARK: - Byte writing

/// Appends little-endian values to a byte array.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
    public mutating func u32(_ value: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
    public mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
    public mutating func u64(_ value: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
    public mutating func append(_ more: [UInt8]) { bytes.append(contentsOf: more) }
    public mutating func zeros(_ count: Int) { bytes.append(contentsOf: [UInt8](repeating: 0, count: count)) }

    /// Pads with NULs to a multiple of `alignment`.
    public mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    /// A NUL-terminated string padded with NULs to a multiple of `alignment` (as the kernel
    /// writes COMM and MMAP file names).
    public mutating func cString(_ text: String, align alignment: Int = 8) {
        bytes.append(contentsOf: Array(text.utf8))
        bytes.append(0)
        pad(to: alignment)
    }

    /// A `perf_header_string`: u32 length (padding included), then the NUL-padded bytes.
    public mutating func headerString(_ text: String) {
        let utf8 = Array(text.utf8)
        let length = (utf8.count + 1 + 63) / 64 * 64
        u32(UInt32(length))
        bytes.append(contentsOf: utf8)
        zeros(length - utf8.count)
    }
}

public func le16(_ value: UInt16) -> [UInt8] { var w = ByteWriter(); w.u16(value); return w.bytes }
public func le32(_ value: UInt32) -> [UInt8] { var w = ByteWriter(); w.u32(value); return w.bytes }
public func le64(_ value: UInt64) -> [UInt8] { var w = ByteWriter(); w.u64(value); return w.bytes }

public func patch16(_ bytes: inout [UInt8], at offset: Int, _ value: UInt16) {
    bytes.replaceSubrange(offset..<offset + 2, with: le16(value))
}

public func patch32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
    bytes.replaceSubrange(offset..<offset + 4, with: le32(value))
}

public func patch64(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
    bytes.replaceSubrange(offset..<offset + 8, with: le64(value))
}

public func read64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
}

/// "PERFILE2" as it appears at the start of every little-endian perf.data file.
public let perfMagic: [UInt8] = Array("PERFILE2".utf8)

// MARK: - perf_event_attr

/// A `perf_event_attr` to write into the attrs section or a HEADER_ATTR record.
public struct Attr: Sendable {
    public static let freqFlag: UInt64 = 1 << 10
    public static let sampleIDAllFlag: UInt64 = 1 << 18

    public var type: UInt32 = 1
    public var config: UInt64 = 0
    public var samplePeriod: UInt64 = 4000
    public var sampleType: UInt64 = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.period
    public var readFormat: UInt64 = 0
    public var flags: UInt64 = 0
    public var branchSampleType: UInt64 = 0
    public var sampleRegsUser: UInt64 = 0
    public var sampleRegsIntr: UInt64 = 0
    /// The value of `attr.size` (136 is PERF_ATTR_SIZE_VER8).
    public var size: UInt32 = 136
    /// Sample ids of this event (the attr's ids section, or the ids of HEADER_ATTR).
    public var ids: [UInt64] = []

    public init(type: UInt32 = 1, config: UInt64 = 0, samplePeriod: UInt64 = 4000,
                sampleType: UInt64 = SampleFormat.ip | SampleFormat.tid | SampleFormat.time | SampleFormat.period,
                readFormat: UInt64 = 0, flags: UInt64 = 0, branchSampleType: UInt64 = 0, sampleRegsUser: UInt64 = 0,
                sampleRegsIntr: UInt64 = 0, size: UInt32 = 136, ids: [UInt64] = []) {
        self.type = type
        self.config = config
        self.samplePeriod = samplePeriod
        self.sampleType = sampleType
        self.readFormat = readFormat
        self.flags = flags
        self.branchSampleType = branchSampleType
        self.sampleRegsUser = sampleRegsUser
        self.sampleRegsIntr = sampleRegsIntr
        self.size = size
        self.ids = ids
    }

    /// The attr's bytes, `length` long (by default `size`, or 64 when `size` is 0).
    public func encode(length: Int? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.u32(type)
        w.u32(size)
        w.u64(config)
        w.u64(samplePeriod)
        w.u64(sampleType)
        w.u64(readFormat)
        w.u64(flags)
        w.zeros(72 - 48)  // wakeup_events, bp_type, config1, config2
        w.u64(branchSampleType)
        w.u64(sampleRegsUser)
        w.zeros(96 - 88)  // sample_stack_user, clockid
        w.u64(sampleRegsIntr)
        let total = length ?? (size == 0 ? 64 : Int(size))
        if w.bytes.count > total {
            w.bytes.removeLast(w.bytes.count - total)
        } else {
            w.zeros(total - w.bytes.count)
        }
        return w.bytes
    }
}

// MARK: - Records

/// A record: `perf_event_header` (type, misc, size) followed by `body`.
public func record(_ type: UInt32, misc: UInt16 = 0, _ body: [UInt8]) -> [UInt8] {
    var w = ByteWriter()
    w.u32(type)
    w.u16(misc)
    w.u16(UInt16(8 + body.count))
    w.append(body)
    return w.bytes
}

/// A SAMPLE record laid out for `sampleType`. `id` fills both IDENTIFIER and ID;
/// `read` is the raw read_format words; `callchain` is written when CALLCHAIN is set.
public func sample(_ sampleType: UInt64, misc: UInt16 = RecordMisc.user, id: UInt64 = 0, ip: UInt64 = 0,
            pid: Int32 = 0, tid: Int32 = 0, time: UInt64 = 0, addr: UInt64 = 0, streamID: UInt64 = 0,
            cpu: UInt32 = 0, period: UInt64 = 1, read: [UInt64] = [], callchain: [UInt64] = [],
            extra: [UInt8] = []) -> [UInt8] {
    var w = ByteWriter()
    if sampleType & SampleFormat.identifier != 0 { w.u64(id) }
    if sampleType & SampleFormat.ip != 0 { w.u64(ip) }
    if sampleType & SampleFormat.tid != 0 { w.i32(pid); w.i32(tid) }
    if sampleType & SampleFormat.time != 0 { w.u64(time) }
    if sampleType & SampleFormat.addr != 0 { w.u64(addr) }
    if sampleType & SampleFormat.id != 0 { w.u64(id) }
    if sampleType & SampleFormat.streamID != 0 { w.u64(streamID) }
    if sampleType & SampleFormat.cpu != 0 { w.u32(cpu); w.u32(0) }
    if sampleType & SampleFormat.period != 0 { w.u64(period) }
    if sampleType & SampleFormat.read != 0 { for word in read { w.u64(word) } }
    if sampleType & SampleFormat.callchain != 0 {
        w.u64(UInt64(callchain.count))
        for entry in callchain { w.u64(entry) }
    }
    w.append(extra)
    return record(RecordType.sample, misc: misc, w.bytes)
}

/// The `sample_id` trailer that follows non-sample records when sample_id_all is set.
public func sampleID(_ sampleType: UInt64, pid: Int32 = 0, tid: Int32 = 0, time: UInt64 = 0, id: UInt64 = 0,
              streamID: UInt64 = 0, cpu: UInt32 = 0) -> [UInt8] {
    var w = ByteWriter()
    if sampleType & SampleFormat.tid != 0 { w.i32(pid); w.i32(tid) }
    if sampleType & SampleFormat.time != 0 { w.u64(time) }
    if sampleType & SampleFormat.id != 0 { w.u64(id) }
    if sampleType & SampleFormat.streamID != 0 { w.u64(streamID) }
    if sampleType & SampleFormat.cpu != 0 { w.u32(cpu); w.u32(0) }
    if sampleType & SampleFormat.identifier != 0 { w.u64(id) }
    return w.bytes
}

public func mmapRecord(pid: Int32, tid: Int32, start: UInt64, length: UInt64, pageOffset: UInt64, filename: String,
                misc: UInt16 = RecordMisc.user, trailer: [UInt8] = []) -> [UInt8] {
    var w = ByteWriter()
    w.i32(pid); w.i32(tid)
    w.u64(start); w.u64(length); w.u64(pageOffset)
    w.cString(filename)
    w.append(trailer)
    return record(RecordType.mmap, misc: misc, w.bytes)
}

/// An MMAP2 record; with `buildID` it uses the build-id form of the union and sets misc bit 14.
public func mmap2Record(pid: Int32, tid: Int32, start: UInt64, length: UInt64, pageOffset: UInt64,
                 buildID: [UInt8]? = nil, buildIDSize: UInt8? = nil,
                 major: UInt32 = 8, minor: UInt32 = 1, inode: UInt64 = 1234, generation: UInt64 = 0,
                 protection: UInt32 = 5, flags: UInt32 = 2, filename: String,
                 misc: UInt16 = RecordMisc.user, trailer: [UInt8] = []) -> [UInt8] {
    var w = ByteWriter()
    w.i32(pid); w.i32(tid)
    w.u64(start); w.u64(length); w.u64(pageOffset)
    var misc = misc
    if let buildID {
        misc |= RecordMisc.mmapBuildID
        w.u8(buildIDSize ?? UInt8(buildID.count))
        w.u8(0); w.u16(0)
        var id = buildID
        id += [UInt8](repeating: 0, count: max(0, 20 - id.count))
        w.append(Array(id.prefix(20)))  // the union is 24 bytes, like maj, min, ino, ino_generation
    } else {
        w.u32(major); w.u32(minor); w.u64(inode); w.u64(generation)
    }
    w.u32(protection); w.u32(flags)
    w.cString(filename)
    w.append(trailer)
    return record(RecordType.mmap2, misc: misc, w.bytes)
}

public func commRecord(pid: Int32, tid: Int32, name: String, exec: Bool = false, trailer: [UInt8] = []) -> [UInt8] {
    var w = ByteWriter()
    w.i32(pid); w.i32(tid)
    w.cString(name)
    w.append(trailer)
    return record(RecordType.comm, misc: exec ? RecordMisc.commExec : 0, w.bytes)
}

public func taskRecord(_ type: UInt32, pid: Int32, ppid: Int32, tid: Int32, ptid: Int32, time: UInt64,
                trailer: [UInt8] = []) -> [UInt8] {
    var w = ByteWriter()
    w.i32(pid); w.i32(ppid); w.i32(tid); w.i32(ptid)
    w.u64(time)
    w.append(trailer)
    return record(type, w.bytes)
}

public func lostRecord(id: UInt64, lost: UInt64, trailer: [UInt8] = []) -> [UInt8] {
    record(RecordType.lost, le64(id) + le64(lost) + trailer)
}

public func lostSamplesRecord(lost: UInt64, trailer: [UInt8] = []) -> [UInt8] {
    record(RecordType.lostSamples, le64(lost) + trailer)
}

public func throttleRecord(unthrottle: Bool = false, time: UInt64, id: UInt64 = 0, streamID: UInt64 = 0,
                    trailer: [UInt8] = []) -> [UInt8] {
    record(unthrottle ? RecordType.unthrottle : RecordType.throttle, le64(time) + le64(id) + le64(streamID) + trailer)
}

public func ksymbolRecord(address: UInt64, length: UInt32, type: UInt16, flags: UInt16, name: String,
                   trailer: [UInt8] = []) -> [UInt8] {
    var w = ByteWriter()
    w.u64(address); w.u32(length); w.u16(type); w.u16(flags)
    w.cString(name)
    w.append(trailer)
    return record(RecordType.ksymbol, w.bytes)
}

public func finishedRound() -> [UInt8] { record(RecordType.finishedRound, []) }

/// ID_INDEX with `id_index_entry` {id, idx, cpu, tid} entries.
public func idIndexRecord(_ entries: [(id: UInt64, index: UInt64)]) -> [UInt8] {
    var w = ByteWriter()
    w.u64(UInt64(entries.count))
    for (n, entry) in entries.enumerated() {
        w.u64(entry.id); w.u64(entry.index); w.u64(UInt64(n)); w.u64(UInt64.max)
    }
    return record(RecordType.idIndex, w.bytes)
}

/// EVENT_UPDATE: u64 type, u64 id, then the payload (type 2 = NAME: a NUL-padded string).
public func eventUpdateRecord(kind: UInt64 = 2, id: UInt64, name: String) -> [UInt8] {
    var w = ByteWriter()
    w.u64(kind); w.u64(id)
    w.cString(name)
    return record(RecordType.eventUpdate, w.bytes)
}

/// HEADER_ATTR: the attr (its `size` bytes, 8-aligned) followed by its ids.
public func headerAttrRecord(_ attr: Attr) -> [UInt8] {
    var w = ByteWriter()
    w.append(attr.encode())
    for id in attr.ids { w.u64(id) }
    return record(RecordType.headerAttr, w.bytes)
}

/// HEADER_FEATURE: u64 feature id, then the feature's body as in a file's feature section.
public func headerFeatureRecord(_ feature: Int, _ body: [UInt8]) -> [UInt8] {
    record(RecordType.headerFeature, le64(UInt64(feature)) + body)
}

public func compressedRecord(_ payload: [UInt8]) -> [UInt8] { record(RecordType.compressed, payload) }

/// A `build_id_event` (BUILD_ID feature entry or HEADER_BUILD_ID record).
public func buildIDEvent(pid: Int32, buildID: [UInt8], filename: String, misc: UInt16, withSize: Bool = true,
                  type: UInt32 = 0) -> [UInt8] {
    var w = ByteWriter()
    w.i32(pid)
    var id = Array(buildID.prefix(20))
    id += [UInt8](repeating: 0, count: 20 - id.count)
    w.append(id)
    w.u8(withSize ? UInt8(buildID.count) : 0)
    w.u8(0); w.u16(0)
    w.cString(filename, align: 64)
    return record(type, misc: misc | (withSize ? RecordMisc.buildIDSize : 0), w.bytes)
}

// MARK: - Feature bodies

public enum FeatureBody {
    public static func string(_ text: String) -> [UInt8] {
        var w = ByteWriter(); w.headerString(text); return w.bytes
    }

    public static func nrCPUs(available: UInt32, online: UInt32) -> [UInt8] { le32(available) + le32(online) }

    public static func cmdline(_ words: [String]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(words.count))
        for word in words { w.headerString(word) }
        return w.bytes
    }

    public static func sampleTime(first: UInt64, last: UInt64) -> [UInt8] { le64(first) + le64(last) }

    public static func eventDesc(_ events: [(attr: Attr, name: String, ids: [UInt64])], attrSize: Int = 136) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(events.count))
        w.u32(UInt32(attrSize))
        for event in events {
            w.append(event.attr.encode(length: attrSize))
            w.u32(UInt32(event.ids.count))
            w.headerString(event.name)
            for id in event.ids { w.u64(id) }
        }
        return w.bytes
    }
}

// MARK: - Whole files

/// Where the parts of a built file lie.
public struct BuiltFile: Sendable {
    public var bytes: [UInt8]
    public var attrsOffset: Int
    public var attrEntrySize: Int
    public var idsOffsets: [Int]
    public var dataOffset: Int
    public var dataSize: Int
    public var featureTableOffset: Int
    /// File offset of each record passed to the builder, in order.
    public var recordOffsets: [Int]
}

/// Writes a file-mode perf.data: header, the attrs' id lists, the attrs section, the data
/// section, the feature section table and the feature bodies (in bit order).
public struct PerfFileBuilder: Sendable {
    public var attrs: [Attr] = [Attr()]
    public var records: [[UInt8]] = []
    public var features: [(id: Int, body: [UInt8])] = []
    /// Bytes of each attr in the attrs section (attr_size - 16); by default the largest attr.size.
    public var attrLength: Int?
    /// The data size written in the header, when it should not be the real one.
    public var headerDataSize: UInt64?

    /// Without `records` the data section holds one FINISHED_ROUND: a data size of 0 in the
    /// header means "perf record was killed", which tests ask for with `headerDataSize`.
    public init(attrs: [Attr] = [Attr()], records: [[UInt8]] = [finishedRound()], features: [(id: Int, body: [UInt8])] = []) {
        self.attrs = attrs
        self.records = records
        self.features = features
    }

    public func build() -> BuiltFile {
        let largest: Int = attrs.map { $0.size == 0 ? 64 : Int($0.size) }.max() ?? 136
        let length: Int = attrLength ?? largest
        var w = ByteWriter()
        w.zeros(104)
        var idsOffsets: [Int] = []
        for attr in attrs {
            idsOffsets.append(w.bytes.count)
            for id in attr.ids { w.u64(id) }
        }
        let attrsOffset = w.bytes.count
        for (attr, idsOffset) in zip(attrs, idsOffsets) {
            w.append(attr.encode(length: length))
            w.u64(UInt64(idsOffset))
            w.u64(UInt64(attr.ids.count * 8))
        }
        let dataOffset = w.bytes.count
        var recordOffsets: [Int] = []
        for r in records {
            recordOffsets.append(w.bytes.count)
            w.append(r)
        }
        let dataSize = w.bytes.count - dataOffset
        let sorted = features.sorted { $0.id < $1.id }
        let tableOffset = w.bytes.count
        w.zeros(16 * sorted.count)
        var table: [(UInt64, UInt64)] = []
        for feature in sorted {
            table.append((UInt64(w.bytes.count), UInt64(feature.body.count)))
            w.append(feature.body)
        }
        var bytes = w.bytes
        for (n, entry) in table.enumerated() {
            patch64(&bytes, at: tableOffset + 16 * n, entry.0)
            patch64(&bytes, at: tableOffset + 16 * n + 8, entry.1)
        }
        bytes.replaceSubrange(0..<8, with: perfMagic)
        patch64(&bytes, at: 8, 104)
        patch64(&bytes, at: 16, UInt64(length + 16))
        patch64(&bytes, at: 24, UInt64(attrsOffset))
        patch64(&bytes, at: 32, UInt64(attrs.count * (length + 16)))
        patch64(&bytes, at: 40, UInt64(dataOffset))
        patch64(&bytes, at: 48, headerDataSize ?? UInt64(dataSize))
        // event_types {offset, size} at 56 stay zero.
        for feature in sorted {
            let word = 72 + (feature.id / 64) * 8
            patch64(&bytes, at: word, read64(bytes, at: word) | 1 << UInt64(feature.id % 64))
        }
        return BuiltFile(bytes: bytes, attrsOffset: attrsOffset, attrEntrySize: length + 16, idsOffsets: idsOffsets,
                         dataOffset: dataOffset, dataSize: dataSize, featureTableOffset: tableOffset,
                         recordOffsets: recordOffsets)
    }
}

/// A pipe-mode stream: magic, header size 16, then the records.
public func pipeStream(_ records: [[UInt8]]) -> [UInt8] {
    perfMagic + le64(16) + records.flatMap { $0 }
}

/// File offsets of `records` in `pipeStream(records)`.
public func pipeOffsets(_ records: [[UInt8]]) -> [Int] {
    var offsets: [Int] = []
    var offset = 16
    for r in records {
        offsets.append(offset)
        offset += r.count
    }
    return offsets
}

// MARK: - zstd frames written by hand

/// Writes zstd frames (RFC 8878) made of raw and RLE blocks, so tests need neither the
/// zstd tool nor a compressor: the decoder must still handle them like any other frame.
public enum ZstdFrame {
    public enum Block: Sendable {
        case raw([UInt8])
        case rle(UInt8, count: Int)
    }

    /// One frame holding `content` in raw blocks of at most `blockSize` bytes.
    public static func raw(_ content: [UInt8], blockSize: Int = 1 << 17) -> [UInt8] {
        var blocks: [Block] = []
        var start = 0
        repeat {
            let end = min(content.count, start + blockSize)
            blocks.append(.raw(Array(content[start..<end])))
            start = end
        } while start < content.count
        return frame(blocks)
    }

    /// One single-segment frame with a 4-byte content size and the given blocks.
    public static func frame(_ blocks: [Block]) -> [UInt8] {
        let contentSize = blocks.reduce(0) { total, block in
            switch block {
            case .raw(let bytes): return total + bytes.count
            case .rle(_, let count): return total + count
            }
        }
        var w = ByteWriter()
        w.u32(0xFD2F_B528)
        w.u8(0xA0)  // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag, no checksum, no dictionary
        w.u32(UInt32(contentSize))
        for (n, block) in blocks.enumerated() {
            let last: UInt32 = n == blocks.count - 1 ? 1 : 0
            switch block {
            case .raw(let bytes):
                let header = last | 0 << 1 | UInt32(bytes.count) << 3
                w.u8(UInt8(header & 0xFF)); w.u8(UInt8(header >> 8 & 0xFF)); w.u8(UInt8(header >> 16 & 0xFF))
                w.append(bytes)
            case .rle(let byte, let count):
                let header = last | 1 << 1 | UInt32(count) << 3
                w.u8(UInt8(header & 0xFF)); w.u8(UInt8(header >> 8 & 0xFF)); w.u8(UInt8(header >> 16 & 0xFF))
                w.u8(byte)
            }
        }
        return w.bytes
    }
}
