#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// Files that only this user may read or change: flamed's caches, which hold kernel
/// addresses (what KASLR hides from others). They live in a directory of mode 0700 and are
/// written atomically with mode 0600.
///
/// A cache is only used where nobody else could have put or swapped anything: every
/// directory from `/` down to the cache directory (symbolic links resolved) must be owned
/// by root or this user and writable by neither group nor others (root-owned sticky
/// directories such as /tmp excepted), the cache directory itself this user's, and a file
/// another user owns or could write is never read. A process started with raised privileges (setuid, or
/// file capabilities such as `setcap cap_syslog+ep`) uses no cache at all: its user could
/// read the file without the capability that revealed the addresses.
public enum PrivateFiles {
    /// Where flamed keeps its caches: systemd's `$CACHE_DIRECTORY` (the unit's
    /// `CacheDirectory=`), else `$XDG_CACHE_HOME/flamed`, else `$HOME/.cache/flamed`. Nil when
    /// none of these is set, or when this process runs with raised privileges.
    public static func cacheDirectory() -> String? {
        guard flamed_shim_secure_execution() == 0 else { return nil }
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

    /// The contents of `path` if its directory is safe (see the type's description) and it
    /// is a regular file owned by this user that neither group nor others may write, not
    /// reached through a symbolic link; nil otherwise.
    public static func read(_ path: String) -> ByteView? {
        readMapped(path)?.bytes
    }

    /// `read`, with the whole file also as a `FileRange`, for parts read a little at a time.
    public static func readMapped(_ path: String) -> (bytes: ByteView, file: FileRange?)? {
        guard let (directory, name) = split(path), let safe = safeDirectory(directory) else { return nil }
        guard case .success(let fd) = retryingEINTR({ open("\(safe)/\(name)", O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }, failed: { $0 < 0 }) else {
            return nil
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(),
              info.st_mode & 0o022 == 0 else { return nil }
        guard case .success(let bytes) = FileReader.map(fd: fd, path: path) else { return nil }
        return (bytes, FileRange(duplicating: fd, offset: 0, count: bytes.count))
    }

    /// Writes `bytes` to `path` atomically with mode 0600, first creating its directory (and
    /// any missing parents) with mode 0700.
    public static func write(_ bytes: [UInt8], to path: String) -> Result<Void, FileError> {
        guard let (directory, name) = split(path) else {
            return .failure(FileError(path: path, reason: "not an absolute path in a directory"))
        }
        switch makeDirectory(directory) {
        case .failure(let error): return .failure(error)
        case .success(let safe): return OutputFile.write(bytes, to: "\(safe)/\(name)", permissions: 0o600)
        }
    }

    /// Removes all but the `keep` most recently modified files of `directory` whose names
    /// start with `prefix`: bounds a cache with one file per input.
    public static func prune(_ directory: String, prefix: String, keep: Int) {
        guard let safe = safeDirectory(directory), let handle = opendir(safe) else { return }
        var files: [(name: String, modified: (Int, Int))] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            var info = stat()
            guard name.hasPrefix(prefix), lstat("\(safe)/\(name)", &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                  info.st_uid == geteuid() else { continue }
            files.append((name, (Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec))))
        }
        closedir(handle)
        for file in files.sorted(by: { $0.modified > $1.modified }).dropFirst(max(keep, 0)) {
            unlink("\(safe)/\(file.name)")
        }
    }

    /// `directory` with symbolic links resolved, if it exists, this user owns it and nobody
    /// else may write to it, and every directory above it is owned by root or this user and
    /// writable by neither group nor others (or is root's and sticky); nil otherwise.
    static func safeDirectory(_ directory: String) -> String? {
        guard let real = FileStamp.realPath(directory) else { return nil }
        let me = geteuid()
        var prefix = ""
        var components = real.split(separator: "/").map(String.init)
        components.insert("", at: 0)
        for (index, component) in components.enumerated() {
            prefix = index == 0 ? "/" : (prefix == "/" ? "/" : prefix + "/") + component
            var info = stat()
            guard lstat(prefix, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
            if index == components.count - 1 {
                guard info.st_uid == me, info.st_mode & 0o022 == 0 else { return nil }
            } else {
                // A root-owned sticky directory such as /tmp: others may add entries but not
                // replace or remove ours.
                let sticky = info.st_mode & S_ISVTX != 0 && info.st_uid == 0
                guard info.st_uid == 0 || info.st_uid == me, info.st_mode & 0o022 == 0 || sticky else { return nil }
            }
        }
        return real
    }

    /// Creates `directory` and its missing parents with mode 0700, and returns it as
    /// `safeDirectory` gives it.
    static func makeDirectory(_ directory: String) -> Result<String, FileError> {
        if let safe = safeDirectory(directory) { return .success(safe) }
        var info = stat()
        if lstat(directory, &info) != 0, let (parent, _) = split(directory), parent != "/", lstat(parent, &info) != 0 {
            if case .failure(let error) = makeDirectory(parent) { return .failure(error) }
        }
        if mkdir(directory, 0o700) != 0 && Glibc.errno != EEXIST {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: directory, reason: "cannot create: \(FileReader.describe(code))", errno: code))
        }
        guard let safe = safeDirectory(directory) else {
            return .failure(FileError(path: directory, reason: "not a private directory of this user (it, or a directory above it, is another user's or writable by others)"))
        }
        return .success(safe)
    }

    /// The directory and the name of an absolute path.
    private static func split(_ path: String) -> (directory: String, name: String)? {
        guard path.hasPrefix("/"), let slash = path.lastIndex(of: "/") else { return nil }
        let name = String(path[path.index(after: slash)...])
        guard !name.isEmpty else { return nil }
        return (slash == path.startIndex ? "/" : String(path[..<slash]), name)
    }
}
