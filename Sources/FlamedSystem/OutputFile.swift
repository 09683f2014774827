#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Writes output either to standard output or atomically to a file: the bytes go to a
/// temporary file beside the target, are flushed with fsync, and replace the target with
/// `rename(2)`, so readers never see a half-written file.
public enum OutputFile {
    /// Whether `path` exists and is a character device or FIFO (such as /dev/null).
    static func isDevice(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type == S_IFCHR || type == S_IFIFO
    }

    /// Writes `bytes` to `path`, or to standard output when `path` is "-". A file created or
    /// replaced gets `permissions`.
    public static func write(_ bytes: [UInt8], to path: String, permissions: mode_t = 0o644) -> Result<Void, FileError> {
        if path == "-" {
            return writeAll(fd: STDOUT_FILENO, bytes: bytes).mapError {
                FileError(path: "<stdout>", reason: FileReader.describe($0), errno: $0)
            }
        }
        if isDevice(path) {
            // /dev/null, a FIFO or a terminal: there is nothing to replace atomically.
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let code = Errno(rawValue: Glibc.errno)
                return .failure(FileError(path: path, reason: "cannot write output: \(FileReader.describe(code))", errno: code))
            }
            defer { close(fd) }
            return writeAll(fd: fd, bytes: bytes).mapError { FileError(path: path, reason: FileReader.describe($0), errno: $0) }
        }
        let (directory, name) = split(path)
        if name.isEmpty || isDirectory(path) {
            return .failure(FileError(path: path, reason: "is a directory", errno: .isDirectory))
        }
        var template = Array("\(directory)/.\(name).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: "cannot create output: \(FileReader.describe(code))", errno: code))
        }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var failure: Errno?
        if case .failure(let code) = writeAll(fd: fd, bytes: bytes) { failure = code }
        if failure == nil, fchmod(fd, permissions) != 0 { failure = Errno(rawValue: Glibc.errno) }
        if failure == nil, fsync(fd) != 0 { failure = Errno(rawValue: Glibc.errno) }
        if close(fd) != 0, failure == nil { failure = Errno(rawValue: Glibc.errno) }
        if failure == nil, rename(temporary, path) != 0 { failure = Errno(rawValue: Glibc.errno) }
        if let failure {
            unlink(temporary)
            return .failure(FileError(path: path, reason: "cannot write output: \(FileReader.describe(failure))", errno: failure))
        }
        return .success(())
    }

    /// Checks early that `path`'s directory exists and is writable, so a long report does
    /// not fail only at the end.
    public static func checkWritable(_ path: String) -> Result<Void, FileError> {
        if path == "-" { return .success(()) }
        if isDevice(path) {
            if access(path, W_OK) == 0 { return .success(()) }
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: "cannot write output: \(FileReader.describe(code))", errno: code))
        }
        let (directory, name) = split(path)
        if name.isEmpty || isDirectory(path) {
            return .failure(FileError(path: path, reason: "is a directory", errno: .isDirectory))
        }
        if access(directory, W_OK) != 0 {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: path, reason: "cannot write to \(directory): \(FileReader.describe(code))", errno: code))
        }
        return .success(())
    }

    /// The directory part (or ".") and the file name of `path`.
    private static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        return (directory, String(path[path.index(after: slash)...]))
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func writeAll(fd: Int32, bytes: [UInt8]) -> Result<Void, Errno> {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let result = retryingEINTR({ Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }, failed: { $0 < 0 })
                switch result {
                case .success(let n): offset += n
                case .failure(let code): return .failure(code)
                }
            }
            return .success(())
        }
    }
}

/// Terminal queries used for progress display.
public enum Terminal {
    /// Whether `fd` refers to a terminal.
    public static func isTTY(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Whether standard error is a terminal.
    public static var standardErrorIsTTY: Bool { isTTY(STDERR_FILENO) }

    /// Writes a diagnostic line (or a carriage-return progress update) to stderr.
    public static func writeError(_ text: String) {
        _ = OutputFile.writeAll(fd: STDERR_FILENO, bytes: Array(text.utf8))
    }
}
