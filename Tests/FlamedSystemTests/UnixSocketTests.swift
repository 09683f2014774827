#if canImport(Glibc)
import Glibc
#endif
import FlamedSystem
import FlamedTestSupport
import SystemPackage
import Testing

/// A fresh directory under /tmp (mode 0755, so other users can reach sockets in it),
/// removed with everything in it when released.
private final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/flamed-socket-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template))
        path = String(cString: made)
        chmod(path, 0o755)
    }

    deinit { _ = run(["/bin/rm", "-rf", path]) }

    func file(_ name: String) -> String { "\(path)/\(name)" }
}

/// Runs a command to completion and returns how it ended.
private func run(_ arguments: [String]) -> ChildStatus? {
    guard case .success(let child) = HeldChild.spawn(arguments) else { return nil }
    if child.release() != nil {
        child.abandon()
        return nil
    }
    return ChildStatus.wait(pid: child.pid, blocking: true)
}

private func fileStatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A listener at `name` in `scratch`.
private func listening(_ scratch: ScratchDirectory, _ name: String = "ctl.sock") throws -> UnixListener {
    try UnixListener.listen(path: scratch.file(name), mode: 0o660, group: nil).get()
}

/// A new client of `listener` and the server side of its connection.
private func connectedPair(_ listener: UnixListener) throws -> (server: UnixConnection, client: UnixConnection) {
    let client = try UnixConnection.connect(path: listener.path).get()
    return (try #require(try listener.accept().get()), client)
}

@Suite struct UnixSocketTests {
    @Test func exchangesLinesAndKnowsThePeer() throws {
        let scratch = try ScratchDirectory()
        let listener = try listening(scratch)
        #expect(try listener.accept().get() == nil)
        let client = try UnixConnection.connect(path: listener.path).get()
        let me = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
        #expect(client.peer == me)
        do {
            let server = try #require(try listener.accept().get())
            #expect(server.peer == me)
            try client.write(bytes("status\nwindow 60\n"), timeoutMilliseconds: 1000).get()
            #expect(try server.readLine(maxBytes: 64, timeoutMilliseconds: 1000).get() == bytes("status"))
            #expect(try server.readLine(maxBytes: 64, timeoutMilliseconds: 1000).get() == bytes("window 60"))
            try server.write(bytes("ok\nabcrest of it"), timeoutMilliseconds: 1000).get()
        }
        #expect(try client.readLine(maxBytes: 64, timeoutMilliseconds: 1000).get() == bytes("ok"))
        #expect(try client.read(count: 3, timeoutMilliseconds: 1000).get() == bytes("abc"))
        #expect(try client.readToEnd(maxBytes: 64, timeoutMilliseconds: 1000).get() == bytes("rest of it"))
        #expect(client.readLine(maxBytes: 64, timeoutMilliseconds: 1000) == .failure(.closed))
    }

    @Test func socketFileHasModeGroupAndParentDirectory() throws {
        let scratch = try ScratchDirectory()
        let group = Accounts.groupID(named: "adm") ?? 0
        #expect(Accounts.groupID(named: "root") == 0)
        #expect(Accounts.groupID(named: "no-such-group-for-flamed") == nil)
        let path = scratch.file("run/flamed/ctl.sock")
        let listener = try UnixListener.listen(path: path, mode: 0o660, group: group).get()
        let info = try #require(fileStatus(listener.path))
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o7777 == 0o660)
        #expect(info.st_gid == group)
        #expect(try #require(fileStatus(scratch.file("run/flamed"))).st_mode & 0o7777 == 0o755)
    }

    @Test func silentClientTimesOut() throws {
        let scratch = try ScratchDirectory()
        let (server, client) = try connectedPair(try listening(scratch))
        let clock = ContinuousClock()
        let start = clock.now
        let result = withExtendedLifetime(client) { server.readLine(maxBytes: 64, timeoutMilliseconds: 200) }
        let elapsed = clock.now - start
        #expect(result == .failure(.timedOut))
        #expect(elapsed >= .milliseconds(150) && elapsed < .seconds(1))
    }

    @Test func overlongLineIsRefused() throws {
        let scratch = try ScratchDirectory()
        let (server, client) = try connectedPair(try listening(scratch))
        try client.write([UInt8](repeating: UInt8(ascii: "x"), count: 100), timeoutMilliseconds: 1000).get()
        withExtendedLifetime(client) {
            #expect(server.readLine(maxBytes: 64, timeoutMilliseconds: 1000) == .failure(.tooLong(64)))
            #expect(server.readToEnd(maxBytes: 10, timeoutMilliseconds: 1000) == .failure(.tooLong(10)))
        }
    }

    @Test func endOfFileBeforeDelimiterIsClosed() throws {
        let scratch = try ScratchDirectory()
        let listener = try listening(scratch)
        let server: UnixConnection
        do {
            let pair = try connectedPair(listener)
            try pair.client.write(bytes("partial"), timeoutMilliseconds: 1000).get()
            server = pair.server
        }
        #expect(server.readLine(maxBytes: 64, timeoutMilliseconds: 1000) == .failure(.closed))
        #expect(server.read(count: 8, timeoutMilliseconds: 1000) == .failure(.closed))
        #expect(server.read(count: 7, timeoutMilliseconds: 1000) == .success(bytes("partial")))
    }

    @Test func staleSocketIsReplacedAndLiveOneRefused() throws {
        let scratch = try ScratchDirectory()
        let stale = scratch.file("stale.sock")
        do {
            let first = try listening(scratch, "moved.sock")
            #expect(rename(first.path, stale) == 0)
        }
        #expect(try #require(fileStatus(stale)).st_mode & S_IFMT == S_IFSOCK)
        switch UnixConnection.connect(path: stale) {
        case .success: Issue.record("connected to a stale socket")
        case .failure(let error): #expect(error.errno == .connectionRefused)
        }

        do {
            let live = try listening(scratch, "stale.sock")
            switch UnixListener.listen(path: stale, mode: 0o660, group: nil) {
            case .success: Issue.record("a second listener took over a live socket")
            case .failure(let error): #expect(error.description == "\(stale): another flamed is running (socket answers)")
            }
            _ = try connectedPair(live)
        }
        #expect(fileStatus(stale) == nil)

        let regular = scratch.file("regular")
        close(open(regular, O_CREAT | O_WRONLY, 0o644))
        switch UnixListener.listen(path: regular, mode: 0o660, group: nil) {
        case .success: Issue.record("listen replaced a regular file")
        case .failure(let error): #expect(error.description.contains("not a socket"))
        }
        #expect(fileStatus(regular) != nil)
    }

    @Test func connectingToMissingPathNamesIt() {
        let path = "/tmp/flamed-no-such-dir-\(getpid())/ctl.sock"
        switch UnixConnection.connect(path: path) {
        case .success: Issue.record("connected to a missing socket")
        case .failure(let error):
            #expect(error.errno == .noSuchFileOrDirectory)
            #expect(error.description.contains(path))
        }
    }

    @Test func writingToClosedPeerFailsWithoutSignal() throws {
        let scratch = try ScratchDirectory()
        let server = try connectedPair(try listening(scratch)).server
        let payload = [UInt8](repeating: 7, count: 1 << 20)
        #expect(throws: SocketIOError.closed) { try server.write(payload, timeoutMilliseconds: 1000).get() }
    }

    @Test(.requires(.root))
    func unprivilegedUserNeedsModeOrGroup() throws {
        let scratch = try ScratchDirectory()
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sys.argv[1])
            except PermissionError:
                sys.exit(13)
            except OSError:
                sys.exit(1)
            """
        func connectAsNobody(_ path: String) -> ChildStatus? {
            run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, path])
        }
        let rootOnly = try UnixListener.listen(path: scratch.file("root.sock"), mode: 0o660, group: nil).get()
        #expect(connectAsNobody(rootOnly.path) == .exited(13))
        #expect(try rootOnly.accept().get() == nil)

        let everyone = try UnixListener.listen(path: scratch.file("open.sock"), mode: 0o666, group: nil).get()
        #expect(connectAsNobody(everyone.path) == .exited(0))
        let nobody = try #require(try everyone.accept().get())
        #expect(nobody.peer.uid == 65534 && nobody.peer.gid == 65534)

        let grouped = try UnixListener.listen(path: scratch.file("group.sock"), mode: 0o660, group: 65534).get()
        #expect(connectAsNobody(grouped.path) == .exited(0))

        #expect(!Accounts.isRootOrMember(uid: 65534, of: 0))
        #expect(!Accounts.isRootOrMember(uid: 65534, of: nil))
        #expect(Accounts.isRootOrMember(uid: 65534, of: 65534))
        #expect(Accounts.isRootOrMember(uid: 0, of: nil))
        #expect(!Accounts.isRootOrMember(uid: 4_242_424, of: 0))
    }
}
