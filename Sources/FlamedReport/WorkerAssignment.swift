import FlamedCollections

/// Which of a parallel report's two workers symbolizes each process. A new process goes to
/// the worker that took fewer samples lately; every `window` samples, if one worker took
/// far more than the other, one of its processes moves over: the one whose move evens the
/// two out best. A process moves at most once, so its samples form at most two runs, one per
/// worker, and `TreeNaming.merge` puts its subtree back together in first-seen order.
struct WorkerAssignment {
    /// Samples between two looks at the balance.
    static let window = 4096

    /// Slot of each process, by pid.
    private var slots = IntMap()
    private var worker: [Int8] = []
    private var moved: [Bool] = []
    /// Samples of each process in the current window, and the slots with any.
    private var recent: [Int32] = []
    private var touched: [Int32] = []
    /// Samples each worker took in the current window.
    private var load = (0, 0)
    /// Samples each worker took in all.
    private(set) var samples = [0, 0]
    /// Processes moved from one worker to the other.
    private(set) var moves = 0

    /// The worker for a sample of `pid`, counted as taken.
    mutating func take(pid: Int32) -> Int {
        let key = UInt64(UInt32(bitPattern: pid))
        let slot: Int
        if let existing = slots[key] {
            slot = Int(existing)
        } else {
            slot = worker.count
            slots.set(key, Int32(slot))
            worker.append(load.1 < load.0 ? 1 : 0)
            moved.append(false)
            recent.append(0)
        }
        let index = Int(worker[slot])
        if recent[slot] == 0 { touched.append(Int32(slot)) }
        recent[slot] += 1
        samples[index] += 1
        if index == 0 { load.0 += 1 } else { load.1 += 1 }
        if load.0 + load.1 >= Self.window { rebalance() }
        return index
    }

    private mutating func rebalance() {
        let busier: Int8 = load.1 > load.0 ? 1 : 0
        let gap = abs(load.0 - load.1)
        // A gap of a quarter of the window leaves one worker idle an eighth of the time at most.
        if gap > Self.window / 4 {
            var best = -1, bestGap = gap
            for slot in touched.lazy.map(Int.init) where worker[slot] == busier && !moved[slot] {
                let after = abs(gap - 2 * Int(recent[slot]))
                if after < bestGap { (best, bestGap) = (slot, after) }
            }
            if best >= 0 {
                worker[best] = 1 - busier
                moved[best] = true
                moves += 1
            }
        }
        for slot in touched { recent[Int(slot)] = 0 }
        touched.removeAll(keepingCapacity: true)
        load = (0, 0)
    }
}
