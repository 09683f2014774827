#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Directory calls for the daemon's snapshot directory: make one, list it, remove a file
/// from it. Every failure is a `FileError` naming the path.
public enum Directories {
    /// Creates `path` and any missing parents, each with `mode` (umask aside; `path` itself
    /// gets exactly `mode` when it is created). An existing directory is left as it is;
    /// anything else already at `path` is an error.
    public static func make(_ path: String, mode: mode_t) -> Result<Void, FileError> {
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { return .success(()) }
            return .failure(FileError(path: path, reason: "exists and is not a directory", errno: .notDirectory))
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let parent = String(path[..<slash])
            if case .failure(let error) = make(parent, mode: mode) { return .failure(error) }
        }
        switch retryingEINTR({ mkdir(path, mode) }, failed: { $0 != 0 }) {
        case .success:
            if chmod(path, mode) != 0 {
                let code = Errno(rawValue: Glibc.errno)
                return .failure(FileError(path: path, reason: "cannot set its mode: \(FileReader.describe(code))", errno: code))
            }
            return .success(())
        case .failure(.fileExists) where stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR:
            return .success(())
        case .failure(let code):
            return .failure(FileError(path: path, reason: "cannot create the directory: \(FileReader.describe(code))", errno: code))
        }
    }

    /// The names of the entries of directory `path`, without "." and "..", in the order the
    /// file system gives them.
    public static func entries(of path: String) -> Result<[String], FileError> {
        let fd: Int32
        switch retryingEINTR({ open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }, failed: { $0 < 0 }) {
        case .failure(let code): return .failure(FileError(path: path, reason: FileReader.describe(code), errno: code))
        case .success(let opened): fd = opened
        }
        guard let handle = fdopendir(fd) else {
            let code = Errno(rawValue: Glibc.errno)
            close(fd)
            return .failure(FileError(path: path, reason: FileReader.describe(code), errno: code))
        }
        defer { closedir(handle) }
        var names: [String] = []
        while true {
            Glibc.errno = 0
            guard let entry = readdir(handle) else {
                if Glibc.errno != 0 {
                    let code = Errno(rawValue: Glibc.errno)
                    return .failure(FileError(path: path, reason: "cannot list: \(FileReader.describe(code))", errno: code))
                }
                return .success(names)
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Removes the file (not a directory) at `path`.
    public static func removeFile(_ path: String) -> Result<Void, FileError> {
        switch retryingEINTR({ unlink(path) }, failed: { $0 != 0 }) {
        case .success: return .success(())
        case .failure(let code): return .failure(FileError(path: path, reason: "cannot remove: \(FileReader.describe(code))", errno: code))
        }
    }
}
