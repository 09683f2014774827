import FlamedSystem

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
