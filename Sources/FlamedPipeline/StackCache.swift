import FlamedCollections

/// Remembers which tree node each stack ended on, so a stack seen again (the
/// common case: idle loops, hot loops) costs one hash of its addresses instead of a
/// symbol lookup and a tree step per frame.
///
/// Entries are keyed by the process node, the symbolizer's generation for the process
/// (which changes whenever its maps or the kernel's symbols change) and the frames.
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
    private var storedModes: [UInt8] = []
    /// Most frames kept (9 bytes each).
    let capacity: Int

    init(capacity: Int = 1 << 18) {
        self.capacity = capacity
    }

    static func hash(processNode: Int32, generation: UInt64, stack: Stack) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(UInt32(bitPattern: processNode)) ^ generation &* 0x9E37_79B9_7F4A_7C15
        for position in 0..<stack.addresses.count {
            hash = (hash ^ stack.addresses[position] ^ UInt64(stack.modes[position]) << 56) &* 0x0000_0100_0000_01B3
            hash ^= hash >> 29
        }
        return hash
    }

    /// The leaf node cached for this stack, if any.
    func leaf(hash: UInt64, processNode: Int32, generation: UInt64, stack: Stack) -> Int32? {
        guard let slotIndex = index[hash] else { return nil }
        let slot = slots[Int(slotIndex)]
        guard slot.processNode == processNode, slot.generation == generation, slot.count == stack.addresses.count else { return nil }
        for position in 0..<slot.count
        where store[slot.start + position] != stack.addresses[position] || storedModes[slot.start + position] != stack.modes[position] {
            return nil
        }
        return slot.leaf
    }

    /// Remembers `leaf` for this stack, unless the cache is full.
    mutating func insert(hash: UInt64, processNode: Int32, generation: UInt64, stack: Stack, leaf: Int32) {
        let count = stack.addresses.count
        guard store.count + count <= capacity, slots.count < Int(Int32.max) else { return }
        let start = store.count
        store.append(contentsOf: stack.addresses)
        storedModes.append(contentsOf: stack.modes)
        index.set(hash, Int32(slots.count))
        slots.append(Slot(processNode: processNode, generation: generation, start: start, count: count, leaf: leaf))
    }
}
