import FlameGraph
import Testing
@testable import FlamedDaemon

/// The daemon's rolling window: slices age out, snapshots sum what is left, and compaction
/// keeps the heaviest stacks and conserves every sample.
struct RollingWindowTests {
    static let second: UInt64 = 1_000_000_000

    /// A tree with `count` processes, each with `stacks` distinct two-frame stacks; returns the leaves.
    static func makeTree(processes count: Int, stacks: Int) -> (FlameTree, [[Int32]]) {
        var tree = FlameTree()
        var leaves: [[Int32]] = []
        for process in 0..<count {
            let node = tree.processNode(ProcessIdentity(pid: Int32(100 + process), comm: "proc\(process)",
                                                        container: process == 2 ? "c0ffee" + String(repeating: "0", count: 58) : nil))
            let main = tree.intern("main")
            let mainNode = tree.child(of: node, name: main, kind: .user)
            leaves.append((0..<stacks).map { stack in
                let frame = tree.intern("f\(stack)")
                return tree.child(of: mainNode, name: frame, kind: .user)
            })
        }
        return (tree, leaves)
    }

    static func total(_ tree: FlameTree) -> UInt64 { tree.nodeValue.reduce(0, +) }

    @Test("slices older than the window age out; a snapshot covers the window or a shorter part of it")
    func expiry() {
        let (tree, leaves) = Self.makeTree(processes: 2, stacks: 1)
        var window = RollingWindow(window: 10 * Self.second, maxStacks: 100)
        for second in 0..<10 { window.add(leaf: leaves[0][0], time: UInt64(second) * Self.second) }
        for second in 10..<20 { window.add(leaf: leaves[1][0], time: UInt64(second) * Self.second) }
        #expect(window.samples == 20)
        window.expire(now: 20 * Self.second)
        #expect(window.samples == 10, "the first ten seconds aged out")
        let snapshot = window.snapshot(of: tree)
        #expect(Self.total(snapshot) == 10)
        #expect(snapshot.children(of: FlameTree.root).map { snapshot.name(of: $0) } == ["proc1 (101)"])
        let recent = window.snapshot(of: tree, since: 17 * Self.second)
        #expect(Self.total(recent) == 3, "the last three seconds")
    }

    @Test("a snapshot keeps only the processes the filter accepts")
    func processFilter() {
        let (tree, leaves) = Self.makeTree(processes: 3, stacks: 2)
        var window = RollingWindow(window: 60 * Self.second, maxStacks: 100)
        for process in leaves { for leaf in process { window.add(leaf: leaf, time: Self.second) } }
        let snapshot = window.snapshot(of: tree, filter: ProcessFilter(pids: [101]))
        #expect(Self.total(snapshot) == 2)
        #expect(snapshot.children(of: FlameTree.root).map { snapshot.name(of: $0) } == ["proc1 (101)"])
        let byName = window.snapshot(of: tree, filter: ProcessFilter(comm: "proc2"))
        let expected = "proc2 (102) [container c0ffee000000]"
        #expect(byName.children(of: FlameTree.root).map { byName.name(of: $0) } == [expected])
        let byContainer = window.snapshot(of: tree, filter: ProcessFilter(container: "C0FFEE"))
        #expect(byContainer.children(of: FlameTree.root).map { byContainer.name(of: $0) } == [expected])
        #expect(byContainer.processIdentities.values.map(\.pid) == [102], "the copy keeps the process's identity")
        // A comm that only looks like a pid or a container in the node's text matches nothing else.
        var tricky = FlameTree()
        let trickyNode = tricky.processNode(ProcessIdentity(pid: 7, comm: "evil (101) [container c0ffee]"))
        let trickyLeaf = tricky.child(of: trickyNode, name: tricky.intern("main"), kind: .user)
        var trickyWindow = RollingWindow(window: 60 * Self.second, maxStacks: 100)
        trickyWindow.add(leaf: trickyLeaf, time: Self.second)
        #expect(Self.total(trickyWindow.snapshot(of: tricky, filter: ProcessFilter(pids: [101]))) == 0)
        #expect(Self.total(trickyWindow.snapshot(of: tricky, filter: ProcessFilter(container: "c0ffee"))) == 0)
        #expect(Self.total(trickyWindow.snapshot(of: tricky, filter: ProcessFilter(pids: [7]))) == 1)
    }

    @Test("compaction keeps the heaviest max_stacks stacks, folds the rest into [pruned] and conserves totals")
    func compaction() {
        let (tree, leaves) = Self.makeTree(processes: 4, stacks: 50)
        var window = RollingWindow(window: 60 * Self.second, maxStacks: 30)
        var added: UInt64 = 0
        for (process, stacks) in leaves.enumerated() {
            for (index, leaf) in stacks.enumerated() {
                // Process 0's stacks are the heaviest; weights fall with the index.
                let weight = process == 0 ? 100 - index : 50 - index
                for sample in 0..<weight { window.add(leaf: leaf, time: UInt64(sample % 5) * Self.second) }
                added += UInt64(weight)
            }
        }
        let before = window.snapshot(of: tree)
        let compacted = window.compact(tree)
        let after = window.snapshot(of: compacted)
        #expect(Self.total(before) == added)
        #expect(Self.total(after) == added, "totals are conserved")
        #expect(window.samples == added)
        let pruned = (0..<after.nodeCount).filter { after.name(of: Int32($0)) == "[pruned]" }
        #expect(!pruned.isEmpty)
        let kept = (0..<after.nodeCount).filter { after.nodeValue[$0] > 0 && after.name(of: Int32($0)).hasPrefix("f") }
        #expect(kept.count == 30, "exactly max_stacks whole stacks remain")
        #expect(window.prunedStacks == 200 - 30)
        #expect(compacted.nodeCount < tree.nodeCount)
        // The 30 heaviest are process 0's first 30 stacks.
        let keptNames = Set(kept.map { after.name(of: Int32($0)) })
        #expect(keptNames == Set((0..<30).map { "f\($0)" }))
        // New samples go to the compacted tree's nodes; an old node id is not reused wrongly.
        window.add(leaf: FlameTree.root + Int32(kept[0]), time: 6 * Self.second)
        #expect(Self.total(window.snapshot(of: compacted)) == added + 1)
    }

    @Test("an empty or fully aged window gives an empty tree")
    func empty() {
        let (tree, leaves) = Self.makeTree(processes: 1, stacks: 1)
        var window = RollingWindow(window: 2 * Self.second, maxStacks: 10)
        #expect(Self.total(window.snapshot(of: tree)) == 0)
        window.add(leaf: leaves[0][0], time: Self.second)
        window.expire(now: 100 * Self.second)
        #expect(window.samples == 0)
        #expect(window.snapshot(of: tree).nodeCount == 1)
        let compacted = window.compact(tree)
        #expect(compacted.nodeCount == 1)
    }
}
