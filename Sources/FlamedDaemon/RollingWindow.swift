import FlameGraph

/// The samples of the last few minutes, kept as counts per leaf node of a shared flame
/// tree in fixed-length time slices, so that whole slices age out.
///
/// The tree itself only grows (the sampler adds paths to it); `compact` rebuilds it from
/// the stacks still in the window, keeping the heaviest `maxStacks` and folding the rest
/// into a `[pruned]` frame, so memory stays bounded and totals are conserved.
public struct RollingWindow: Sendable {
    struct Slice: Sendable {
        var start: UInt64
        var counts: [Int32: UInt32] = [:]
        var samples: UInt64 = 0
    }

    /// Length of the window, in nanoseconds of the sample clock.
    public var window: UInt64
    /// Length of one slice.
    public let slice: UInt64
    /// Most distinct stacks kept by `compact`.
    public var maxStacks: Int
    private(set) var slices: [Slice] = []
    /// Samples folded into `[pruned]` since the start.
    public private(set) var prunedSamples: UInt64 = 0
    /// Stacks folded into `[pruned]` since the start.
    public private(set) var prunedStacks: UInt64 = 0

    public init(window: UInt64, maxStacks: Int, slices: Int = 10) {
        self.window = window
        self.slice = max(window / UInt64(max(slices, 1)), 1_000_000)
        self.maxStacks = maxStacks
    }

    /// Counts one sample that ended on `leaf` at `time`.
    public mutating func add(leaf: Int32, time: UInt64) {
        let start = time - time % slice
        if slices.isEmpty || slices[slices.count - 1].start < start {
            slices.append(Slice(start: start))
        }
        // Records arrive in time order; a late one counts in the newest slice.
        var index = slices.count - 1
        while index > 0 && slices[index].start > start { index -= 1 }
        slices[index].counts[leaf, default: 0] &+= 1
        slices[index].samples &+= 1
    }

    /// Drops the slices that ended before `now - window`.
    public mutating func expire(now: UInt64) {
        let cutoff = now > window ? now - window : 0
        slices.removeAll { $0.start &+ slice <= cutoff }
    }

    /// Samples in the window.
    public var samples: UInt64 { slices.reduce(0) { $0 &+ $1.samples } }

    /// Time span the window's slices cover, if any.
    public var span: (start: UInt64, end: UInt64)? {
        guard let first = slices.first, let last = slices.last else { return nil }
        return (first.start, last.start &+ slice)
    }

    /// Summed counts per leaf for the slices that end after `since`.
    public func counts(since: UInt64 = 0) -> [Int32: UInt64] {
        var total: [Int32: UInt64] = [:]
        for slice in slices where slice.start &+ self.slice > since {
            for (leaf, count) in slice.counts { total[leaf, default: 0] &+= UInt64(count) }
        }
        return total
    }

    /// Distinct stacks (leaves) in the window.
    public var distinctStacks: Int {
        var leaves = Set<Int32>()
        for slice in slices { leaves.formUnion(slice.counts.keys) }
        return leaves.count
    }

    /// A new tree holding the window's samples from `since` on, built from `tree`'s paths;
    /// `filter` chooses process nodes (children of the root) by their identity.
    public func snapshot(of tree: FlameTree, since: UInt64 = 0, filter: ProcessFilter = ProcessFilter()) -> FlameTree {
        let counts = counts(since: since)
        var (result, mapped) = Self.copyPaths(of: counts.keys, from: tree, filter: filter)
        for (leaf, count) in counts where Int(leaf) < tree.nodeCount && mapped[Int(leaf)] != FlameTree.none {
            result.add(count, to: mapped[Int(leaf)])
        }
        return result
    }

    /// A new tree with the root-to-node paths of `nodes` copied from `tree` (children in
    /// `tree`'s order, process nodes with their identities), leaving out the processes
    /// `filter` refuses; and each old node's id in it (`FlameTree.none` for nodes not copied).
    static func copyPaths(of nodes: some Sequence<Int32>, from tree: FlameTree,
                          filter: ProcessFilter = ProcessFilter()) -> (FlameTree, [Int32]) {
        var result = FlameTree()
        var mapped = [Int32](repeating: FlameTree.none, count: tree.nodeCount)
        mapped[0] = FlameTree.root
        var needed = [Bool](repeating: false, count: tree.nodeCount)
        for start in nodes where Int(start) < tree.nodeCount {
            var node = start
            while node > 0 && !needed[Int(node)] {
                needed[Int(node)] = true
                node = tree.nodeParent[Int(node)]
            }
        }
        for node in 1..<tree.nodeCount where needed[node] {
            let parent = Int(tree.nodeParent[node])
            guard mapped[parent] != FlameTree.none, parent != 0 || filter.keeps(tree.processIdentities[Int32(node)]) else { continue }
            let name = result.intern(tree.name(of: Int32(node)))
            mapped[node] = parent == 0 ? result.copyProcessNode(Int32(node), of: tree, name: name)
                : result.child(of: mapped[parent], name: name, kind: tree.nodeKind[node])
        }
        return (result, mapped)
    }

    /// The process node (a child of the root) above `node`, or `node` itself.
    static func processNode(of node: Int32, in tree: FlameTree) -> Int32 {
        var process = node
        while process > 0 && tree.nodeParent[Int(process)] != FlameTree.root { process = tree.nodeParent[Int(process)] }
        return process
    }

    /// Rebuilds `tree` from the stacks still in the window: the heaviest `maxStacks` keep
    /// their paths, the others become `[pruned]` under their process (or under the root when
    /// the process keeps no stack). Slices are rewritten to the new node ids.
    public mutating func compact(_ tree: FlameTree) -> FlameTree {
        let totals = counts()
        let ranked = totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let kept = Set(ranked.prefix(maxStacks).map(\.key))
        // Pruned stacks keep only their process node.
        let copied = totals.keys.map { kept.contains($0) ? $0 : Self.processNode(of: $0, in: tree) }
        var (result, mapped) = Self.copyPaths(of: copied, from: tree)
        let prunedName = result.intern("[pruned]")
        var remap: [Int32: Int32] = [:]
        var pruned: Set<Int32> = []
        for leaf in totals.keys where Int(leaf) < tree.nodeCount {
            if kept.contains(leaf) {
                remap[leaf] = mapped[Int(leaf)]
            } else {
                let process = Self.processNode(of: leaf, in: tree)
                let parent = process > 0 ? mapped[Int(process)] : FlameTree.root
                remap[leaf] = result.child(of: parent, name: prunedName, kind: .user)
                // A [pruned] frame folded again was counted when it was first folded.
                if tree.name(of: leaf) != "[pruned]" { pruned.insert(leaf) }
            }
        }
        prunedStacks &+= UInt64(pruned.count)
        for index in slices.indices {
            var counts: [Int32: UInt32] = [:]
            for (leaf, count) in slices[index].counts {
                guard let target = remap[leaf] else { continue }
                counts[target, default: 0] &+= count
                if pruned.contains(leaf) { prunedSamples &+= UInt64(count) }
            }
            slices[index].counts = counts
        }
        return result
    }
}
