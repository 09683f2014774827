import FlamedCollections


/// Remembers which tree node each raw callchain ended on, so a stack seen again (the
/// common case: idle loops, hot loops) costs one hash of its addresses instead of a
/// symbol lookup and a tree step per frame.
///
/// Entries are keyed by the process node, the symbolizer's generation for the process
/// (which changes whenever its maps or the kernel's symbols change) and the raw entries.
/// The stored addresses are capped; past the cap new stacks are simply not cached.
struct StackCache {
    private struct Slot {
        var processNode: Int32
        var generation: UInt64
        var start: Int
        var count: Int
        var leaf: Int32
    }

    private var index = IntMap(capacity: 1 << 10)
    private var slots: [Slot] = []
    private var store: [UInt64] = []
    /// Most addresses kept (8 bytes each).
    let capacity: Int

    init(capacity: Int = 1 << 18) {
        self.capacity = capacity
    }

    static func hash(processNode: Int32, generation: UInt64, chain: [UInt64]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(UInt32(bitPattern: processNode)) ^ generation &* 0x9E37_79B9_7F4A_7C15
        for position in 0..<chain.count {
            hash = (hash ^ chain[position]) &* 0x0000_0100_0000_01B3
            hash ^= hash >> 29
        }
        return hash
    }

    /// The leaf node cached for this stack, if any.
    func leaf(hash: UInt64, processNode: Int32, generation: UInt64, chain: [UInt64]) -> Int32? {
        guard let slotIndex = index[hash] else { return nil }
        let slot = slots[Int(slotIndex)]
        guard slot.processNode == processNode, slot.generation == generation, slot.count == chain.count else { return nil }
        for position in 0..<chain.count where store[slot.start + position] != chain[position] { return nil }
        return slot.leaf
    }

    /// Remembers `leaf` for this stack, unless the cache is full.
    mutating func insert(hash: UInt64, processNode: Int32, generation: UInt64, chain: [UInt64], leaf: Int32) {
        guard store.count + chain.count <= capacity, slots.count < Int(Int32.max) else { return }
        let start = store.count
        for position in 0..<chain.count { store.append(chain[position]) }
        index.set(hash, Int32(slots.count))
        slots.append(Slot(processNode: processNode, generation: generation, start: start, count: chain.count, leaf: leaf))
    }
}
