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
    private struct Node {
        var mapping: Mapping
        var left: Int32
        var right: Int32
        var priority: UInt32
    }

    /// The most mappings one process keeps (a real process has a few hundred).
    static let capacity = 1 << 16

    private var nodes: [Node] = []
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
        if let last = last(in: below), nodes[Int(last)].mapping.end > mapping.start {
            let old = nodes[Int(last)].mapping
            if old.end > mapping.end { remainder = Self.part(of: old, from: mapping.end) }
            nodes[Int(last)].mapping.end = mapping.start
        }
        let (covered, above) = split(rest, before: mapping.end)
        if covered >= 0 {
            if let last = last(in: covered), nodes[Int(last)].mapping.end > mapping.end {
                remainder = Self.part(of: nodes[Int(last)].mapping, from: mapping.end)
            }
            let evicted = release(covered)
            BoundCounters.count(.evictedMappings, by: evicted - (remainder == nil ? 0 : 1))
        }
        if count >= Self.capacity {
            // Full: put back what was there (the trimmed part stays trimmed: the new mapping
            // replaced it in the process too) and drop the new mapping.
            var right = above
            if let remainder { right = merge(node(remainder), right) }
            root = merge(below, right)
            BoundCounters.count(.mappingCap)
            return false
        }
        var right = above
        if let remainder { right = merge(node(remainder), right) }
        root = merge(merge(below, node(mapping)), right)
        return true
    }

    /// The mapping containing `address`, if any.
    func find(_ address: UInt64) -> Mapping? {
        var cursor = root, candidate: Int32 = -1
        while cursor >= 0 {
            if nodes[Int(cursor)].mapping.start <= address {
                candidate = cursor
                cursor = nodes[Int(cursor)].right
            } else {
                cursor = nodes[Int(cursor)].left
            }
        }
        guard candidate >= 0, address < nodes[Int(candidate)].mapping.end else { return nil }
        return nodes[Int(candidate)].mapping
    }

    /// Calls `body` with each mapping in address order.
    func forEach(_ body: (Mapping) -> Void) {
        var stack: [Int32] = []
        var cursor = root
        while cursor >= 0 || !stack.isEmpty {
            while cursor >= 0 {
                stack.append(cursor)
                cursor = nodes[Int(cursor)].left
            }
            let next = stack.removeLast()
            body(nodes[Int(next)].mapping)
            cursor = nodes[Int(next)].right
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
        let fresh = Node(mapping: mapping, left: -1, right: -1, priority: random)
        if let reused = freeNodes.popLast() {
            nodes[Int(reused)] = fresh
            return reused
        }
        nodes.append(fresh)
        return Int32(nodes.count - 1)
    }

    /// Frees every node of the subtree at `tree`; returns how many there were.
    private mutating func release(_ tree: Int32) -> Int {
        var stack = [tree], released = 0
        while let next = stack.popLast() {
            guard next >= 0 else { continue }
            stack.append(nodes[Int(next)].left)
            stack.append(nodes[Int(next)].right)
            nodes[Int(next)].mapping.dso = nil
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
        while nodes[Int(cursor)].right >= 0 { cursor = nodes[Int(cursor)].right }
        return cursor
    }

    /// Splits the subtree at `tree` into the mappings starting below `key` and the rest.
    private mutating func split(_ tree: Int32, before key: UInt64) -> (Int32, Int32) {
        guard tree >= 0 else { return (-1, -1) }
        if nodes[Int(tree)].mapping.start < key {
            let (low, high) = split(nodes[Int(tree)].right, before: key)
            nodes[Int(tree)].right = low
            return (tree, high)
        }
        let (low, high) = split(nodes[Int(tree)].left, before: key)
        nodes[Int(tree)].left = high
        return (low, tree)
    }

    /// Joins two subtrees, every start in `low` below every start in `high`.
    private mutating func merge(_ low: Int32, _ high: Int32) -> Int32 {
        guard low >= 0 else { return high }
        guard high >= 0 else { return low }
        if nodes[Int(low)].priority > nodes[Int(high)].priority {
            nodes[Int(low)].right = merge(nodes[Int(low)].right, high)
            return low
        }
        nodes[Int(high)].left = merge(low, nodes[Int(high)].left)
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
