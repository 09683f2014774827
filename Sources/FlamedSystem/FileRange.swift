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
