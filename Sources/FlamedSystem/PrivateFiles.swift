#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Files that only this user may read or change: flamed's caches, which hold kernel
/// addresses (what KASLR hides from others). They live in a directory of mode 0700 and are
/// written atomically with mode 0600; a file that another user owns or could have written is
/// never read.
public enum PrivateFiles {
    /// Where flamed keeps its caches: systemd's `$CACHE_DIRECTORY` (the unit's
    /// `CacheDirectory=`), else `$XDG_CACHE_HOME/flamed`, else `$HOME/.cache/flamed`. Nil when
    /// none of these is set.
    public static func cacheDirectory() -> String? {
        func variable(_ name: String) -> String? {
            guard let raw = getenv(name) else { return nil }
            let value = String(cString: raw)
            return value.hasPrefix("/") ? value : nil
        }
        if let systemd = variable("CACHE_DIRECTORY") {
            // systemd lists one directory per CacheDirectory= entry, separated by colons.
            return String(systemd.split(separator: ":").first ?? Substring(systemd))
        }
        if let xdg = variable("XDG_CACHE_HOME") { return xdg + "/flamed" }
        if let home = variable("HOME") { return (home == "/" ? "" : home) + "/.cache/flamed" }
        return nil
    }

    /// The contents of `path` if it is a regular file owned by this user that neither group
    /// nor others may write, not reached through a symbolic link; nil otherwise.
    public static func read(_ path: String) -> ByteView? {
        guard case .success(let fd) = retryingEINTR({ open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }, failed: { $0 < 0 }) else {
            return nil
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(),
              info.st_mode & 0o022 == 0 else { return nil }
        guard case .success(let bytes) = FileReader.map(fd: fd, path: path) else { return nil }
        return bytes
    }

    /// Writes `bytes` to `path` atomically with mode 0600, first creating its directory (and
    /// any missing parents) with mode 0700.
    public static func write(_ bytes: [UInt8], to path: String) -> Result<Void, FileError> {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else {
            return .failure(FileError(path: path, reason: "not an absolute path in a directory"))
        }
        let directory = String(path[..<slash])
        if case .failure(let error) = makeDirectory(directory) { return .failure(error) }
        return OutputFile.write(bytes, to: path, permissions: 0o600)
    }

    /// Removes all but the `keep` most recently modified files of `directory` whose names
    /// start with `prefix`: bounds a cache with one file per input.
    public static func prune(_ directory: String, prefix: String, keep: Int) {
        guard let handle = opendir(directory) else { return }
        var files: [(name: String, modified: Int)] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            var info = stat()
            guard name.hasPrefix(prefix), lstat("\(directory)/\(name)", &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            files.append((name, Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)))
        }
        closedir(handle)
        for file in files.sorted(by: { $0.modified > $1.modified }).dropFirst(max(keep, 0)) {
            unlink("\(directory)/\(file.name)")
        }
    }

    /// Creates `directory` and its missing parents with mode 0700. An existing directory is
    /// kept as it is only if this user owns it and nobody else may write to it.
    static func makeDirectory(_ directory: String) -> Result<Void, FileError> {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
                return .failure(FileError(path: directory, reason: "not a private directory of this user"))
            }
            return .success(())
        }
        if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            let parent = String(directory[..<slash])
            if stat(parent, &info) != 0 {
                if case .failure(let error) = makeDirectory(parent) { return .failure(error) }
            }
        }
        if mkdir(directory, 0o700) != 0 && Glibc.errno != EEXIST {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: directory, reason: "cannot create: \(FileReader.describe(code))", errno: code))
        }
        return .success(())
    }
}
