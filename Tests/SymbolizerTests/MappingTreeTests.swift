import FlamedCollections
import Foundation
import Testing
@testable import Symbolizer

/// A process's mappings: the treap gives what a sorted list of disjoint ranges with mmap's
/// replace semantics gives, and a process that maps and unmaps at many addresses costs
/// logarithmic time per mapping.
struct MappingTreeTests {
    /// The reference: a sorted array of disjoint ranges, each insert trimming what it overlaps.
    static func reference(_ inserts: [(UInt64, UInt64)]) -> [(UInt64, UInt64, UInt64)] {
        var maps: [(start: UInt64, end: UInt64, offset: UInt64)] = []
        for (start, end) in inserts {
            var result: [(start: UInt64, end: UInt64, offset: UInt64)] = []
            for existing in maps {
                if existing.end <= start || existing.start >= end {
                    result.append(existing)
                    continue
                }
                if existing.start < start { result.append((existing.start, start, existing.offset)) }
                if existing.end > end { result.append((end, existing.end, existing.offset + (end - existing.start))) }
            }
            result.append((start, end, start))
            maps = result.sorted { $0.start < $1.start }
        }
        return maps.map { ($0.start, $0.end, $0.offset) }
    }

    @Test func matchesSortedRangesUnderRandomOverlappingInserts() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var tree = MappingTree()
            var inserts: [(UInt64, UInt64)] = []
            for _ in 0..<Int.random(in: 1...60, using: &generator) {
                let start = UInt64.random(in: 0..<400, using: &generator) * 16
                let end = start + UInt64.random(in: 1...40, using: &generator) * 16
                inserts.append((start, end))
                tree.insert(Mapping(start: start, end: end, pageOffset: start, dso: nil))
            }
            var got: [(UInt64, UInt64, UInt64)] = []
            tree.forEach { got.append(($0.start, $0.end, $0.pageOffset)) }
            let expected = Self.reference(inserts)
            #expect(got.count == expected.count && tree.count == expected.count)
            #expect(zip(got, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 })
            for probe in stride(from: UInt64(0), to: 7000, by: 8) {
                let hit = expected.first { $0.0 <= probe && probe < $0.1 }
                let found = tree.find(probe)
                #expect(found?.start == hit?.0 && found?.pageOffset == hit?.2)
            }
        }
    }

    /// munmap sends no record: tens of thousands of one-page mappings at distinct
    /// addresses, then one mapping that covers them all. Inserting is logarithmic (a sorted
    /// array copied every mapping on each insert: quadratic, minutes for 100,000), so four
    /// times the mappings cost about four times the time, not sixteen; the covering mapping
    /// evicts and counts them.
    @Test func manyMappingsInsertInLogarithmicTime() {
        let base: UInt64 = 0x7000_0000_0000
        func fill(_ count: Int) -> (MappingTree, Duration) {
            var tree = MappingTree()
            let elapsed = ContinuousClock().measure {
                for page in 0..<count {
                    // Scattered order, as an allocator's addresses are.
                    let slot = UInt64((page &* 7919) % count)
                    tree.insert(Mapping(start: base + slot * 0x2000, end: base + slot * 0x2000 + 0x1000, pageOffset: 0, dso: nil))
                }
            }
            return (tree, elapsed)
        }
        let small = fill(15_000).1
        var (tree, large) = fill(60_000)
        #expect(tree.count == 60_000)
        #expect(large < small * 10 + .milliseconds(500), "15,000 inserts took \(small), 60,000 took \(large)")
        let probe = base + 5 * 0x2000
        #expect(tree.find(probe + 10)?.start == probe)
        #expect(tree.find(probe + 0x1000) == nil)
        let evictedBefore = BoundCounters.value(.evictedMappings)
        tree.insert(Mapping(start: base, end: base + 60_000 * 0x2000, pageOffset: 0, dso: nil))
        #expect(tree.count == 1)
        #expect(BoundCounters.value(.evictedMappings) - evictedBefore >= 60_000)
    }

    /// Past the per-process cap a new mapping is dropped and counted, and lookups still work.
    @Test func capDropsAndCountsNewMappings() {
        var tree = MappingTree()
        for page in 0..<UInt64(MappingTree.capacity) {
            tree.insert(Mapping(start: page * 0x2000, end: page * 0x2000 + 0x1000, pageOffset: 0, dso: nil))
        }
        let droppedBefore = BoundCounters.value(.mappingCap)
        let inserted = tree.insert(Mapping(start: 0x1_0000_0000, end: 0x1_0000_1000, pageOffset: 0, dso: nil))
        #expect(!inserted)
        #expect(BoundCounters.value(.mappingCap) - droppedBefore >= 1)
        #expect(tree.count == MappingTree.capacity)
        #expect(tree.find(0x1_0000_0000) == nil)
        #expect(tree.find(0x2000 * 7 + 1)?.start == 0x2000 * 7)
    }
}
