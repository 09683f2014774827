#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify): datagrams such as `READY=1` sent to the Unix
/// socket named by `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`).
/// Without `$NOTIFY_SOCKET` (not under systemd) every call does nothing.
public enum SystemdNotify {
    /// Sends `state` (for example "READY=1", "STOPPING=1", "WATCHDOG=1"); false if it could not.
    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let raw = getenv("NOTIFY_SOCKET") else { return false }
        var path = Array(String(cString: raw).utf8)
        guard !path.isEmpty else { return false }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.enumerated() { bytes[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path[0] == 0 ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, message.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == message.count
    }

    /// The watchdog interval systemd expects pings within (`$WATCHDOG_USEC`, for this pid), if any.
    public static var watchdogInterval: UInt64? {
        guard let raw = getenv("WATCHDOG_USEC"), let micros = UInt64(String(cString: raw)), micros > 0 else { return nil }
        if let owner = getenv("WATCHDOG_PID"), let pid = Int32(String(cString: owner)), pid != getpid() { return nil }
        return micros * 1000
    }
}

/// A pipe that wakes an event loop from another thread, carrying one-byte commands.
public final class Waker: @unchecked Sendable {
    public let readFD: Int32
    private let writeFD: Int32

    public init?() {
        var fds: [Int32] = [0, 0]
        guard makePipe(&fds, nonBlocking: true) else { return nil }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Sends `command` to the loop (never blocks; a full pipe already holds a wake-up).
    public func wake(_ command: UInt8) {
        var byte = command
        _ = write(writeFD, &byte, 1)
    }

    /// The commands sent since the last call.
    public func take() -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64)
        var commands: [UInt8] = []
        while true {
            let got = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, 64) }
            if got <= 0 { break }
            commands.append(contentsOf: buffer.prefix(got))
        }
        return commands
    }

    /// Waits until a command arrives, up to `timeoutMilliseconds`; returns whether one did.
    public func wait(timeoutMilliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)]
        // An interrupted wait counts as woken: the caller looks and waits again.
        let ready = retryingEINTR({ poll(&fds, 1, timeoutMilliseconds) }, failed: { $0 < 0 }, interruptedValue: 1)
        return (try? ready.get()).map { $0 > 0 } ?? false
    }

    /// Waits until `fd` is readable or a command arrives, up to `timeoutMilliseconds`;
    /// returns whether `fd` is readable.
    public func wait(for fd: Int32, timeoutMilliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, timeoutMilliseconds)
        return ready > 0 && fds[0].revents & Int16(POLLIN) != 0
    }
}
