import FlamedSystem

/// A decoded SAMPLE: the fields flame graphs need, with the callchain read in place.
///
/// It is the one sample type of flamed, whatever the source (a perf.data file, a live ring
/// buffer, a batch handed to a report worker). It is lent: valid only while the bytes it
/// reads from live, which is the call it is handed to (`PerfDataReader.readRecords`) or the
/// life of the `SampleRecord` that holds it. Holding no references, it costs no reference
/// counting to pass on.
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

    public init(attrIndex: Int = 0, pid: Int32, tid: Int32, time: UInt64, ip: UInt64, period: UInt64 = 1, cpu: UInt32 = 0,
                cpumode: UInt16, callchain: Callchain?) {
        self.attrIndex = attrIndex
        self.pid = pid
        self.tid = tid
        self.time = time
        self.ip = ip
        self.period = period
        self.cpu = cpu
        self.cpumode = cpumode
        self.callchain = callchain
    }
}

/// The raw entries of a sample's callchain, in place: valid as long as its sample.
public struct Callchain {
    @usableFromInline let words: BorrowedBytes
    /// Number of entries, context markers included.
    public let count: Int

    /// The `count` entries at the start of `words` (which must hold them).
    public init(words: BorrowedBytes, count: Int) {
        self.words = words
        self.count = count
    }

    /// Entry `index` (0 is the leaf end).
    @inlinable @inline(__always)
    public subscript(index: Int) -> UInt64 { words.u64(index &* 8) ?? 0 }

    /// The entries as an array.
    public var entries: [UInt64] { (0..<count).map { self[$0] } }

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

/// A SAMPLE record that keeps its bytes, as live sampling queues it: its `Sample` stays
/// valid as long as the record does. Its fields read as the sample's (`record.pid`).
@dynamicMemberLookup
public struct SampleRecord {
    private let bytes: ByteView
    private let sample: Sample

    init(bytes: ByteView, sample: Sample) {
        self.bytes = bytes
        self.sample = sample
    }

    /// Lends the sample to `body`, keeping its bytes alive meanwhile.
    public func withSample<R>(_ body: (Sample) throws -> R) rethrows -> R {
        try withExtendedLifetime(bytes) { try body(sample) }
    }

    public subscript<T>(dynamicMember field: KeyPath<Sample, T>) -> T { sample[keyPath: field] }
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
    case sample(SampleRecord)
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
