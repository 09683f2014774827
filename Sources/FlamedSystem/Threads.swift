#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// A mutual-exclusion lock (a pthread mutex) for state shared between flamed's threads.
public final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Threads of flamed's own: the side band, the control socket, the sampling loop and
/// snapshot writing block in system calls, so they run on threads of their own rather than
/// on the concurrency pool.
public enum Threads {
    private final class Start {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Runs `body` on a new detached thread. Fails with the errno of pthread_create (for
    /// example EAGAIN when the unit's TasksMax is reached).
    public static func detach(_ body: @escaping @Sendable () -> Void) -> Result<Void, Errno> {
        let start = Unmanaged.passRetained(Start(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<Start>.fromOpaque(argument).takeRetainedValue().body()
            return nil
        }, start)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            return .failure(Errno(rawValue: result))
        }
        pthread_detach(thread)
        return .success(())
    }
}

extension Threads {
    /// Blocks `signals` in the calling thread, and so in every thread it starts later. A
    /// signal sent meanwhile stays pending instead of taking its default action, until a
    /// signalfd (Dispatch's signal sources on Linux) reads it. The daemon calls this before
    /// it binds its control socket: a SIGHUP that arrives before the signal service runs
    /// would otherwise end the process.
    public static func blockSignals(_ signals: [Int32]) -> Result<Void, Errno> {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        let result = pthread_sigmask(SIG_BLOCK, &set, nil)
        return result == 0 ? .success(()) : .failure(Errno(rawValue: result))
    }
}
