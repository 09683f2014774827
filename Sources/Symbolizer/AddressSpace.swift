import FlamedCollections

/// One mapping in a process's address space.
struct Mapping {
    var start: UInt64
    var end: UInt64
    var pageOffset: UInt64
    var dso: DSO?
}

/// A process's mappings: disjoint, ordered by start, in a treap (a binary search tree kept
/// balanced by random priorities). Inserting a mapping trims or evicts what it overlaps, as
/// a new mmap does, in O(log n) expected time plus the evicted ones; a lookup is O(log n).
/// munmap sends no record, so a process that maps and unmaps at many addresses leaves many
/// mappings behind: a sorted array would copy them all on each insert. A process keeps at
/// most `capacity` mappings; past it new ones are dropped and counted (`Bound.mappingCap`).
struct MappingTree {
    /// The most mappings one process keeps (a real process has a few hundred).
    static let capacity = 1 << 16

    // The tree's shape in arrays of plain integers (splitting and joining touch only these),
    // and each node's mapping beside them.
    private var starts: [UInt64] = []
    private var lefts: [Int32] = []
    private var rights: [Int32] = []
    private var priorities: [UInt32] = []
    private var mappings: [Mapping] = []
    private var freeNodes: [Int32] = []
    private var root: Int32 = -1
    private var random: UInt32 = 0x9E37_79B9
    /// Mappings held.
    private(set) var count = 0

    /// Inserts `mapping`, trimming the mappings it partly overlaps and evicting those it
    /// covers. Returns false when the process already holds `capacity` mappings and this
    /// one would add to them.
    @discardableResult
    mutating func insert(_ mapping: Mapping) -> Bool {
        guard mapping.start < mapping.end else { return true }
        let (below, rest) = split(root, before: mapping.start)
        var remainder: Mapping?
        // The mapping that starts below the new one may run into it: keep what lies outside.
        if let last = last(in: below), mappings[Int(last)].end > mapping.start {
            let old = mappings[Int(last)]
            if old.end > mapping.end { remainder = Self.part(of: old, from: mapping.end) }
            mappings[Int(last)].end = mapping.start
        }
        let (covered, above) = split(rest, before: mapping.end)
        if covered >= 0 {
            if let last = last(in: covered), mappings[Int(last)].end > mapping.end {
                remainder = Self.part(of: mappings[Int(last)], from: mapping.end)
            }
            let evicted = release(covered)
            BoundCounters.count(.evictedMappings, by: evicted - (remainder == nil ? 0 : 1))
        }
        var right = above
        if let remainder { right = merge(node(remainder), right) }
        guard count < Self.capacity else {
            // Full: what was there stays (the part the new mapping replaced in the process
            // stays trimmed) and the new mapping is dropped.
            root = merge(below, right)
            BoundCounters.count(.mappingCap)
            return false
        }
        root = merge(merge(below, node(mapping)), right)
        return true
    }

    /// The mapping containing `address`, if any.
    func find(_ address: UInt64) -> Mapping? {
        var cursor = root, candidate: Int32 = -1
        while cursor >= 0 {
            if starts[Int(cursor)] <= address {
                candidate = cursor
                cursor = rights[Int(cursor)]
            } else {
                cursor = lefts[Int(cursor)]
            }
        }
        guard candidate >= 0, address < mappings[Int(candidate)].end else { return nil }
        return mappings[Int(candidate)]
    }

    /// Calls `body` with each mapping in address order.
    func forEach(_ body: (Mapping) -> Void) {
        var stack: [Int32] = []
        var cursor = root
        while cursor >= 0 || !stack.isEmpty {
            while cursor >= 0 {
                stack.append(cursor)
                cursor = lefts[Int(cursor)]
            }
            let next = stack.removeLast()
            body(mappings[Int(next)])
            cursor = rights[Int(next)]
        }
    }

    /// `mapping` from `start` on (which lies inside it).
    private static func part(of mapping: Mapping, from start: UInt64) -> Mapping {
        var part = mapping
        part.pageOffset = mapping.pageOffset &+ (start - mapping.start)
        part.start = start
        return part
    }

    private mutating func node(_ mapping: Mapping) -> Int32 {
        // xorshift32: priorities only need to be independent of the addresses.
        random ^= random << 13
        random ^= random >> 17
        random ^= random << 5
        count += 1
        if let reused = freeNodes.popLast() {
            let index = Int(reused)
            starts[index] = mapping.start
            lefts[index] = -1
            rights[index] = -1
            priorities[index] = random
            mappings[index] = mapping
            return reused
        }
        starts.append(mapping.start)
        lefts.append(-1)
        rights.append(-1)
        priorities.append(random)
        mappings.append(mapping)
        return Int32(starts.count - 1)
    }

    /// Frees every node of the subtree at `tree`; returns how many there were.
    private mutating func release(_ tree: Int32) -> Int {
        var stack = [tree], released = 0
        while let next = stack.popLast() {
            guard next >= 0 else { continue }
            stack.append(lefts[Int(next)])
            stack.append(rights[Int(next)])
            mappings[Int(next)].dso = nil
            freeNodes.append(next)
            released += 1
        }
        count -= released
        return released
    }

    /// The node with the highest start in the subtree at `tree`.
    private func last(in tree: Int32) -> Int32? {
        guard tree >= 0 else { return nil }
        var cursor = tree
        while rights[Int(cursor)] >= 0 { cursor = rights[Int(cursor)] }
        return cursor
    }

    /// Splits the subtree at `tree` into the mappings starting below `key` and the rest.
    private mutating func split(_ tree: Int32, before key: UInt64) -> (Int32, Int32) {
        guard tree >= 0 else { return (-1, -1) }
        if starts[Int(tree)] < key {
            let (low, high) = split(rights[Int(tree)], before: key)
            rights[Int(tree)] = low
            return (tree, high)
        }
        let (low, high) = split(lefts[Int(tree)], before: key)
        lefts[Int(tree)] = high
        return (low, tree)
    }

    /// Joins two subtrees, every start in `low` below every start in `high`.
    private mutating func merge(_ low: Int32, _ high: Int32) -> Int32 {
        guard low >= 0 else { return high }
        guard high >= 0 else { return low }
        if priorities[Int(low)] > priorities[Int(high)] {
            rights[Int(low)] = merge(rights[Int(low)], high)
            return low
        }
        lefts[Int(high)] = merge(low, lefts[Int(high)])
        return high
    }
}

/// A process's memory map, shared by its threads and copied on fork.
final class AddressSpace {
    private(set) var maps = MappingTree()
    /// Changes whenever the maps change, so cached resolutions can be told apart.
    var generation: UInt32 = 0
    /// The ranges of its mapped files, once asked for; cleared whenever the maps change.
    var fileRanges: FileRanges?
    /// The process, and its JIT perf map once an address needed it (not copied on fork).
    var pid: Int32 = 0
    var perfMap: PerfMap?
    /// An address that only the perf map could name was not in it: look at the map again
    /// (it may have grown) before trusting cached results.
    var awaitingJIT = false
    /// When (CLOCK_MONOTONIC ns) the perf map may next be looked at.
    var nextPerfMapLook: UInt64 = 0

    /// Above this many mappings, `Symbolizer.fileRanges(pid:)` is not worked out: a process
    /// that maps and unmaps at many addresses would make each sample rebuild it.
    static let fileRangesLimit = 4096

    init() {}

    init(copying other: AddressSpace) {
        maps = other.maps
        fileRanges = other.fileRanges
    }

    /// Inserts a mapping, trimming or removing whatever it overlaps (as a new mmap does).
    func insert(_ mapping: Mapping, generation: UInt32) {
        self.generation = generation
        fileRanges = nil
        maps.insert(mapping)
    }

    func find(_ address: UInt64) -> Mapping? { maps.find(address) }
}
