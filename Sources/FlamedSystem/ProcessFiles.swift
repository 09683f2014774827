#if canImport(Glibc)
import Glibc
#endif
import ProcText
import Synchronization

/// O_PATH (Glibc exposes it only with _GNU_SOURCE): a handle for *at() lookups.
private let openPathOnly: Int32 = 0o10000000

extension MappingIdentity {
    /// Whether an open file is this one.
    func matches(_ info: stat) -> Bool { UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode }
}

/// A file held open so that it can still be read after it is deleted or replaced, or after
/// the process that mapped it (and with it its /proc/PID/root) is gone. `path` reaches the
/// held file through /proc/self/fd.
public final class PinnedFile: @unchecked Sendable {
    public let fd: Int32
    /// How it was reached (the path, the process root or map_files), for diagnostics.
    public let origin: String

    init(fd: Int32, origin: String) {
        self.fd = fd
        self.origin = origin
    }

    deinit { close(fd) }

    /// A path that opens this same file.
    public var path: String { "/proc/self/fd/\(fd)" }
}

/// Resolves paths inside another root (a process's `/proc/PID/root`) the way that process
/// sees them: symbolic links are followed inside the root, `..` stops at the root, and an
/// absolute link starts again at the root, so no path escapes it.
public enum RootResolver {
    /// Most symbolic links followed for one path (the kernel's limit).
    static let maximumLinks = 40

    /// `path` (absolute, as the process sees it) resolved under the directory `rootFD`,
    /// relative to it ("" for the root itself); nil when a component does not exist or
    /// links loop. Intermediate components must be directories.
    public static func resolve(_ path: String, rootFD: Int32) -> String? {
        var resolved: [Substring] = []
        var pending: [Substring] = path.split(separator: "/").reversed()
        var links = 0
        while let component = pending.popLast() {
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = (resolved + [component]).joined(separator: "/")
            var info = stat()
            guard fstatat(rootFD, candidate, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
            if (info.st_mode & S_IFMT) == S_IFLNK {
                links += 1
                guard links <= maximumLinks, let target = readLink(rootFD, candidate), !target.isEmpty else { return nil }
                if target.hasPrefix("/") { resolved.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").reversed())
                continue
            }
            if !pending.isEmpty && (info.st_mode & S_IFMT) != S_IFDIR { return nil }
            resolved.append(component)
        }
        return resolved.joined(separator: "/")
    }

    /// Opens `path` inside the root directory `rootFD` (read-only, not following a final link).
    public static func open(_ path: String, rootFD: Int32) -> Int32? {
        guard let relative = resolve(path, rootFD: rootFD), !relative.isEmpty else { return nil }
        let fd = openat(rootFD, relative, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        return fd >= 0 ? fd : nil
    }

    private static func readLink(_ directory: Int32, _ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(directory, path, &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension ProcFS {
    /// The pid of `pid` inside its own pid namespace (the last NSpid of its status), or nil.
    public static func namespacePID(of pid: Int32) -> Int32? {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(pid)/status") else { return nil }
        return ProcText.namespacePID(status: bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    /// The container `pid` runs in, from /proc/PID/cgroup, or nil.
    public static func container(of pid: Int32) -> ContainerID? {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(pid)/cgroup") else { return nil }
        return ContainerID.parse(cgroup: bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }
}

/// Reaches the files of live processes the way they see them: through their own root when
/// they are in another mount namespace (containers), and through /proc/PID/map_files when a
/// path no longer names the mapped file. What it learns about each process (namespace, pid
/// inside it, container) is cached; `forget` drops a process, and the caches are bounded.
///
/// Thread-safe: mapped files may be opened from a side-band thread as soon as they are
/// mapped, while the symbolizer asks for them on another.
public final class ProcessFiles: @unchecked Sendable {
    /// What is known about one process.
    public struct Process: Sendable {
        /// The process sees another file tree than flamed (mount namespace or root differ).
        public var otherRoot: Bool
        /// Its pid inside its pid namespace.
        public var namespacePID: Int32
        public var container: ContainerID?
        /// Gone before it could be looked at (and no parent was known).
        var gone = false
    }

    private struct State {
        var processes: [Int32: Process] = [:]
        var parents: [Int32: Int32] = [:]
        /// Files opened so far, by path (as mapped) and device and inode: each is opened once.
        var held: [String: PinnedFile] = [:]
    }

    private let state = Mutex(State())
    private let ownMountNamespace: stat?
    private let ownRoot: stat?
    /// Processes remembered at most; past it the cache starts over.
    static let capacity = 32768
    /// Files held at most by the cache (the symbolizer's binaries keep their own).
    static let heldCapacity = 1024

    public init() {
        var namespace = stat(), root = stat()
        ownMountNamespace = stat("/proc/self/ns/mnt", &namespace) == 0 ? namespace : nil
        ownRoot = stat("/", &root) == 0 ? root : nil
    }

    /// What is known of `pid`: read from /proc the first time, while it lives. A process that
    /// is already gone inherits what is known of the parent it forked from.
    public func process(_ pid: Int32) -> Process? {
        state.withLock { process(pid, &$0) }
    }

    private func process(_ pid: Int32, _ state: inout State) -> Process? {
        if let known = state.processes[pid] { return known.gone ? nil : known }
        guard pid > 0 else { return nil }
        var info: Process?
        var namespace = stat(), root = stat()
        if stat("/proc/\(pid)/root", &root) == 0 {
            let namespaceDiffers = stat("/proc/\(pid)/ns/mnt", &namespace) == 0 && ownMountNamespace.map {
                $0.st_ino != namespace.st_ino || $0.st_dev != namespace.st_dev
            } ?? false
            let rootDiffers = ownRoot.map { $0.st_ino != root.st_ino || $0.st_dev != root.st_dev } ?? false
            info = Process(otherRoot: namespaceDiffers || rootDiffers, namespacePID: ProcFS.namespacePID(of: pid) ?? pid,
                           container: ProcFS.container(of: pid))
        } else if let parent = state.parents[pid], let inherited = state.processes[parent], !inherited.gone {
            info = Process(otherRoot: inherited.otherRoot, namespacePID: pid, container: inherited.container)
        }
        if state.processes.count >= Self.capacity { state.processes.removeAll(keepingCapacity: true) }
        // A process gone before it was seen is remembered as such, not looked for again.
        state.processes[pid] = info ?? Process(otherRoot: false, namespacePID: pid, container: nil, gone: true)
        return info
    }

    /// Looks at a live process again (after an exec: it may have entered namespaces or a
    /// container since it was first seen); what was known is kept when it is gone.
    public func refresh(_ pid: Int32) {
        state.withLock { state in
            guard let known = state.processes[pid] else { return }
            state.processes[pid] = nil
            if process(pid, &state) == nil { state.processes[pid] = known }
        }
    }

    /// The container of `pid`, if it runs in one.
    public func container(of pid: Int32) -> ContainerID? { process(pid)?.container }

    /// Notes that `child` was forked from `parent`; learns the parent while it lives, so the
    /// child can inherit it if it is gone before it is looked up.
    public func noteFork(child: Int32, parent: Int32) {
        guard child != parent, child > 0, parent > 0 else { return }
        state.withLock { state in
            if state.parents.count >= Self.capacity { state.parents.removeAll(keepingCapacity: true) }
            state.parents[child] = parent
            _ = process(parent, &state)
        }
    }

    /// Forgets an exited process.
    public func forget(_ pid: Int32) {
        state.withLock { state in
            state.processes[pid] = nil
            state.parents[pid] = nil
        }
    }

    /// The perf map of `pid`: `/tmp/perf-PID.map` as the process sees it, with its pid inside its
    /// namespace, through its root when that is not flamed's. For a process that is gone
    /// and was never seen, perf's `/tmp/perf-PID.map`; nil when the file does not resolve
    /// inside the process's root.
    public func perfMapPath(pid: Int32) -> String? {
        guard let info = process(pid) else { return "/tmp/perf-\(pid).map" }
        let name = "/tmp/perf-\(info.namespacePID).map"
        guard info.otherRoot else { return name }
        let rootPath = "/proc/\(pid)/root"
        let rootFD = Glibc.open(rootPath, openPathOnly | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return nil }
        defer { close(rootFD) }
        guard let relative = RootResolver.resolve(name, rootFD: rootFD), !relative.isEmpty else { return nil }
        return rootPath + "/" + relative
    }

    /// Opens the file a mapping of `pid` was made from and holds it open. `path` is the name
    /// the process mapped (a trailing " (deleted)" is ignored); `identity` the device and inode
    /// the kernel reported. Tried in order: the path (inside the process's root when that is
    /// not flamed's), checked against `identity`; else /proc/PID/map_files for the mapping;
    /// else /proc/PID/exe when it is that file; else the path even if it may have changed.
    /// A file is opened once: later calls for the same path, device and inode get it again.
    public func open(pid: Int32, path rawPath: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? {
        let path = rawPath.hasSuffix(" (deleted)") ? String(rawPath.dropLast(10)) : rawPath
        guard path.hasPrefix("/") else { return nil }
        return state.withLock { state in
            guard let identity else { return locate(pid: pid, path: path, start: start, end: end, identity: nil, &state) }
            let key = "\(path)\u{0}\(identity)"
            if let known = state.held[key] { return known }
            guard let opened = locate(pid: pid, path: path, start: start, end: end, identity: identity, &state) else { return nil }
            if state.held.count >= Self.heldCapacity { state.held.removeAll(keepingCapacity: true) }
            state.held[key] = opened
            return opened
        }
    }

    /// Opens and holds a mapped file now (a new MMAP2), for `open` to find later.
    public func hold(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity) {
        _ = open(pid: pid, path: path, start: start, end: end, identity: identity)
    }

    private func locate(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?,
                        _ state: inout State) -> PinnedFile? {
        let info = process(pid, &state)
        var fd: Int32 = -1
        var origin = path
        if info?.otherRoot == true {
            let rootFD = Glibc.open("/proc/\(pid)/root", openPathOnly | O_DIRECTORY | O_CLOEXEC)
            if rootFD >= 0 {
                fd = RootResolver.open(path, rootFD: rootFD) ?? -1
                close(rootFD)
                origin = "/proc/\(pid)/root" + path
            }
        } else {
            fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        }
        if fd >= 0, !Self.isRegularFile(fd) {
            close(fd)
            fd = -1
        }
        if fd >= 0, let identity, !Self.matches(fd, identity) {
            // Replaced (or an overlay file, whose inode differs from the mapped one): the
            // mapping's own file is better when it can be had.
            if let exact = Self.openMapFile(pid: pid, start: start, end: end) {
                close(fd)
                return exact
            }
        }
        if fd < 0 {
            if let exact = Self.openMapFile(pid: pid, start: start, end: end) { return exact }
            let exe = Glibc.open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC)
            if exe >= 0 {
                if let identity, Self.matches(exe, identity) { return PinnedFile(fd: exe, origin: "/proc/\(pid)/exe") }
                close(exe)
            }
            return nil
        }
        return PinnedFile(fd: fd, origin: origin)
    }

    /// /proc/PID/map_files/START-END: the mapped file itself, while the process lives (opening
    /// it needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).
    private static func openMapFile(pid: Int32, start: UInt64, end: UInt64) -> PinnedFile? {
        let path = "/proc/\(pid)/map_files/\(String(start, radix: 16))-\(String(end, radix: 16))"
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard isRegularFile(fd) else {
            close(fd)
            return nil
        }
        return PinnedFile(fd: fd, origin: path)
    }

    private static func isRegularFile(_ fd: Int32) -> Bool {
        var info = stat()
        return fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    private static func matches(_ fd: Int32, _ identity: MappingIdentity) -> Bool {
        var info = stat()
        return fstat(fd, &info) == 0 && identity.matches(info)
    }
}
