import FlamedCollections
import FlamedLive
import FlamedSystem
import PerfData

/// The hand-off from the sampling thread to the aggregation thread. The sampling thread only
/// reads the rings and queues what it read, so nothing a process or its files can make slow
/// (reading symbol tables, naming, demangling) ever holds up the rings; the aggregation
/// thread applies the records in the order they were queued.
///
/// Bounded: past `capacity` queued records a pass's samples are dropped, and past twice that
/// its other records too, each counted as `Bound.sampleQueue`.
final class RecordQueue: @unchecked Sendable {
    /// What the aggregation thread is given.
    enum Item {
        /// Seed the process table from /proc (once sampling has started).
        case seed
        /// A pass of records, in time order.
        case records([PerfRecord])
    }

    /// Records queued at most before samples are dropped.
    let capacity: Int
    private let lock = Lock()
    private var items: [Item] = []
    private var queued = 0
    private var closed = false
    /// When (CLOCK_MONOTONIC ns) the aggregation thread last finished a batch or waited idle.
    private var lastBeat: UInt64 = MonotonicClock.now
    private let waker: Waker

    init(capacity: Int = 1 << 16) throws {
        guard let waker = Waker() else { throw SamplingError("cannot create a wake-up pipe") }
        self.waker = waker
        self.capacity = capacity
    }

    /// Queues a seed request.
    func pushSeed() {
        lock.withLock { items.append(.seed) }
        waker.wake(1)
    }

    /// Queues a pass of records from the sampling thread (never blocks on the consumer).
    func push(_ records: [PerfRecord]) {
        guard !records.isEmpty else { return }
        var kept = records
        lock.withLock {
            if queued + kept.count > capacity {
                let before = kept.count
                kept.removeAll { if case .sample = $0 { return true } else { return false } }
                if queued + kept.count > 2 * capacity { kept = [] }
                BoundCounters.count(.sampleQueue, by: before - kept.count)
            }
            guard !kept.isEmpty else { return }
            queued += kept.count
            items.append(.records(kept))
        }
        waker.wake(1)
    }

    /// Waits up to `timeoutMilliseconds` for items and takes them all; nil once closed.
    func take(timeoutMilliseconds: Int32) -> [Item]? {
        let pending: [Item]? = lock.withLock {
            if closed { return nil }
            let taken = items
            items = []
            queued = 0
            return taken
        }
        guard let pending else { return nil }
        if !pending.isEmpty { return pending }
        _ = waker.wait(timeoutMilliseconds: timeoutMilliseconds)
        _ = waker.take()
        return lock.withLock {
            if closed { return nil }
            let taken = items
            items = []
            queued = 0
            return taken
        }
    }

    /// Notes that the aggregation thread is making progress.
    func beat(now: UInt64) {
        lock.withLock { lastBeat = now }
    }

    /// Whether the aggregation thread made progress within `interval` nanoseconds of `now`.
    func isConsumerAlive(now: UInt64, within interval: UInt64) -> Bool {
        lock.withLock { now &- lastBeat <= interval }
    }

    /// Whether `close` was called.
    var isClosed: Bool { lock.withLock { closed } }

    /// Stops the aggregation thread: `take` returns nil from now on.
    func close() {
        lock.withLock { closed = true }
        waker.wake(1)
    }
}
