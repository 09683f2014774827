import FlamedSystem

/// A decoded SAMPLE record (the fields flame graphs need).
public struct Sample {
    /// Index of the event in `PerfDataReader.attrs`.
    public var attrIndex: Int
    public var pid: Int32
    public var tid: Int32
    public var time: UInt64
    public var ip: UInt64
    public var period: UInt64
    public var cpu: UInt32
    /// `misc & PERF_RECORD_MISC_CPUMODE_MASK`: kernel (1), user (2), …
    public var cpumode: UInt16
    /// Raw callchain entries, context markers included, leaf first.
    public var callchain: Callchain?
}

/// The raw entries of a sample's callchain, read on demand from the record bytes.
public struct Callchain {
    @usableFromInline let view: ByteView
    /// Number of entries, context markers included.
    public let count: Int

    /// Entry `index` (0 is the leaf end).
    @inlinable @inline(__always)
    public subscript(index: Int) -> UInt64 { view.u64(index &* 8) ?? 0 }

    /// The entries as an array.
    public var entries: [UInt64] { (0..<count).map { self[$0] } }

    /// Replaces the contents of `buffer` with the entries (no allocation once it is large enough).
    public func copy(into buffer: inout [UInt64]) { borrowed.copy(into: &buffer) }

    /// Appends the entries to `buffer`.
    public func append(to buffer: inout [UInt64]) { borrowed.append(to: &buffer) }

    private var borrowed: BorrowedCallchain { BorrowedCallchain(words: view.borrowed, count: count) }
}

/// A decoded SAMPLE as the perf.data reader lends it to a report: the fields of `Sample`,
/// with the callchain read in place from the reader's buffer. It is valid only during the
/// call it is handed to (the buffer of compressed data may go afterwards); `Sample` is the
/// kind to keep. Holding no references, it costs no reference counting to pass on.
public struct BorrowedSample {
    public var attrIndex: Int
    public var pid: Int32
    public var tid: Int32
    public var time: UInt64
    public var ip: UInt64
    public var period: UInt64
    public var cpu: UInt32
    /// `misc & PERF_RECORD_MISC_CPUMODE_MASK`.
    public var cpumode: UInt16
    /// Raw callchain entries, context markers included, leaf first.
    public var callchain: BorrowedCallchain?
    /// Where the callchain entries start in the record, in bytes.
    var callchainOffset = 0
}

/// The raw entries of a `BorrowedSample`'s callchain, in place: valid as long as the sample.
public struct BorrowedCallchain {
    @usableFromInline let words: BorrowedBytes
    /// Number of entries, context markers included.
    public let count: Int

    /// Entry `index` (0 is the leaf end).
    @inlinable @inline(__always)
    public subscript(index: Int) -> UInt64 { words.u64(index &* 8) ?? 0 }

    /// Replaces the contents of `buffer` with the entries (no allocation once it is large enough).
    public func copy(into buffer: inout [UInt64]) {
        buffer.removeAll(keepingCapacity: true)
        append(to: &buffer)
    }

    /// Appends the entries to `buffer`.
    public func append(to buffer: inout [UInt64]) {
        if !words.appendWords(count, to: &buffer) {
            for position in 0..<count { buffer.append(self[position]) }
        }
    }
}

/// An MMAP or MMAP2 record: a file (or anonymous memory) mapped into a process.
public struct MmapRecord: Sendable {
    public var pid: Int32
    public var tid: Int32
    public var start: UInt64
    public var length: UInt64
    public var pageOffset: UInt64
    public var filename: String
    /// The build id carried by MMAP2 records written with `perf record --buildid-mmap`.
    public var buildID: [UInt8]?
    public var cpumode: UInt16
    public var time: UInt64
    /// MMAP2's protection bits, when known.
    public var protection: UInt32?
    /// MMAP2's device (major, minor) and inode of the mapped file; inode 0 when not carried
    /// (MMAP, or MMAP2 with a build id instead).
    public var major: UInt32 = 0
    public var minor: UInt32 = 0
    public var inode: UInt64 = 0

    public var isKernel: Bool { cpumode == RecordMisc.kernel || cpumode == RecordMisc.guestKernel }
}

/// A COMM record: a thread's name changed (prctl) or it called exec.
public struct CommRecord: Sendable {
    public var pid: Int32
    public var tid: Int32
    public var name: String
    public var isExec: Bool
    public var time: UInt64
}

/// A FORK or EXIT record.
public struct TaskRecord: Sendable {
    public var pid: Int32
    public var parentPID: Int32
    public var tid: Int32
    public var parentTID: Int32
    public var time: UInt64
}

/// A KSYMBOL record: kernel code registered or removed at run time (BPF programs, …).
public struct KSymbolRecord: Sendable {
    public var address: UInt64
    public var length: UInt32
    public var type: UInt16
    public var isUnregister: Bool
    public var name: String
}

/// A record delivered to the consumer, in time order.
public enum PerfRecord {
    case sample(Sample)
    case mmap(MmapRecord)
    case comm(CommRecord)
    case fork(TaskRecord)
    case exit(TaskRecord)
    /// LOST: the kernel dropped this many records.
    case lost(UInt64)
    /// LOST_SAMPLES: this many samples were dropped.
    case lostSamples(UInt64)
    /// THROTTLE (true) or UNTHROTTLE (false).
    case throttle(Bool)
    case ksymbol(KSymbolRecord)
}
