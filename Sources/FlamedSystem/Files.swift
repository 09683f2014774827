#if canImport(Glibc)
import Glibc
#endif
import ProcText
import SystemPackage

/// Why a file could not be read or written, with the path it concerns.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public let errno: Errno?

    public init(path: String, reason: String, errno: Errno? = nil) {
        self.path = path
        self.reason = reason
        self.errno = errno
    }

    public var description: String { "\(path): \(reason)" }
}

/// The one EINTR funnel: every system call of this module that a signal can interrupt runs
/// through here. Runs `body` again while `error` (nil: it succeeded) says it failed with
/// EINTR, and returns its value or the error. A call whose caller must regain control when a
/// signal arrives (a wait that rechecks its deadline) passes `interruptedValue`: an
/// interrupted call then returns that value instead of running again.
@inline(__always)
func retryingEINTR<T>(_ body: () -> T, error: (T) -> Errno?, interruptedValue: T? = nil) -> Result<T, Errno> {
    while true {
        let value = body()
        guard let code = error(value) else { return .success(value) }
        if code != .interrupted { return .failure(code) }
        if let interruptedValue { return .success(interruptedValue) }
    }
}

/// `retryingEINTR` for calls that report failure through their result (`failed`) and the
/// reason in errno.
@inline(__always)
func retryingEINTR<T>(_ body: () -> T, failed: (T) -> Bool, interruptedValue: T? = nil) -> Result<T, Errno> {
    retryingEINTR(body, error: { failed($0) ? Errno(rawValue: Glibc.errno) : nil }, interruptedValue: interruptedValue)
}

/// Reading whole files and streams into `ByteView`s.
public enum FileReader {
    /// Maps a regular file read-only, or reads it when it cannot be mapped: pipes, and
    /// /proc files, which report a size of 0. Directories, missing files and unreadable
    /// files fail with a `FileError` naming the path.
    public static func map(path: String) -> Result<ByteView, FileError> {
        let fd: Int32
        switch retryingEINTR({ open(path, O_RDONLY | O_CLOEXEC) }, failed: { $0 < 0 }) {
        case .failure(let code): return .failure(FileError(path: path, reason: describe(code), errno: code))
        case .success(let opened): fd = opened
        }
        defer { close(fd) }
        return map(fd: fd, path: path)
    }

    /// `map(path:)` for a file already open.
    static func map(fd: Int32, path: String) -> Result<ByteView, FileError> {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: describe(code), errno: code))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            return .failure(FileError(path: path, reason: "is a directory, not a file", errno: .isDirectory))
        }
        let size = Int(info.st_size)
        if (info.st_mode & S_IFMT) != S_IFREG || size == 0 {
            return readAll(fd: fd, path: path)
        }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: "cannot map: \(describe(code))", errno: code))
        }
        _ = madvise(mapping, size, MADV_SEQUENTIAL)
        let storage = ByteStorage(base: UnsafeRawPointer(mapping), count: size, isFileMapping: true) { pointer, count in
            if let pointer { munmap(UnsafeMutableRawPointer(mutating: pointer), count) }
        }
        return .success(ByteView(storage: storage))
    }

    /// Maps a regular file copy-on-write for a parser that keeps pointers into it and may
    /// write to its own copy of a page (libelf), never to the file; with the same file as a
    /// `FileRange`, for parts better read on demand than kept mapped. An empty file gives
    /// empty bytes and no range.
    public static func mapCopyOnWrite(path: String) -> Result<(bytes: ByteView, file: FileRange?), FileError> {
        let fd: Int32
        switch retryingEINTR({ open(path, O_RDONLY | O_CLOEXEC) }, failed: { $0 < 0 }) {
        case .failure(let code): return .failure(FileError(path: path, reason: describe(code), errno: code))
        case .success(let opened): fd = opened
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: describe(code), errno: code))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(FileError(path: path, reason: "not a regular file")) }
        let size = Int(info.st_size)
        guard size > 0 else { return .success((ByteView([]), nil)) }
        guard let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: "cannot map: \(describe(code))", errno: code))
        }
        let storage = ByteStorage(base: UnsafeRawPointer(mapping), count: size, isFileMapping: true) { pointer, count in
            if let pointer { munmap(UnsafeMutableRawPointer(mutating: pointer), count) }
        }
        return .success((ByteView(storage: storage), FileRange(duplicating: fd, offset: 0, count: size)))
    }

    /// Reads a whole stream (a pipe, standard input, a /proc file) into memory. The buffer
    /// starts small and doubles: most /proc files are a few hundred bytes, and a fresh
    /// megabyte can cost a transparent huge page to be cleared.
    public static func readAll(fd: Int32, path: String) -> Result<ByteView, FileError> {
        var capacity = 16 << 10
        var memory = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        var used = 0
        while true {
            if used == capacity {
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                bigger.copyMemory(from: memory, byteCount: used)
                memory.deallocate()
                memory = bigger
                capacity *= 2
            }
            let target = memory + used
            let room = capacity - used
            let result = retryingEINTR({ read(fd, target, room) }, failed: { $0 < 0 })
            switch result {
            case .success(let n):
                if n == 0 {
                    let storage = ByteStorage(base: UnsafeRawPointer(memory), count: used) { pointer, _ in
                        UnsafeMutableRawPointer(mutating: pointer)?.deallocate()
                    }
                    return .success(ByteView(storage: storage))
                }
                used += n
            case .failure(let code):
                memory.deallocate()
                return .failure(FileError(path: path, reason: describe(code), errno: code))
            }
        }
    }

    /// The first `limit` bytes of a file (fewer if it is shorter), with one read: for /proc
    /// files whose whole text is costly to make, such as /proc/kallsyms.
    public static func prefix(path: String, limit: Int) -> Result<[UInt8], FileError> {
        let fd: Int32
        switch retryingEINTR({ open(path, O_RDONLY | O_CLOEXEC) }, failed: { $0 < 0 }) {
        case .failure(let code): return .failure(FileError(path: path, reason: describe(code), errno: code))
        case .success(let opened): fd = opened
        }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: max(limit, 0))
        let result = bytes.withUnsafeMutableBytes { buffer in
            retryingEINTR({ read(fd, buffer.baseAddress, buffer.count) }, failed: { $0 < 0 })
        }
        switch result {
        case .failure(let code): return .failure(FileError(path: path, reason: describe(code), errno: code))
        case .success(let count): return .success(Array(bytes.prefix(count)))
        }
    }

    /// Whether anything (a file, a directory, …) exists at `path`.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether a path names an existing regular file.
    public static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Human-readable text for an errno value.
    public static func describe(_ code: Errno) -> String {
        String(cString: strerror(code.rawValue))
    }
}

/// Process memory housekeeping.
public enum Memory {
    /// This process's resident memory in bytes (RSS), from /proc/self/statm.
    public static func residentBytes() -> Int? {
        guard case .success(let statm) = FileReader.map(path: "/proc/self/statm") else { return nil }
        guard let pages = statm.withUnsafeBytes({ ProcText.statmPages($0, field: 1) }) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Bytes of this process's resident memory that are file pages (mapped binaries,
    /// symbol tables, input), from /proc/self/statm; nil if it cannot be read.
    public static func residentFileBytes() -> Int? {
        guard case .success(let statm) = FileReader.map(path: "/proc/self/statm") else { return nil }
        guard let pages = statm.withUnsafeBytes({ ProcText.statmPages($0, field: 2) }) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
