#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// A byte range of a file, read on demand with `pread(2)` through a descriptor of its own
/// (closed in `deinit`).
///
/// For data read a little at a time from all over a large file, such as the names of a
/// string table: a read-only mapping would keep 64 KiB or more resident for each name
/// touched (fault-around maps whole folios, whatever `MADV_RANDOM` says), and dropping
/// those pages again costs a TLB shootdown on every CPU the process runs on.
public final class FileRange: @unchecked Sendable {
    /// The descriptor, shared by the ranges sliced from one another.
    private final class Descriptor: @unchecked Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    private let descriptor: Descriptor
    /// Where the range starts in the file.
    public let offset: Int
    /// Bytes in the range.
    public let count: Int

    private init(descriptor: Descriptor, offset: Int, count: Int) {
        self.descriptor = descriptor
        self.offset = offset
        self.count = count
    }

    /// The range `[offset, offset + count)` of the file open as `fd`, which is duplicated (the
    /// caller keeps its own). Nil when `dup` fails.
    public convenience init?(duplicating fd: Int32, offset: Int, count: Int) {
        guard offset >= 0, count >= 0, case .success(let own) = retryingEINTR({ fcntl(fd, F_DUPFD_CLOEXEC, 0) }, failed: { $0 < 0 }) else {
            return nil
        }
        self.init(descriptor: Descriptor(own), offset: offset, count: count)
    }

    /// The part `[offset, offset + count)` of this range, or nil when it does not fit.
    public func slice(_ offset: Int, _ count: Int) -> FileRange? {
        guard offset >= 0, count >= 0, offset <= self.count, count <= self.count - offset else { return nil }
        return FileRange(descriptor: descriptor, offset: self.offset + offset, count: count)
    }

    /// Reads up to `length` bytes at `position` (fewer at the end of the range) into
    /// `buffer`, whose start it fills; returns how many, or nil when the read fails.
    public func read(at position: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard position >= 0, position <= count, let base = buffer.baseAddress else { return nil }
        let wanted = min(buffer.count, count - position)
        var done = 0
        while done < wanted {
            let result = retryingEINTR({ pread(descriptor.fd, base + done, wanted - done, off_t(offset + position + done)) }, failed: { $0 < 0 })
            guard case .success(let got) = result else { return nil }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Calls `body` with the range's bytes in order, `chunkSize` at a time (the last chunk
    /// may be shorter), through one reused buffer. False when a read fails or comes up short.
    public func forEachChunk(_ chunkSize: Int, _ body: (_ position: Int, _ bytes: UnsafeRawBufferPointer) -> Void) -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(chunkSize, 1), alignment: 16)
        defer { buffer.deallocate() }
        var position = 0
        while position < count {
            guard let got = read(at: position, into: buffer), got == min(buffer.count, count - position) else { return false }
            body(position, UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            position += got
        }
        return true
    }
}

/// A table of names found by offset (an ELF string table, kallsyms text), each ending at a
/// NUL or at one of the caller's terminators. Held in memory, or read from the file one
/// name at a time (`FileRange`).
public struct StringTable: Sendable {
    private enum Backing: Sendable {
        case memory(ByteView)
        case file(FileRange)
    }

    private let backing: Backing

    /// Names longer than this are cut (no real symbol comes close).
    static let longestName = 1 << 16
    /// The first read for a name from a file: most names are shorter.
    static let firstRead = 256

    /// A table held in memory (or mapped).
    public init(_ view: ByteView) {
        backing = .memory(view)
    }

    /// A table read from a file as names are needed.
    public init(file: FileRange) {
        backing = .file(file)
    }

    /// An empty table.
    public init() {
        self.init(ByteView([]))
    }

    /// Bytes in the table.
    public var count: Int {
        switch backing {
        case .memory(let view): return view.count
        case .file(let range): return range.count
        }
    }

    /// The table's bytes when it is held in memory.
    public var memory: ByteView? {
        if case .memory(let view) = backing { return view }
        return nil
    }

    /// The whole table, copied (for merging tables); nil when a read fails.
    public func allBytes() -> [UInt8]? {
        switch backing {
        case .memory(let view):
            return view.bytes(0, view.count)
        case .file(let range):
            var bytes = [UInt8]()
            bytes.reserveCapacity(range.count)
            guard range.forEachChunk(1 << 18, { _, chunk in bytes.append(contentsOf: chunk) }) else { return nil }
            return bytes
        }
    }

    /// Calls `body` with the bytes of the name at `offset`, up to (not including) the first
    /// NUL or byte that `isEnd` accepts, or the end of the table; nil when `offset` lies
    /// outside it or a read fails.
    @inline(__always)
    public func withName<T>(at offset: Int, endingAt isEnd: (UInt8) -> Bool, _ body: (UnsafeRawBufferPointer) -> T) -> T? {
        guard offset >= 0, offset < count else { return nil }
        switch backing {
        case .memory(let view):
            return view.withUnsafeBytes { raw in
                let limit = min(raw.count, offset + Self.longestName)
                var end = offset
                while end < limit {
                    let byte = raw[end]
                    if byte == 0 || isEnd(byte) { break }
                    end += 1
                }
                return body(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
            }
        case .file(let range):
            var capacity = Self.firstRead
            while true {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
                defer { buffer.deallocate() }
                guard let got = range.read(at: offset, into: buffer) else { return nil }
                let end = buffer[0..<got].firstIndex { $0 == 0 || isEnd($0) }
                if let end { return body(UnsafeRawBufferPointer(rebasing: buffer[0..<end])) }
                if got < capacity || capacity >= Self.longestName { return body(UnsafeRawBufferPointer(rebasing: buffer[0..<got])) }
                capacity *= 4
            }
        }
    }

    /// The name at `offset` as a string (invalid UTF-8 repaired), or nil as `withName`.
    public func string(at offset: Int, endingAt isEnd: (UInt8) -> Bool) -> String? {
        withName(at: offset, endingAt: isEnd) { String(decoding: $0, as: UTF8.self) }
    }

    /// Drops the resident pages of a mapped table; a table read from its file has none.
    public func releaseResidentPages() {
        if case .memory(let view) = backing { view.releaseResidentPages(0, view.count) }
    }
}
