import FlamedSystem

/// Decodes kernel records (as perf.data stores them and as perf rings deliver them) for a
/// set of events. The perf.data reader and the live sampler both decode through it.
public protocol RecordDecoding: AnyObject {
    /// The events, in the order samples refer to them.
    var attrs: [EventAttr] { get }
    /// `RecordLayout(attrs[i])` for each event, kept in step with `attrs`.
    var layouts: [RecordLayout] { get }
    /// The event a sample id belongs to.
    func attrIndex(forID id: UInt64) -> Int?
    /// Counts a sample whose id matches no event.
    func noteUnknownID()
}

extension RecordDecoding {
    /// Decodes one kernel record (`record` spans exactly its header and body).
    public func decode(_ record: ByteView, type: UInt32, misc: UInt16, fileOffset: Int) throws -> PerfRecord? {
        switch type {
        case RecordType.sample:
            return try decodeSample(record, misc: misc, fileOffset: fileOffset).map { .sample($0) }
        case RecordType.mmap, RecordType.mmap2:
            return try decodeMmap(record, type: type, misc: misc, fileOffset: fileOffset).map { .mmap($0) }
        case RecordType.comm:
            guard let pid = record.u32(8), let tid = record.u32(12) else { throw short(type, 16, record, fileOffset) }
            let attr = nonSampleLayout(record)
            let end = record.count - attr.sampleIDTrailerSize
            guard end >= 16, let name = record.cString(16, maxLength: end - 16) else { throw short(type, 16 + attr.sampleIDTrailerSize, record, fileOffset) }
            return .comm(CommRecord(pid: Int32(bitPattern: pid), tid: Int32(bitPattern: tid), name: name,
                                    isExec: misc & RecordMisc.commExec != 0, time: trailerTime(record, attr)))
        case RecordType.fork, RecordType.exit:
            guard let pid = record.u32(8), let ppid = record.u32(12), let tid = record.u32(16), let ptid = record.u32(20),
                  let time = record.u64(24) else { throw short(type, 32, record, fileOffset) }
            let task = TaskRecord(pid: Int32(bitPattern: pid), parentPID: Int32(bitPattern: ppid),
                                  tid: Int32(bitPattern: tid), parentTID: Int32(bitPattern: ptid), time: time)
            return type == RecordType.fork ? .fork(task) : .exit(task)
        case RecordType.lost:
            guard let count = record.u64(16) else { throw short(type, 24, record, fileOffset) }
            return .lost(count)
        case RecordType.lostSamples:
            guard let count = record.u64(8) else { throw short(type, 16, record, fileOffset) }
            return .lostSamples(count)
        case RecordType.throttle, RecordType.unthrottle:
            return .throttle(type == RecordType.throttle)
        case RecordType.ksymbol:
            guard let address = record.u64(8), let length = record.u32(16), let kind = record.u16(20),
                  let flags = record.u16(22) else { throw short(type, 24, record, fileOffset) }
            let attr = nonSampleLayout(record)
            let end = record.count - attr.sampleIDTrailerSize
            let name = end > 24 ? (record.cString(24, maxLength: end - 24) ?? "") : ""
            return .ksymbol(KSymbolRecord(address: address, length: length, type: kind, isUnregister: flags & 1 != 0, name: name))
        default:
            return nil
        }
    }

    private func short(_ type: UInt32, _ needed: Int, _ record: ByteView, _ fileOffset: Int) -> PerfDataError {
        PerfDataError(.badRecord, offset: fileOffset, "\(RecordType.name(type)) needs \(needed) bytes, record has \(record.count)")
    }

    /// The event a non-sample record belongs to, from its sample_id_all trailer (perf
    /// reads the id where the first event's layout puts it); the first event otherwise.
    func nonSampleLayout(_ record: ByteView) -> RecordLayout {
        let layouts = self.layouts
        let first = layouts[0]
        if layouts.count > 1, let fromEnd = first.trailerIDOffsetFromEnd, record.count - 8 >= first.sampleIDTrailerSize,
           let id = record.u64(record.count - fromEnd), let index = attrIndex(forID: id) {
            return layouts[index]
        }
        return first
    }

    /// The TIME field of a non-sample record's trailer, or 0.
    func trailerTime(_ record: ByteView, _ attr: RecordLayout) -> UInt64 {
        guard let timeOffset = attr.trailerTimeOffset, record.count - 8 >= attr.sampleIDTrailerSize else { return 0 }
        return record.u64(record.count - attr.sampleIDTrailerSize + timeOffset) ?? 0
    }

    /// A SAMPLE's event id (IDENTIFIER or ID, where the first event's layout puts it), or
    /// nil when the record has none or is too short for it.
    func sampleID(_ record: BorrowedBytes) -> UInt64? {
        guard let position = layouts[0].sampleIDOffset, 8 + position + 8 <= record.count else { return nil }
        return record.u64(8 + position)
    }

    /// The time of any record: a SAMPLE's TIME field or another record's trailer time; 0 when
    /// it has none.
    public func recordTime(_ record: ByteView, type: UInt32) -> UInt64 {
        if type == RecordType.sample {
            let layouts = self.layouts
            return sampleTime(record, layouts.count == 1 ? layouts[0] : layouts[sampleID(record.borrowed).flatMap(attrIndex(forID:)) ?? 0])
        }
        if type == RecordType.fork || type == RecordType.exit { return record.u64(24) ?? 0 }
        return trailerTime(record, nonSampleLayout(record))
    }

    /// A SAMPLE's TIME field, or 0.
    /// The TIME field of the SAMPLE of `size` bytes at `offset` in `view` (read in place,
    /// without a slice of its own), or 0.
    func sampleTime(in view: ByteView, at offset: Int, size: Int) -> UInt64 {
        var layout = layouts[0]
        if layouts.count > 1, let position = layout.sampleIDOffset, 8 + position + 8 <= size,
           let id = view.u64(offset + 8 + position), let index = attrIndex(forID: id) {
            layout = layouts[index]
        }
        guard let position = layout.sampleTimeOffset, 8 + position + 8 <= size else { return 0 }
        return view.u64(offset + 8 + position) ?? 0
    }

    func sampleTime(_ record: ByteView, _ attr: RecordLayout) -> UInt64 {
        guard let position = attr.sampleTimeOffset, 8 + position + 8 <= record.count else { return 0 }
        return record.u64(8 + position) ?? 0
    }

    private func decodeMmap(_ record: ByteView, type: UInt32, misc: UInt16, fileOffset: Int) throws -> MmapRecord? {
        let fixed = type == RecordType.mmap ? 40 : 72
        let attr = nonSampleLayout(record)
        let end = record.count - attr.sampleIDTrailerSize
        guard end >= fixed, let pid = record.u32(8), let tid = record.u32(12), let start = record.u64(16),
              let length = record.u64(24), let pageOffset = record.u64(32) else {
            throw short(type, fixed + attr.sampleIDTrailerSize, record, fileOffset)
        }
        // PERF_RECORD_MISC_MMAP_DATA (same bit as COMM_EXEC): a data mapping, not code.
        if misc & RecordMisc.commExec != 0 { return nil }
        var buildID: [UInt8]?
        var protection: UInt32?
        var identity: (UInt32, UInt32, UInt64)?
        if type == RecordType.mmap2 {
            if misc & RecordMisc.mmapBuildID != 0, let size = record.u8(40) {
                buildID = record.bytes(44, min(Int(size), 20))
            } else if let major = record.u32(40), let minor = record.u32(44), let inode = record.u64(48), inode != 0 {
                identity = (major, minor, inode)
            }
            protection = record.u32(64)
        }
        let filename = record.cString(fixed, maxLength: end - fixed) ?? ""
        var decoded = MmapRecord(pid: Int32(bitPattern: pid), tid: Int32(bitPattern: tid), start: start, length: length,
                                 pageOffset: pageOffset, filename: filename, buildID: buildID,
                                 cpumode: misc & RecordMisc.cpumodeMask, time: trailerTime(record, attr), protection: protection)
        if let identity { (decoded.major, decoded.minor, decoded.inode) = identity }
        return decoded
    }

    /// Decodes a SAMPLE (`record` spans exactly its header and body) into a record that
    /// keeps its bytes; nil when its event id is unknown (counted).
    func decodeSample(_ record: ByteView, misc: UInt16, fileOffset: Int) throws -> SampleRecord? {
        guard let sample = try decodeSample(borrowing: record.borrowed, misc: misc, fileOffset: fileOffset) else { return nil }
        return SampleRecord(bytes: record, sample: sample)
    }

    /// Decodes a SAMPLE in place (`record` spans exactly its header and body); nil when its
    /// event id is unknown (counted).
    func decodeSample(borrowing record: BorrowedBytes, misc: UInt16, fileOffset: Int) throws -> Sample? {
        let size = record.count
        var attrIndex = 0
        let layouts = self.layouts
        if layouts.count > 1 {
            guard let id = sampleID(record) else {
                throw PerfDataError(.badSample, offset: fileOffset, "sample of \(size) bytes has no event id")
            }
            guard let index = self.attrIndex(forID: id) else {
                noteUnknownID()
                return nil
            }
            attrIndex = index
        }
        let type = layouts[attrIndex].sampleType
        var p = 8
        @inline(__always) func next(_ what: String) throws -> UInt64 {
            guard let value = record.u64(p) else {
                throw PerfDataError(.badSample, offset: fileOffset, "SAMPLE needs \(what) at byte \(p), record has \(size) bytes")
            }
            p += 8
            return value
        }
        var sample = Sample(attrIndex: attrIndex, pid: -1, tid: -1, time: 0, ip: 0, period: 1, cpu: 0,
                                    cpumode: misc & RecordMisc.cpumodeMask, callchain: nil)
        if type & SampleFormat.identifier != 0 { _ = try next("IDENTIFIER") }
        if type & SampleFormat.ip != 0 { sample.ip = try next("IP") }
        if type & SampleFormat.tid != 0 {
            let value = try next("TID")
            sample.pid = Int32(bitPattern: UInt32(truncatingIfNeeded: value))
            sample.tid = Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))
        }
        if type & SampleFormat.time != 0 { sample.time = try next("TIME") }
        if type & SampleFormat.addr != 0 { _ = try next("ADDR") }
        if type & SampleFormat.id != 0 { _ = try next("ID") }
        if type & SampleFormat.streamID != 0 { _ = try next("STREAM_ID") }
        if type & SampleFormat.cpu != 0 { sample.cpu = UInt32(truncatingIfNeeded: try next("CPU")) }
        if type & SampleFormat.period != 0 { sample.period = try next("PERIOD") }
        if type & SampleFormat.read != 0 {
            let format = layouts[attrIndex].readFormat
            var perValue = 1
            if format & ReadFormat.id != 0 { perValue += 1 }
            if format & ReadFormat.lost != 0 { perValue += 1 }
            var times = 0
            if format & ReadFormat.totalTimeEnabled != 0 { times += 1 }
            if format & ReadFormat.totalTimeRunning != 0 { times += 1 }
            if format & ReadFormat.group != 0 {
                let count = try next("READ nr")
                guard count <= UInt64(size / 8) else {
                    throw PerfDataError(.badSample, offset: fileOffset, "READ group claims \(count) values in a \(size)-byte sample")
                }
                p += (times + Int(count) * perValue) * 8
            } else {
                p += (times + perValue) * 8
            }
            guard p <= size else {
                throw PerfDataError(.badSample, offset: fileOffset, "SAMPLE's READ values need \(p) bytes, record has \(size)")
            }
        }
        if type & SampleFormat.callchain != 0 {
            let count = try next("CALLCHAIN nr")
            let room = (size - p) / 8
            guard count <= UInt64(room) else {
                throw PerfDataError(.badSample, offset: fileOffset, "callchain of \(count) entries needs \(count &* 8) bytes, \(size - p) left")
            }
            sample.callchain = Callchain(words: record.slice(p, Int(count) * 8)!, count: Int(count))
        }
        return sample
    }
}
