#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// A perf ring buffer: one control page followed by a power-of-two number of data pages,
/// mapped shared with the kernel (the producer). flamed is the consumer: it reads
/// `data_head` with acquire ordering, copies the bytes between `data_tail` and the head
/// (in two pieces when they wrap the end of the buffer), and only then stores the new
/// tail with release ordering. The mapping is released when the value goes away.
public struct RingBuffer: ~Copyable {
    private let base: UnsafeMutableRawPointer
    private let mappedSize: Int
    private let dataOffset: Int
    /// Bytes in the data area (a power of two).
    public let dataSize: Int

    /// Maps the ring of a perf event: `dataPages` (a power of two) of `pageSize` bytes.
    public static func map(fd: Int32, dataPages: Int, pageSize: Int = systemPageSize) -> Result<RingBuffer, Errno> {
        precondition(dataPages > 0 && dataPages & (dataPages - 1) == 0, "ring pages must be a power of two")
        let size = (dataPages + 1) * pageSize
        guard let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            return .failure(Errno(rawValue: Glibc.errno))
        }
        var offset = Int(flamed_shim_ring_data_offset(mapping))
        var dataSize = Int(flamed_shim_ring_data_size(mapping))
        if offset == 0 || dataSize == 0 {
            offset = pageSize
            dataSize = dataPages * pageSize
        }
        return .success(RingBuffer(base: mapping, mappedSize: size, dataOffset: offset, dataSize: dataSize))
    }

    /// An anonymous ring laid out as the kernel lays one out, for tests that play the kernel
    /// with `produce(_:)`.
    public static func synthetic(dataPages: Int, pageSize: Int = systemPageSize) -> Result<RingBuffer, Errno> {
        precondition(dataPages > 0 && dataPages & (dataPages - 1) == 0, "ring pages must be a power of two")
        let size = (dataPages + 1) * pageSize
        guard let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), mapping != MAP_FAILED else {
            return .failure(Errno(rawValue: Glibc.errno))
        }
        flamed_shim_ring_set_layout(mapping, UInt64(pageSize), UInt64(dataPages * pageSize))
        return .success(RingBuffer(base: mapping, mappedSize: size, dataOffset: pageSize, dataSize: dataPages * pageSize))
    }

    private init(base: UnsafeMutableRawPointer, mappedSize: Int, dataOffset: Int, dataSize: Int) {
        self.base = base
        self.mappedSize = mappedSize
        self.dataOffset = dataOffset
        self.dataSize = dataSize
    }

    deinit { munmap(base, mappedSize) }

    /// The producer's position (bytes written since the start, never wrapped).
    public var head: UInt64 { flamed_shim_ring_load_head(base) }
    /// The consumer's position.
    public var tail: UInt64 { flamed_shim_ring_load_tail(base) }

    /// Copies every byte the producer has published since the last drain into a new
    /// buffer, then moves the tail to the head. Returns nil when the ring is empty. The
    /// copy holds whole records: the kernel publishes only whole records.
    public func drain() -> ByteView? {
        let head = flamed_shim_ring_load_head(base)
        let tail = flamed_shim_ring_load_tail(base)
        guard head != tail else { return nil }
        // A head more than a ring ahead of the tail cannot happen; if it does, skip to it.
        let available = head &- tail
        guard available <= UInt64(dataSize) else {
            flamed_shim_ring_store_tail(base, head)
            return nil
        }
        let count = Int(available)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
        let data = base + dataOffset
        let start = Int(tail & UInt64(dataSize - 1))
        let first = min(count, dataSize - start)
        memory.copyMemory(from: data + start, byteCount: first)
        if first < count { (memory + first).copyMemory(from: data, byteCount: count - first) }
        flamed_shim_ring_store_tail(base, head)
        let storage = ByteStorage(base: UnsafeRawPointer(memory), count: count) { pointer, _ in
            UnsafeMutableRawPointer(mutating: pointer)?.deallocate()
        }
        return ByteView(storage: storage)
    }

    /// Writes `record` at the head and publishes it with release ordering, as the kernel
    /// does; returns false when it does not fit before the tail. For synthetic rings only.
    public func produce(_ record: [UInt8]) -> Bool {
        let head = flamed_shim_ring_load_head(base)
        let tail = flamed_shim_ring_load_tail(base)
        guard UInt64(dataSize) - (head &- tail) >= UInt64(record.count) else { return false }
        let data = base + dataOffset
        let start = Int(head & UInt64(dataSize - 1))
        let first = min(record.count, dataSize - start)
        record.withUnsafeBytes { bytes in
            guard let source = bytes.baseAddress else { return }
            (data + start).copyMemory(from: source, byteCount: first)
            if first < record.count { data.copyMemory(from: source + first, byteCount: record.count - first) }
        }
        flamed_shim_ring_store_head(base, head &+ UInt64(record.count))
        return true
    }
}
