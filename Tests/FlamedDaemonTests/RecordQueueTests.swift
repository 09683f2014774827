import FlamedCollections
import FlamedSystem
import PerfData
import Testing
@testable import FlamedDaemon

/// The hand-off from the sampling thread to the aggregation thread: order kept, bounded,
/// what it drops counted, and closing it stops the consumer.
struct RecordQueueTests {
    static func values(_ items: [RecordQueue.Item]) -> [UInt64] {
        items.flatMap { item -> [UInt64] in
            guard case .records(let records) = item else { return [0] }
            return records.map { if case .lost(let count) = $0 { count } else { UInt64.max } }
        }
    }

    @Test func keepsOrderAndSeedsWhereQueued() throws {
        let queue = try RecordQueue(capacity: 100)
        queue.push([.lost(1), .lost(2)])
        queue.pushSeed()
        queue.push([.lost(3)])
        let taken = try #require(queue.take(timeoutMilliseconds: 0))
        #expect(Self.values(taken) == [1, 2, 0, 3])
        #expect(queue.take(timeoutMilliseconds: 0)?.isEmpty == true)
    }

    /// Past twice the capacity even records that are not samples are dropped, and counted.
    @Test func boundedAndCounted() throws {
        let queue = try RecordQueue(capacity: 10)
        let before = BoundCounters.value(.sampleQueue)
        for batch in 0..<5 { queue.push((0..<6).map { .lost(UInt64(batch * 6 + $0)) }) }
        let taken = try #require(queue.take(timeoutMilliseconds: 0))
        #expect(Self.values(taken) == Array(0..<18))
        #expect(BoundCounters.value(.sampleQueue) - before == 12)
    }

    @Test func waitsForWorkAndCloses() throws {
        let queue = try RecordQueue()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(queue.take(timeoutMilliseconds: 200)?.isEmpty == true)
        #expect(clock.now - start >= .milliseconds(150))
        let now = MonotonicClock.now
        queue.beat(now: now)
        #expect(queue.isConsumerAlive(now: now + 1_000_000_000, within: 2_000_000_000))
        #expect(!queue.isConsumerAlive(now: now + 3_000_000_000, within: 2_000_000_000))
        queue.push([.lost(7)])
        queue.close()
        #expect(queue.take(timeoutMilliseconds: 1000) == nil)
    }
}
