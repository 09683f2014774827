#if canImport(Glibc)
import Glibc
#endif

/// Owns a block of bytes: a read-only file mapping or a heap allocation.
/// The mapping or allocation is released when the last `ByteView` that uses it goes away.
public final class ByteStorage: @unchecked Sendable {
    @usableFromInline let base: UnsafeRawPointer?
    @usableFromInline let count: Int
    private let release: @Sendable (UnsafeRawPointer?, Int) -> Void
    /// Another object that must outlive these bytes (for example the open ELF file they lie in).
    private let owner: AnyObject?
    /// Whether the bytes are a read-only private mapping of a file, whose resident pages can
    /// be dropped and are read back from the file when touched again.
    let isFileMapping: Bool

    init(base: UnsafeRawPointer?, count: Int, owner: AnyObject? = nil, isFileMapping: Bool = false,
         release: @escaping @Sendable (UnsafeRawPointer?, Int) -> Void) {
        self.base = base
        self.count = count
        self.owner = owner
        self.isFileMapping = isFileMapping
        self.release = release
    }

    /// Copies `bytes` into a new heap allocation.
    public convenience init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { source in
            if let from = source.baseAddress { memory.copyMemory(from: from, byteCount: bytes.count) }
        }
        self.init(base: UnsafeRawPointer(memory), count: bytes.count) { pointer, _ in
            UnsafeMutableRawPointer(mutating: pointer)?.deallocate()
        }
    }

    deinit { release(base, count) }
}

/// A bounds-checked, read-only window onto bytes held by a `ByteStorage`.
///
/// Every load checks its range and returns `nil` when it would read past the end, so
/// parsers built on it cannot read out of bounds whatever the input says.
public struct ByteView: @unchecked Sendable {
    /// Keeps the bytes alive; loads go through `base` without touching it.
    @usableFromInline let storage: ByteStorage
    /// The first visible byte (the storage's base plus this view's start).
    @usableFromInline let base: UnsafeRawPointer?
    /// Number of bytes visible through this view.
    public let count: Int

    public init(storage: ByteStorage) {
        self.storage = storage
        self.base = storage.base
        self.count = storage.count
    }

    @usableFromInline init(storage: ByteStorage, base: UnsafeRawPointer?, count: Int) {
        self.storage = storage
        self.base = base
        self.count = count
    }


    /// A view holding a copy of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.init(storage: ByteStorage(copying: bytes))
    }

    @inlinable @inline(__always)
    func contains(_ offset: Int, _ length: Int) -> Bool { borrowed.contains(offset, length) }

    /// The sub-range `[offset, offset+length)`, or nil when it is out of bounds.
    @inlinable
    public func slice(_ offset: Int, _ length: Int) -> ByteView? {
        guard let window = borrowed.slice(offset, length) else { return nil }
        return ByteView(storage: storage, base: window.base, count: window.count)
    }

    @inlinable @inline(__always)
    public func u8(_ offset: Int) -> UInt8? { borrowed.u8(offset) }

    @inlinable @inline(__always)
    public func u16(_ offset: Int) -> UInt16? { borrowed.u16(offset) }

    @inlinable @inline(__always)
    public func u32(_ offset: Int) -> UInt32? { borrowed.u32(offset) }

    @inlinable @inline(__always)
    public func u64(_ offset: Int) -> UInt64? { borrowed.u64(offset) }

    /// Copies `length` bytes starting at `offset`.
    public func bytes(_ offset: Int, _ length: Int) -> [UInt8]? {
        guard contains(offset, length), let base else { return length == 0 && contains(offset, 0) ? [] : nil }
        return Array(UnsafeRawBufferPointer(start: base + offset, count: length))
    }

    /// A NUL-terminated string within `[offset, offset+maxLength)`, decoded as UTF-8
    /// with invalid sequences repaired. Without a NUL the whole range is used.
    public func cString(_ offset: Int, maxLength: Int) -> String? {
        guard contains(offset, maxLength), let base else { return nil }
        let buffer = UnsafeRawBufferPointer(start: base + offset, count: maxLength)
        let end = buffer.firstIndex(of: 0) ?? maxLength
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<end]), as: UTF8.self)
    }

    /// The UTF-8 text of `length` bytes at `offset` (invalid sequences repaired).
    public func string(_ offset: Int, _ length: Int) -> String? {
        guard contains(offset, length), let base else { return length == 0 ? "" : nil }
        return String(decoding: UnsafeRawBufferPointer(start: base + offset, count: length), as: UTF8.self)
    }

    /// Drops the resident pages of `[offset, offset+length)` if the view maps a file; they
    /// are read back from the file if touched again. Does nothing for memory that is not a
    /// file mapping, where dropping pages would lose data.
    public func releaseResidentPages(_ offset: Int, _ length: Int) {
        guard storage.isFileMapping, contains(offset, length), let base else { return }
        PageRelease.release(UnsafeRawBufferPointer(start: base + offset, count: length))
    }

    /// Appends the first `count` 64-bit words of this view (native byte order, any
    /// alignment) to `buffer` in one copy; false, appending nothing, when the view is shorter.
    @discardableResult
    public func appendWords(_ count: Int, to buffer: inout [UInt64]) -> Bool {
        borrowed.appendWords(count, to: &buffer)
    }

    /// Calls `body` with the bytes of this view. The pointer must not escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}

/// A bounds-checked, read-only window onto bytes that it does not keep alive: what a
/// `ByteView` lends for the length of one call, so that a loop over a hundred thousand
/// records reads them without counting references. It must not outlive the view it came
/// from; whoever keeps the bytes takes a `ByteView` instead.
public struct BorrowedBytes {
    @usableFromInline let base: UnsafeRawPointer?
    /// Number of bytes visible through this window.
    public let count: Int

    @usableFromInline init(base: UnsafeRawPointer?, count: Int) {
        self.base = base
        self.count = count
    }

    /// A window onto `buffer`, which must outlive it (for example a batch's callchain
    /// entries lent for one call).
    public init(_ buffer: UnsafeRawBufferPointer) {
        self.init(base: buffer.baseAddress, count: buffer.count)
    }

    @inlinable @inline(__always)
    func contains(_ offset: Int, _ length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count &- offset
    }

    /// The sub-range `[offset, offset+length)`, or nil when it is out of bounds.
    @inlinable
    public func slice(_ offset: Int, _ length: Int) -> BorrowedBytes? {
        guard contains(offset, length) else { return nil }
        return BorrowedBytes(base: base.map { $0 + offset }, count: length)
    }

    @inlinable @inline(__always)
    public func u8(_ offset: Int) -> UInt8? {
        guard contains(offset, 1), let base else { return nil }
        return base.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func u16(_ offset: Int) -> UInt16? {
        guard contains(offset, 2), let base else { return nil }
        return base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    }

    @inlinable @inline(__always)
    public func u32(_ offset: Int) -> UInt32? {
        guard contains(offset, 4), let base else { return nil }
        return base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    }

    @inlinable @inline(__always)
    public func u64(_ offset: Int) -> UInt64? {
        guard contains(offset, 8), let base else { return nil }
        return base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    }

    /// Appends the first `count` 64-bit words (native byte order, any alignment) to
    /// `buffer` in one copy; false, appending nothing, when the window is shorter.
    @discardableResult
    public func appendWords(_ count: Int, to buffer: inout [UInt64]) -> Bool {
        guard count >= 0, count <= Int.max / 8, contains(0, count * 8) else { return false }
        guard count > 0, let base else { return true }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: count))
        buffer.withUnsafeMutableBytes { target in
            target.baseAddress!.advanced(by: start * 8).copyMemory(from: base, byteCount: count * 8)
        }
        return true
    }
}

extension ByteView {
    /// The sub-range `[offset, offset+length)` lent without a reference to the storage (see
    /// `BorrowedBytes`), or nil when it is out of bounds.
    @inlinable
    public func borrowed(_ offset: Int, _ length: Int) -> BorrowedBytes? { borrowed.slice(offset, length) }

    /// All of this view, lent (see `BorrowedBytes`).
    @inlinable
    public var borrowed: BorrowedBytes { BorrowedBytes(base: base, count: count) }
}

/// Dropping resident pages of read-only file mappings (MADV_DONTNEED).
enum PageRelease {
    /// Releases the whole pages inside `bytes`.
    static func release(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) & ~(page - 1)
        let last = (Int(bitPattern: start) + bytes.count) & ~(page - 1)
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, last - first, MADV_DONTNEED)
    }
}
