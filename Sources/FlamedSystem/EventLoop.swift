#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim
import SystemPackage

/// An epoll set: file descriptors to wait on, each reported by a caller-chosen token.
public struct EventLoop: ~Copyable {
    private let epollFD: Int32

    public static func make() -> Result<EventLoop, Errno> {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { return .failure(Errno(rawValue: Glibc.errno)) }
        return .success(EventLoop(epollFD: fd))
    }

    private init(epollFD: Int32) { self.epollFD = epollFD }

    deinit { close(epollFD) }

    /// Watches `fd` for input; `token` comes back from `wait` when it is readable or hung up.
    public func watch(_ fd: Int32, token: UInt64) -> Result<Void, Errno> {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = token
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { return .failure(Errno(rawValue: Glibc.errno)) }
        return .success(())
    }

    /// Stops watching `fd`.
    public func unwatch(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and returns the tokens of the ready
    /// descriptors with whether each hung up. An interrupted wait returns no tokens.
    public func wait(timeoutMilliseconds: Int32) -> Result<[(token: UInt64, hungUp: Bool)], Errno> {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        let count: Int32
        switch retryingEINTR({
            events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, 64, timeoutMilliseconds) }
        }, failed: { $0 < 0 }, interruptedValue: 0) {
        case .success(let ready): count = ready
        case .failure(let code): return .failure(code)
        }
        return .success(events.prefix(Int(count)).map { event in
            (event.data.u64, event.events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 && event.events & EPOLLIN.rawValue == 0)
        })
    }
}

/// A non-blocking pipe that receives one byte per caught signal, so an event loop can
/// treat signals as input. The handlers are installed process-wide.
public struct SignalPipe: ~Copyable {
    public let readFD: Int32
    private let writeFD: Int32

    /// Routes `signals` (SIGINT, SIGTERM, SIGCHLD, …) into a new pipe.
    public static func catching(_ signals: [Int32]) -> Result<SignalPipe, Errno> {
        var fds: [Int32] = [0, 0]
        guard makePipe(&fds, nonBlocking: true) else { return .failure(Errno(rawValue: Glibc.errno)) }
        guard flamed_shim_signals_to_fd(signals, Int32(signals.count), fds[1]) == 0 else {
            let code = Errno(rawValue: Glibc.errno)
            close(fds[0]); close(fds[1])
            return .failure(code)
        }
        return .success(SignalPipe(readFD: fds[0], writeFD: fds[1]))
    }

    private init(readFD: Int32, writeFD: Int32) {
        self.readFD = readFD
        self.writeFD = writeFD
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// The signals caught since the last call.
    public func take() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        var caught: [Int32] = []
        while true {
            let got = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, 64) }
            if got <= 0 { break }
            caught.append(contentsOf: buffer.prefix(got).map { Int32($0) })
        }
        return caught
    }
}

/// pipe2(2) is hidden behind _GNU_SOURCE in Swift's Glibc; pipe plus fcntl gives the same
/// close-on-exec (and optionally non-blocking) pair.
func makePipe(_ fds: inout [Int32], nonBlocking: Bool = false) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        if nonBlocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }
    return true
}
