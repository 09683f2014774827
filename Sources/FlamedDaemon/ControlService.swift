import FlameGraph
import FlamedSystem
import FoundationEssentials
import Logging
import ServiceLifecycle

/// Serves `flamed snapshot` and `flamed status` on the control socket. Only root and
/// members of `control.group` are served (the socket is 0660 root:group, and SO_PEERCRED is
/// checked too). Requests are bounded: one line of at most 4 KiB within 2 s, and replies
/// must be taken within 10 s, so a slow or hostile client cannot hold the daemon; sampling
/// runs on its own thread in any case.
public final class ControlService: Service, @unchecked Sendable {
    private let listener: UnixListener
    private let groupID: UInt32?
    private let state: DaemonState
    private let logger: Logger
    private let waker: Waker

    /// Listens on `config.control.socket`; fails if the socket cannot be created or a
    /// daemon already answers on it.
    public init(config: DaemonConfig.Control, state: DaemonState, logger: Logger) throws(ControlError) {
        var group: UInt32?
        if let name = config.group {
            guard let id = Accounts.groupID(named: name) else {
                throw ControlError("[control] group: no group named '\(name)'")
            }
            group = id
        }
        switch UnixListener.listen(path: config.socket, mode: 0o660, group: group) {
        case .failure(let error): throw ControlError("control socket \(error.description)")
        case .success(let listener): self.listener = listener
        }
        guard let waker = Waker() else { throw ControlError("cannot create a wake-up pipe") }
        self.waker = waker
        self.groupID = group
        self.state = state
        self.logger = logger
    }

    public func run() async throws {
        let waker = self.waker
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let started = Threads.detach { [self] in
                        serve()
                        continuation.resume()
                    }
                    if case .failure(let code) = started {
                        logger.error("cannot start the control socket's thread: \(FileReader.describe(code))")
                        continuation.resume()
                    }
                }
            } onGracefulShutdown: {
                waker.wake(1)
            }
        } onCancel: {
            waker.wake(1)
        }
    }

    private func serve() {
        while true {
            let readable = waker.wait(for: listener.fd, timeoutMilliseconds: 1000)
            if !waker.take().isEmpty { return }
            guard readable else { continue }
            switch listener.accept() {
            case .failure(let code):
                logger.warning("control socket accept: \(FileReader.describe(code))")
            case .success(nil):
                continue
            case .success(let connection?):
                handle(connection)
            }
        }
    }

    private func handle(_ connection: UnixConnection) {
        let peer = connection.peer
        guard Accounts.isRootOrMember(uid: peer.uid, of: groupID) else {
            logger.warning("control client refused", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            return
        }
        let line: [UInt8]
        switch connection.readLine(maxBytes: ControlCommand.maximumSize, timeoutMilliseconds: 2000) {
        case .failure(let error):
            logger.warning("control client dropped: \(error)", metadata: ["pid": "\(peer.pid)"])
            _ = connection.write(ControlReply.error("bad request: \(error)"), timeoutMilliseconds: 1000)
            return
        case .success(let bytes): line = bytes
        }
        let reply: [UInt8]
        switch ControlCommand.decode(line) {
        case .success(let command): reply = respond(to: command)
        case .failure(let error): reply = ControlReply.error(error.description)
        }
        if case .failure(let error) = connection.write(reply, timeoutMilliseconds: 10_000) {
            logger.warning("control reply not delivered: \(error)", metadata: ["pid": "\(peer.pid)"])
        }
    }

    func respond(to command: ControlCommand) -> [UInt8] {
        switch command {
        case .status:
            return ControlReply.ok(Array(state.statusText().utf8))
        case .snapshot(let request):
            let (tree, context) = state.snapshot(window: request.window, processes: request.processes)
            return ControlReply.ok(request.format.render(tree, context: context, title: "flamed snapshot"))
        }
    }
}

/// Why the control socket could not be served or reached.
public struct ControlError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The client side: sends one request and returns the reply body.
public enum ControlClient {
    public static func send(_ command: ControlCommand, socket path: String, timeoutMilliseconds: Int32 = 30_000) -> Result<[UInt8], ControlError> {
        let connection: UnixConnection
        switch UnixConnection.connect(path: path) {
        case .failure(let error):
            if error.errno == .noSuchFileOrDirectory || error.errno == .connectionRefused {
                return .failure(ControlError("no flamed daemon is listening on \(path); start it with 'flamed run' (or 'systemctl start flamed'), or pass --socket"))
            }
            if error.errno == .permissionDenied {
                return .failure(ControlError("\(path): permission denied; the control socket serves root and members of the [control] group"))
            }
            return .failure(ControlError(error.description))
        case .success(let opened): connection = opened
        }
        if case .failure(let error) = connection.write(command.encoded(), timeoutMilliseconds: 5000) {
            return .failure(ControlError("\(path): cannot send the request: \(error)"))
        }
        let header: [UInt8]
        switch connection.readLine(maxBytes: 1024, timeoutMilliseconds: timeoutMilliseconds) {
        case .failure(.closed):
            return .failure(ControlError("\(path): the daemon closed the connection (not allowed to use it?)"))
        case .failure(let error): return .failure(ControlError("\(path): no reply: \(error)"))
        case .success(let bytes): header = bytes
        }
        let text = String(decoding: header, as: UTF8.self)
        if text.hasPrefix("error ") { return .failure(ControlError("daemon: " + text.dropFirst(6))) }
        guard text.hasPrefix("ok "), let count = Int(text.dropFirst(3)), count >= 0, count <= 1 << 31 else {
            return .failure(ControlError("\(path): unexpected reply '\(text.prefix(80))'"))
        }
        switch connection.read(count: count, timeoutMilliseconds: timeoutMilliseconds) {
        case .failure(let error): return .failure(ControlError("\(path): reply cut short: \(error)"))
        case .success(let body): return .success(body)
        }
    }
}
