#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// Who is on the other end of a Unix socket, as the kernel recorded it at connect time (SO_PEERCRED).
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    static func of(socket fd: Int32) -> Result<PeerCredentials, Errno> {
        var credentials = PeerCredentials(pid: 0, uid: 0, gid: 0)
        guard flamed_shim_peer_credentials(fd, &credentials.pid, &credentials.uid, &credentials.gid) == 0 else {
            return .failure(Errno(rawValue: Glibc.errno))
        }
        return .success(credentials)
    }
}

/// Why reading from or writing to a `UnixConnection` failed.
public enum SocketIOError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The deadline passed first.
    case timedOut
    /// The data ran past this many bytes (without a delimiter, for lines).
    case tooLong(Int)
    /// The peer closed the connection (end of file, EPIPE, ECONNRESET) first.
    case closed
    case system(Errno)

    public var description: String {
        switch self {
        case .timedOut: return "timed out"
        case .tooLong(let limit): return "longer than \(limit) bytes"
        case .closed: return "connection closed by peer"
        case .system(let code): return FileReader.describe(code)
        }
    }
}

/// A listening Unix stream socket at a path (close-on-exec, non-blocking); closes it and
/// removes the path in deinit, unless the path has since been replaced by another file.
public final class UnixListener {
    public let fd: Int32
    public let path: String
    private let device: UInt64
    private let inode: UInt64

    private init(fd: Int32, path: String, device: UInt64, inode: UInt64) {
        self.fd = fd
        self.path = path
        self.device = device
        self.inode = inode
    }

    deinit {
        close(fd)
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode { unlink(path) }
    }

    /// Creates the parent directory if missing (0755), removes a stale socket file at `path`
    /// (only if it is a socket nobody answers on; a live one fails with "another flamed is
    /// running (socket answers)"), binds, sets the file's mode to `mode` and, when `group` is
    /// given, its group (the owner stays this process's user), then listens with a backlog of 16.
    /// Until `listen`, connection attempts are refused, so nobody gets in before the mode is set.
    public static func listen(path: String, mode: mode_t, group: UInt32?) -> Result<UnixListener, FileError> {
        guard let address = UnixAddress(path) else { return .failure(UnixAddress.unusable(path)) }
        if case .failure(let error) = makeDirectory(parentOf: path) { return .failure(error) }
        if case .failure(let error) = removeStaleSocket(at: path, address) { return .failure(error) }
        let fd: Int32
        switch UnixAddress.makeSocket() {
        case .failure(let code): return .failure(FileError(path: path, reason: "cannot create socket: \(FileReader.describe(code))", errno: code))
        case .success(let created): fd = created
        }
        func fail(_ action: String, unlinking: Bool = true) -> Result<UnixListener, FileError> {
            let code = Errno(rawValue: Glibc.errno)
            close(fd)
            if unlinking { unlink(path) }
            return .failure(FileError(path: path, reason: "\(action): \(FileReader.describe(code))", errno: code))
        }
        guard address.bind(fd) == 0 else { return fail("cannot bind", unlinking: false) }
        guard chmod(path, mode) == 0 else { return fail("cannot set mode") }
        if let group, chown(path, uid_t.max, group) != 0 { return fail("cannot set group \(group)") }
        var info = stat()
        guard lstat(path, &info) == 0 else { return fail("cannot inspect") }
        guard Glibc.listen(fd, 16) == 0 else { return fail("cannot listen") }
        return .success(UnixListener(fd: fd, path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    }

    /// Accepts one pending connection without blocking (nil when none is pending). The
    /// connection is close-on-exec and non-blocking.
    public func accept() -> Result<UnixConnection?, Errno> {
        while true {
            switch retryingEINTR({ flamed_shim_accept_cloexec_nonblocking(fd) }, failed: { $0 < 0 }) {
            case .success(let client):
                switch PeerCredentials.of(socket: client) {
                case .success(let peer): return .success(UnixConnection(fd: client, peer: peer))
                case .failure(let code):
                    close(client)
                    return .failure(code)
                }
            case .failure(.connectionAbort): continue
            case .failure(.wouldBlock), .failure(.resourceTemporarilyUnavailable): return .success(nil)
            case .failure(let code): return .failure(code)
            }
        }
    }

    /// Creates the directories leading to `path` that are missing, each 0755.
    private static func makeDirectory(parentOf path: String) -> Result<Void, FileError> {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return .success(()) }
        let parent = String(path[..<slash])
        var info = stat()
        if stat(parent, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFDIR { return .success(()) }
            return .failure(FileError(path: parent, reason: "is not a directory", errno: .notDirectory))
        }
        if case .failure(let error) = makeDirectory(parentOf: parent) { return .failure(error) }
        if mkdir(parent, 0o755) == 0 {
            _ = chmod(parent, 0o755)
        } else if Glibc.errno != EEXIST {
            let code = Errno(rawValue: Glibc.errno)
            return .failure(FileError(path: parent, reason: "cannot create directory: \(FileReader.describe(code))", errno: code))
        }
        return .success(())
    }

    /// Removes a socket file left at `path` by a process that is gone; fails when the file is
    /// not a socket or a listener still answers on it.
    private static func removeStaleSocket(at path: String, _ address: UnixAddress) -> Result<Void, FileError> {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .success(()) }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            return .failure(FileError(path: path, reason: "exists and is not a socket", errno: .fileExists))
        }
        let probe: Int32
        switch UnixAddress.makeSocket() {
        case .failure(let code): return .failure(FileError(path: path, reason: "cannot create socket: \(FileReader.describe(code))", errno: code))
        case .success(let created): probe = created
        }
        let answer = address.connect(probe)
        close(probe)
        switch answer {
        case nil, .resourceTemporarilyUnavailable?:
            return .failure(FileError(path: path, reason: "another flamed is running (socket answers)", errno: .addressInUse))
        case .connectionRefused?, .noSuchFileOrDirectory?:
            guard unlink(path) == 0 || Glibc.errno == ENOENT else {
                let code = Errno(rawValue: Glibc.errno)
                return .failure(FileError(path: path, reason: "cannot remove stale socket: \(FileReader.describe(code))", errno: code))
            }
            return .success(())
        case let code?:
            return .failure(FileError(path: path, reason: "cannot check existing socket: \(FileReader.describe(code))", errno: code))
        }
    }
}

/// A connected Unix stream socket (close-on-exec, non-blocking) whose reads and writes each
/// finish within a deadline; closes in deinit. Bytes read past a line stay buffered for the
/// next read.
public final class UnixConnection {
    public let fd: Int32
    /// The process on the other end: the client for accepted connections, the listener's
    /// creator for connections made with `connect`.
    public let peer: PeerCredentials
    private var pending: [UInt8] = []

    init(fd: Int32, peer: PeerCredentials) {
        self.fd = fd
        self.peer = peer
    }

    deinit { close(fd) }

    /// Connects to the listener at `path`, retrying for up to `timeoutMilliseconds` while its
    /// backlog is full. The error names the path; its `errno` tells a missing socket (ENOENT)
    /// from one nobody listens on (ECONNREFUSED) or one this user may not use (EACCES).
    public static func connect(path: String, timeoutMilliseconds: Int32 = 1000) -> Result<UnixConnection, FileError> {
        guard let address = UnixAddress(path) else { return .failure(UnixAddress.unusable(path)) }
        let fd: Int32
        switch UnixAddress.makeSocket() {
        case .failure(let code): return .failure(FileError(path: path, reason: "cannot create socket: \(FileReader.describe(code))", errno: code))
        case .success(let created): fd = created
        }
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        while let code = address.connect(fd) {
            if code == .resourceTemporarilyUnavailable, deadline.remaining > 0 {
                usleep(5_000)
                continue
            }
            close(fd)
            return .failure(FileError(path: path, reason: "cannot connect: \(FileReader.describe(code))", errno: code))
        }
        switch PeerCredentials.of(socket: fd) {
        case .success(let peer): return .success(UnixConnection(fd: fd, peer: peer))
        case .failure(let code):
            close(fd)
            return .failure(FileError(path: path, reason: "cannot read peer credentials: \(FileReader.describe(code))", errno: code))
        }
    }

    /// Reads up to the next `delimiter` byte within `timeoutMilliseconds` in total and returns
    /// the line without it. Fails with `.tooLong(maxBytes)` when no delimiter comes within
    /// `maxBytes` bytes, `.closed` at end of file before a delimiter, `.timedOut` at the deadline.
    public func readLine(delimiter: UInt8 = UInt8(ascii: "\n"), maxBytes: Int, timeoutMilliseconds: Int32) -> Result<[UInt8], SocketIOError> {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        var searched = 0
        while true {
            if let end = pending[searched...].firstIndex(of: delimiter) {
                guard end <= maxBytes else { return .failure(.tooLong(maxBytes)) }
                let line = Array(pending[..<end])
                pending.removeFirst(end + 1)
                return .success(line)
            }
            searched = pending.count
            if pending.count > maxBytes { return .failure(.tooLong(maxBytes)) }
            switch receive(upTo: maxBytes + 1 - pending.count, until: deadline) {
            case .failure(let error): return .failure(error)
            case .success(false): return .failure(.closed)
            case .success(true): continue
            }
        }
    }

    /// Reads exactly `count` bytes within `timeoutMilliseconds` in total.
    public func read(count: Int, timeoutMilliseconds: Int32) -> Result<[UInt8], SocketIOError> {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        while pending.count < count {
            switch receive(upTo: count - pending.count, until: deadline) {
            case .failure(let error): return .failure(error)
            case .success(false): return .failure(.closed)
            case .success(true): continue
            }
        }
        let bytes = Array(pending[..<count])
        pending.removeFirst(count)
        return .success(bytes)
    }

    /// Reads until the peer closes its end, at most `maxBytes`, within `timeoutMilliseconds` in total.
    public func readToEnd(maxBytes: Int, timeoutMilliseconds: Int32) -> Result<[UInt8], SocketIOError> {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        while true {
            if pending.count > maxBytes { return .failure(.tooLong(maxBytes)) }
            switch receive(upTo: maxBytes + 1 - pending.count, until: deadline) {
            case .failure(let error): return .failure(error)
            case .success(true): continue
            case .success(false):
                let everything = pending
                pending = []
                return .success(everything)
            }
        }
    }

    /// Writes all of `bytes` within `timeoutMilliseconds` in total. A peer that has closed
    /// gives `.closed` (MSG_NOSIGNAL: no SIGPIPE).
    public func write(_ bytes: [UInt8], timeoutMilliseconds: Int32) -> Result<Void, SocketIOError> {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        var offset = 0
        while offset < bytes.count {
            let sent = retryingEINTR({
                bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            }, failed: { $0 < 0 })
            switch sent {
            case .success(let count): offset += count
            case .failure(.wouldBlock), .failure(.resourceTemporarilyUnavailable):
                if case .failure(let error) = wait(for: Int16(POLLOUT), until: deadline) { return .failure(error) }
            case .failure(.brokenPipe), .failure(.connectionReset): return .failure(.closed)
            case .failure(let code): return .failure(.system(code))
            }
        }
        return .success(())
    }

    /// Appends what is available (at most `limit` bytes, at most 64 KiB) to `pending`, first
    /// waiting for input until the deadline if there is none; false at end of file.
    private func receive(upTo limit: Int, until deadline: Deadline) -> Result<Bool, SocketIOError> {
        var chunk = [UInt8](repeating: 0, count: min(max(limit, 1), 1 << 16))
        while true {
            let got = retryingEINTR({ chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }, failed: { $0 < 0 })
            switch got {
            case .success(0): return .success(false)
            case .success(let count):
                pending.append(contentsOf: chunk[..<count])
                return .success(true)
            case .failure(.wouldBlock), .failure(.resourceTemporarilyUnavailable):
                if case .failure(let error) = wait(for: Int16(POLLIN), until: deadline) { return .failure(error) }
            case .failure(.connectionReset): return .failure(.closed)
            case .failure(let code): return .failure(.system(code))
            }
        }
    }

    /// Polls until the socket is ready for `events` (or hung up), or the deadline passes.
    private func wait(for events: Int16, until deadline: Deadline) -> Result<Void, SocketIOError> {
        while true {
            let remaining = deadline.remaining
            if remaining == 0 { return .failure(.timedOut) }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            // An interrupted poll counts as no readiness: the loop recomputes the time left.
            switch retryingEINTR({ poll(&entry, 1, remaining) }, failed: { $0 < 0 }, interruptedValue: 0) {
            case .success(let ready) where ready > 0:
                return entry.revents & Int16(POLLNVAL) != 0 ? .failure(.system(.badFileDescriptor)) : .success(())
            case .success: continue
            case .failure(let code): return .failure(.system(code))
            }
        }
    }
}

/// Account lookups for access control.
public enum Accounts {
    /// The id of the group called `name`, or nil when there is none.
    public static func groupID(named name: String) -> UInt32? {
        withLookupBuffer { buffer, size in
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            let code = getgrnam_r(name, &entry, buffer, size, &result)
            return (code, result == nil ? nil : entry.gr_gid)
        }
    }

    /// Whether user `uid` is root or belongs to group `gid`, as its primary group or a
    /// supplementary one. An unknown user, or no group, means no.
    public static func isRootOrMember(uid: UInt32, of gid: UInt32?) -> Bool {
        if uid == 0 { return true }
        guard let gid else { return false }
        let groups: [gid_t]? = withLookupBuffer { buffer, size in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let code = getpwuid_r(uid, &entry, buffer, size, &result)
            guard code == 0, result != nil else { return (code, nil) }
            return (0, memberships(of: entry.pw_name, primary: entry.pw_gid))
        }
        return groups?.contains(gid) ?? false
    }

    /// The groups of user `name` (getgrouplist), its primary group included.
    private static func memberships(of name: UnsafePointer<CChar>, primary: gid_t) -> [gid_t] {
        var capacity: Int32 = 32
        while true {
            var groups = [gid_t](repeating: 0, count: Int(capacity))
            var found = capacity
            if getgrouplist(name, primary, &groups, &found) >= 0 { return Array(groups.prefix(Int(found))) }
            capacity = max(found, capacity * 2)
        }
    }

    /// Runs a `get*_r` lookup with a scratch buffer that grows while the lookup reports ERANGE;
    /// `body` returns the lookup's error code and what it read from the entry.
    private static func withLookupBuffer<T>(_ body: (UnsafeMutablePointer<CChar>, Int) -> (code: Int32, value: T?)) -> T? {
        var size = 1024
        while size <= 1 << 20 {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            switch retryingEINTR({ body(buffer, size) }, error: { $0.code == 0 ? nil : Errno(rawValue: $0.code) }) {
            case .success(let found): return found.value
            case .failure(.outOfRange): size *= 2
            case .failure: return nil
            }
        }
        return nil
    }
}

/// A Unix socket address built from a filesystem path.
private struct UnixAddress {
    private var storage = sockaddr_un()

    /// Nil when `path` is empty, holds a NUL byte, or does not fit sun_path with its terminator.
    init?(_ path: String) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0), bytes.count < MemoryLayout.size(ofValue: storage.sun_path) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
    }

    static func unusable(_ path: String) -> FileError {
        FileError(path: path, reason: "not usable as a socket path (empty, or longer than 107 bytes)", errno: .fileNameTooLong)
    }

    /// A close-on-exec, non-blocking Unix stream socket.
    static func makeSocket() -> Result<Int32, Errno> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: Glibc.errno))
    }

    func bind(_ fd: Int32) -> Int32 {
        withAddress { Glibc.bind(fd, $0, $1) }
    }

    /// Connects `fd`; nil on success, else the errno (EAGAIN: the listener's backlog is full).
    func connect(_ fd: Int32) -> Errno? {
        switch retryingEINTR({ withAddress { Glibc.connect(fd, $0, $1) } }, failed: { $0 != 0 }) {
        case .success, .failure(.socketIsConnected): return nil
        case .failure(let code): return code
        }
    }

    private func withAddress<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

/// A point on the monotonic clock that an operation must finish by.
private struct Deadline {
    private let end: Int64

    init(milliseconds: Int32) { end = Self.now() + Int64(max(0, milliseconds)) }

    /// Milliseconds left, 0 once the deadline has passed.
    var remaining: Int32 { Int32(clamping: max(0, end - Self.now())) }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}
