import FlamedSystem

/// Reads a perf.data file (file mode or pipe mode) and delivers its records in time order.
///
/// The header, attributes and feature sections are parsed by `init`; `readRecords` then
/// walks the data, decompresses COMPRESSED records, handles perf's own user records
/// (HEADER_ATTR, HEADER_FEATURE, ID_INDEX, EVENT_UPDATE, FINISHED_ROUND, …) and hands the
/// kernel records to the caller sorted by time within FINISHED_ROUND windows, as perf's
/// ordered-events queue does.
public final class PerfDataReader: RecordDecoding {
    /// The file and pipe magic "PERFILE2" read as a little-endian u64.
    static let magic: UInt64 = 0x3245_4c49_4652_4550
    static let swappedMagic: UInt64 = 0x5045_5246_494c_4532
    static let fileHeaderSize = 104
    static let pipeHeaderSize = 16
    /// Largest decompressed size accepted for one file, to bound memory on hostile input.
    static let decompressedLimit = 64 << 30

    public let isPipe: Bool
    public private(set) var attrs: [EventAttr] = [] {
        didSet { layouts = attrs.map(RecordLayout.init) }
    }
    public private(set) var layouts: [RecordLayout] = []
    public private(set) var header = PerfHeaderInfo()
    /// Problems that did not stop the read (truncated tail, bad feature sections, …).
    public private(set) var warnings: [String] = []
    /// Samples whose event id matched no attribute (skipped, as perf does).
    public private(set) var unknownIDSamples = 0
    /// Records of types flamed does not use, skipped by their size.
    public private(set) var skippedRecords = 0
    /// Number of COMPRESSED records decompressed.
    public private(set) var compressedRecords = 0

    private let bytes: ByteView
    private var dataStart: Int
    private var dataEnd: Int
    private var idToAttr: [UInt64: Int] = [:]
    private var pending: [QueuedRecord] = []
    private var sequence: UInt32 = 0
    private var nextFlush: UInt64 = 0
    private var maxTimestamp: UInt64 = 0
    private var decompressor: ZstdDecompressor?
    private var leftover: [UInt8] = []
    private var decompressedTotal = 0
    /// Offset in the input up to which the walk has gone, and up to which pages were dropped.
    private var walkPosition = 0
    private var releasedUpTo = 0

    /// A record waiting for its round to end. It names its bytes by `chunk` (-1: the
    /// input, else an entry of `chunks`), not by a view, so that sorting and dropping queued
    /// records costs no reference counting.
    private struct QueuedRecord {
        var time: UInt64
        var sequence: UInt32
        var chunk: Int32
        var offset: Int
        var fileOffset: Int
    }
    /// Decompressed data that queued records (or the walk) lie in, by number; each is let
    /// go of once none does.
    private var chunks: [Int32: ByteView] = [:]
    private var nextChunk: Int32 = 0
    /// The chunk being walked (-1: the input).
    private var currentChunk: Int32 = -1

    /// Parses the header of `bytes`. Throws `PerfDataError` when it is not perf.data,
    /// byte-swapped, or its header, attributes or sections point outside the data.
    public init(bytes: ByteView) throws {
        self.bytes = bytes
        guard let magic = bytes.u64(0) else {
            throw PerfDataError(.notPerfData, offset: 0, bytes.count == 0 ? "file is empty" : "only \(bytes.count) bytes, too short for a header")
        }
        if magic == Self.swappedMagic {
            throw PerfDataError(.byteSwapped, offset: 0, "recorded on a machine of the other byte order; convert it with perf on such a machine")
        }
        guard magic == Self.magic else {
            throw PerfDataError(.notPerfData, offset: 0, "bad magic (expected PERFILE2)")
        }
        guard let headerSize = bytes.u64(8) else {
            throw PerfDataError(.truncatedHeader, offset: 8, "header size field missing")
        }
        if headerSize == UInt64(Self.pipeHeaderSize) {
            isPipe = true
            dataStart = Self.pipeHeaderSize
            dataEnd = bytes.count
            return
        }
        isPipe = false
        guard headerSize >= UInt64(Self.fileHeaderSize), headerSize < 1 << 20 else {
            throw PerfDataError(.truncatedHeader, offset: 8, "header size \(headerSize) is neither 16 (pipe) nor at least \(Self.fileHeaderSize)")
        }
        guard bytes.count >= Self.fileHeaderSize else {
            throw PerfDataError(.truncatedHeader, offset: bytes.count, "file header needs \(Self.fileHeaderSize) bytes, \(bytes.count) present")
        }
        let rawAttrSize = bytes.u64(16)!
        guard rawAttrSize >= UInt64(EventAttr.minimumSize + 16), rawAttrSize <= 4096 else {
            throw PerfDataError(.badAttribute, offset: 16, "attr entry size \(rawAttrSize) is not plausible")
        }
        let attrSize = Int(rawAttrSize)
        let attrsOffset = bytes.u64(24)!, attrsSize = bytes.u64(32)!
        let dataOffset = bytes.u64(40)!, dataSize = bytes.u64(48)!
        func section(_ offset: UInt64, _ size: UInt64, _ what: String, at field: Int) throws -> (Int, Int) {
            guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset else {
                throw PerfDataError(.truncatedHeader, offset: field,
                                    "\(what) section [0x\(String(offset, radix: 16)), +\(size)) lies beyond the end of the file (\(bytes.count) bytes)")
            }
            return (Int(offset), Int(size))
        }
        let (attrsStart, attrsLength) = try section(attrsOffset, attrsSize, "attrs", at: 24)
        guard dataOffset <= UInt64(bytes.count) else {
            throw PerfDataError(.truncatedHeader, offset: 40, "data section offset 0x\(String(dataOffset, radix: 16)) lies beyond the end of the file (\(bytes.count) bytes)")
        }
        var (start, length) = (Int(dataOffset), Int(0))
        var complete = false
        if dataSize == 0 {
            length = bytes.count - start
            warnings.append("the data size in the header is 0: perf record did not finish writing this file; reading to its end")
        } else if dataSize > UInt64(bytes.count) - dataOffset {
            length = bytes.count - start
            warnings.append("the data section is cut short (header says \(dataSize) bytes, \(length) present): the file is truncated")
        } else {
            (start, length) = try section(dataOffset, dataSize, "data", at: 40)
            complete = true
        }
        dataStart = start
        dataEnd = start + length

        guard attrsLength % attrSize == 0 else {
            throw PerfDataError(.badAttribute, offset: attrsStart, "attrs section of \(attrsLength) bytes is not a multiple of the entry size \(attrSize)")
        }
        for index in 0..<(attrsLength / attrSize) {
            let entry = attrsStart + index * attrSize
            var attr = try EventAttr.parse(bytes, at: entry, limit: attrSize - 16, fileOffset: entry)
            let idsOffset = bytes.u64(entry + attrSize - 16)!, idsSize = bytes.u64(entry + attrSize - 8)!
            guard idsSize % 8 == 0, idsOffset <= UInt64(bytes.count), idsSize <= UInt64(bytes.count) - idsOffset else {
                throw PerfDataError(.badAttribute, offset: entry + attrSize - 16, "id list of attr \(index) lies outside the file")
            }
            for i in 0..<Int(idsSize / 8) {
                attr.ids.append(bytes.u64(Int(idsOffset) + i * 8)!)
            }
            addAttr(attr)
        }
        if complete {
            readFeatureSections(bitmapOffset: 72, sectionsOffset: dataEnd)
        }
        applyEventNames()
    }

    /// Convenience: maps or reads `path` ("-" for standard input) and parses its header.
    public static func open(path: String) throws -> PerfDataReader {
        let loaded = path == "-" ? FileReader.readAll(fd: 0, path: "<stdin>") : FileReader.map(path: path)
        switch loaded {
        case .failure(let error): throw error
        case .success(let view): return try PerfDataReader(bytes: view)
        }
    }

    /// Total bytes of record data, for progress display.
    public var dataSize: Int { dataEnd - dataStart }

    private func addAttr(_ attr: EventAttr) {
        let index = attrs.count
        attrs.append(attr)
        for id in attr.ids where idToAttr[id] == nil { idToAttr[id] = index }
    }

    private func readFeatureSections(bitmapOffset: Int, sectionsOffset: Int) {
        var cursor = sectionsOffset
        for feature in 0..<FeatureID.lastFeature {
            let word = bytes.u64(bitmapOffset + (feature / 64) * 8) ?? 0
            guard word & (1 << UInt64(feature % 64)) != 0 else { continue }
            guard let offset = bytes.u64(cursor), let size = bytes.u64(cursor + 8) else {
                warnings.append("feature section table at offset 0x\(String(cursor, radix: 16)) is cut short; features ignored")
                return
            }
            cursor += 16
            guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset,
                  let view = bytes.slice(Int(offset), Int(size)) else {
                warnings.append("feature \(feature) points outside the file; ignored")
                continue
            }
            header.parseFeature(feature, view, fileOffset: Int(offset))
        }
        warnings.append(contentsOf: header.warnings)
        header.warnings = []
    }

    private func applyEventNames() {
        for (index, entry) in header.eventNames.enumerated() {
            if let byID = entry.ids.first.flatMap({ idToAttr[$0] }) {
                attrs[byID].name = entry.name
            } else if index < attrs.count {
                attrs[index].name = entry.name
            }
        }
    }

    // MARK: - Records

    /// `readRecords`, with samples given to `samples` (and not to `handler`): a sample is
    /// lent as it is decoded, read in place and valid only during the call, without being
    /// wrapped in a `PerfRecord` or counting a reference to its bytes, which a report does a
    /// hundred thousand times.
    public func readRecords(progress: ((Int, Int) -> Void)? = nil, samples: (Sample) throws -> Void,
                            _ handler: (PerfRecord) throws -> Void) throws {
        try withoutActuallyEscaping(samples) { samples in
            sampleHandler = samples
            defer { sampleHandler = nil }
            try readRecords(progress: progress, handler)
        }
    }

    /// Where samples go while `readRecords(progress:samples:_:)` runs.
    private var sampleHandler: ((Sample) throws -> Void)?

    /// Reads every record and calls `handler` for each kernel record in time order.
    /// `progress` is called now and then with (bytes done, bytes total).
    public func readRecords(progress: ((Int, Int) -> Void)? = nil, _ handler: (PerfRecord) throws -> Void) throws {
        var lastReport = 0
        try walk(view: bytes, from: dataStart, to: dataEnd, origin: nil, handler: handler) { offset in
            if let progress, offset - lastReport > 1 << 22 {
                lastReport = offset
                progress(offset - self.dataStart, self.dataEnd - self.dataStart)
            }
        }
        try flush(upTo: .max, handler)
        if !leftover.isEmpty {
            warnings.append("compressed data ends inside a record (\(leftover.count) bytes left over); they are ignored")
            leftover = []
        }
        // perf leaves its one zstd frame open; only input that yielded nothing is a loss.
        if let decompressor, decompressor.isInsideFrame, decompressor.lastOutputCount == 0 {
            warnings.append("compressed data ends inside a zstd frame; the file is truncated")
        }
    }

    /// Walks the records in `view` between `from` and `to`. `origin` is the file
    /// offset of the COMPRESSED record the buffer came from, if any. Returns the offset of
    /// an incomplete trailing record in a decompressed buffer (the rest is carried over).
    @discardableResult
    private func walk(view: ByteView, from: Int, to: Int, origin: Int?,
                      handler: (PerfRecord) throws -> Void, onRecord: (Int) -> Void) throws -> Int {
        var offset = from
        while offset < to {
            let fileOffset = origin ?? offset
            guard to - offset >= 8, let type = view.u32(offset), let size16 = view.u16(offset + 6) else {
                if origin != nil { return offset }
                warnings.append("truncated record at offset 0x\(String(offset, radix: 16)): header needs 8 bytes, \(to - offset) left; the rest of the file is ignored")
                return to
            }
            let size = Int(size16)
            guard size >= 8 else {
                throw PerfDataError(.badRecordSize, offset: fileOffset, "record of type \(type) has size \(size), less than its 8-byte header")
            }
            guard size <= to - offset else {
                if origin != nil { return offset }
                warnings.append("truncated record at offset 0x\(String(offset, radix: 16)): \(RecordType.name(type)) needs \(size) bytes, \(to - offset) left; the rest of the file is ignored")
                return to
            }
            try process(view: view, offset: offset, type: type, size: size, fileOffset: fileOffset, handler: handler)
            offset += size
            if origin == nil { walkPosition = offset }
            // AUXTRACE and pipe-mode TRACING_DATA are followed by payload their size omits.
            if type == RecordType.auxtrace || type == RecordType.headerTracingData {
                let payload = type == RecordType.auxtrace ? view.u64(offset - size + 8) : view.u32(offset - size + 8).map { (UInt64($0) + 7) & ~7 }
                guard let payload, payload <= UInt64(to - offset) else {
                    if origin != nil { return offset - size }
                    warnings.append("truncated \(RecordType.name(type)) payload at offset 0x\(String(offset, radix: 16)); the rest of the file is ignored")
                    return to
                }
                offset += Int(payload)
            }
            if origin == nil { onRecord(offset) }
        }
        return offset
    }

    private func process(view: ByteView, offset: Int, type: UInt32, size: Int, fileOffset: Int,
                         handler: (PerfRecord) throws -> Void) throws {
        switch type {
        case RecordType.finishedRound:
            try flush(upTo: nextFlush, handler)
            nextFlush = maxTimestamp
        case RecordType.compressed:
            try decompress(view.slice(offset + 8, size - 8)!, fileOffset: fileOffset, handler: handler)
        case RecordType.compressed2:
            guard let length = view.u64(offset + 8), length <= UInt64(size - 16) else {
                throw PerfDataError(.badRecord, offset: fileOffset, "COMPRESSED2 data size does not fit its \(size)-byte record")
            }
            try decompress(view.slice(offset + 16, Int(length))!, fileOffset: fileOffset, handler: handler)
        case RecordType.headerAttr:
            guard size >= 8 + EventAttr.minimumSize else {
                throw PerfDataError(.badAttribute, offset: fileOffset, "HEADER_ATTR of \(size) bytes is shorter than an attr")
            }
            var attr = try EventAttr.parse(view, at: offset + 8, limit: size - 8, fileOffset: fileOffset)
            let idBytes = size - 8 - Int(attr.size)
            for i in 0..<(idBytes / 8) { attr.ids.append(view.u64(offset + 8 + Int(attr.size) + i * 8)!) }
            addAttr(attr)
        case RecordType.headerFeature:
            if let feature = view.u64(offset + 8), feature < UInt64(FeatureID.lastFeature), let body = view.slice(offset + 16, size - 16) {
                header.parseFeature(Int(feature), body, fileOffset: fileOffset)
                warnings.append(contentsOf: header.warnings)
                header.warnings = []
                if Int(feature) == FeatureID.eventDesc { applyEventNames() }
            }
        case RecordType.headerBuildID:
            if let record = view.slice(offset, size) { header.buildIDs.append(contentsOf: PerfHeaderInfo.parseBuildIDs(record)) }
        case RecordType.idIndex:
            try readIDIndex(view, offset: offset, size: size, fileOffset: fileOffset)
        case RecordType.eventUpdate:
            // perf_record_event_update: u64 type, u64 id, then the payload; type 2 is NAME.
            if let kind = view.u64(offset + 8), kind == 2, let id = view.u64(offset + 16),
               let index = idToAttr[id], let name = view.cString(offset + 24, maxLength: size - 24), !name.isEmpty {
                attrs[index].name = name
            }
        case RecordType.headerEventType, RecordType.headerTracingData, RecordType.threadMap,
             RecordType.cpuMap, RecordType.finishedInit:
            skippedRecords += 1
        case 1..<64:
            try queue(view: view, offset: offset, type: type, size: size, fileOffset: fileOffset, handler: handler)
        default:
            skippedRecords += 1
        }
    }

    private func readIDIndex(_ view: ByteView, offset: Int, size: Int, fileOffset: Int) throws {
        guard let count = view.u64(offset + 8) else { return }
        let body = size - 16
        guard count > 0 else { return }
        guard count <= UInt64(body / 32) else {
            throw PerfDataError(.badRecord, offset: fileOffset, "ID_INDEX claims \(count) entries but has room for \(body / 32)")
        }
        // {id, idx, cpu, tid} entries; guest recordings append a second block after them.
        for i in 0..<Int(count) {
            let entry = offset + 16 + i * 32
            guard let id = view.u64(entry), let index = view.u64(entry + 8) else { break }
            if index < UInt64(attrs.count), idToAttr[id] == nil {
                idToAttr[id] = Int(index)
                attrs[Int(index)].ids.append(id)
            }
        }
    }

    private func decompress(_ payload: ByteView, fileOffset: Int, handler: (PerfRecord) throws -> Void) throws {
        compressedRecords += 1
        if decompressor == nil { decompressor = ZstdDecompressor() }
        var output = leftover
        leftover = []
        let before = output.count
        if case .failure(let error) = decompressor!.decompress(payload, appendingTo: &output, limit: Self.decompressedLimit) {
            throw PerfDataError(.compression, offset: fileOffset, "zstd: \(error.message)")
        }
        decompressedTotal += output.count - before
        guard decompressedTotal <= Self.decompressedLimit else {
            throw PerfDataError(.tooLarge, offset: fileOffset, "decompressed data exceeds \(Self.decompressedLimit >> 30) GiB")
        }
        let view = ByteView(output)
        currentChunk = nextChunk
        chunks[currentChunk] = view
        nextChunk &+= 1
        defer { currentChunk = -1 }
        let end = try walk(view: view, from: 0, to: output.count, origin: fileOffset, handler: handler, onRecord: { _ in })
        if end < output.count {
            leftover = Array(output[end...])
        }
    }

    public func attrIndex(forID id: UInt64) -> Int? { idToAttr[id] }

    public func noteUnknownID() { unknownIDSamples += 1 }

    private func queue(view: ByteView, offset: Int, type: UInt32, size: Int, fileOffset: Int,
                       handler: (PerfRecord) throws -> Void) throws {
        guard !attrs.isEmpty else {
            throw PerfDataError(.badRecord, offset: fileOffset, "\(RecordType.name(type)) record before any event attribute")
        }
        let time: UInt64
        if type == RecordType.sample {
            // A sample with an unknown id is timed by the first event's layout (and skipped later).
            time = sampleTime(in: view, at: offset, size: size)
        } else {
            let record = view.slice(offset, size)!
            time = trailerTime(record, nonSampleLayout(record))
        }
        if time == 0 || time == .max {
            try deliver(view: view, offset: offset, fileOffset: fileOffset, handler)
            return
        }
        if time > maxTimestamp { maxTimestamp = time }
        pending.append(QueuedRecord(time: time, sequence: sequence, chunk: currentChunk, offset: offset, fileOffset: fileOffset))
        sequence &+= 1
    }

    private func flush(upTo limit: UInt64, _ handler: (PerfRecord) throws -> Void) throws {
        guard !pending.isEmpty else { return }
        pending.sort { $0.time != $1.time ? $0.time < $1.time : $0.sequence < $1.sequence }
        var delivered = 0
        var chunk: Int32 = -1, view = bytes
        for record in pending {
            if record.time > limit { break }
            if record.chunk != chunk {
                chunk = record.chunk
                view = chunk < 0 ? bytes : chunks[chunk] ?? ByteView([])
            }
            try deliver(view: view, offset: record.offset, fileOffset: record.fileOffset, handler)
            delivered += 1
        }
        pending.removeFirst(delivered)
        if chunks.count > 1 || (chunks.count == 1 && currentChunk < 0) {
            var needed = Set(pending.lazy.map(\.chunk))
            needed.insert(currentChunk)
            chunks = chunks.filter { needed.contains($0.key) }
        }
        releaseConsumedInput()
    }

    /// Drops resident pages of the mapped input that no queued record still needs.
    private func releaseConsumedInput() {
        let needed = pending.reduce(walkPosition) { $1.chunk < 0 ? min($0, $1.offset) : $0 }
        if needed > releasedUpTo + (1 << 20) {
            bytes.releaseResidentPages(releasedUpTo, needed - releasedUpTo)
            releasedUpTo = needed
        }
    }

    private func deliver(view: ByteView, offset: Int, fileOffset: Int, _ handler: (PerfRecord) throws -> Void) throws {
        let type = view.u32(offset)!
        let misc = view.u16(offset + 4)!
        let size = Int(view.u16(offset + 6)!)
        if type == RecordType.sample, let sampleHandler {
            guard let record = view.borrowed(offset, size) else { return }
            if let sample = try decodeSample(borrowing: record, misc: misc, fileOffset: fileOffset) { try sampleHandler(sample) }
            return
        }
        guard let record = view.slice(offset, size) else { return }
        if let decoded = try decode(record, type: type, misc: misc, fileOffset: fileOffset) {
            try handler(decoded)
        }
    }
}
