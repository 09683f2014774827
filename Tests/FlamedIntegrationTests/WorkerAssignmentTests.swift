import FlameGraph
@testable import FlamedReport
import FlamedPipeline
import Testing

/// How a parallel report shares processes between its two workers, and how the workers'
/// trees go back together when a process moved between them.
@Suite("Sharing processes between two workers")
struct WorkerAssignmentTests {
    /// Builds a tree from `paths` (process first, leaf last), one sample each, in order,
    /// with the given first-sample sequence for each process node.
    static func tree(_ paths: [[String]], sequences: [String: UInt64]) -> (tree: FlameTree, order: [Int32: UInt64]) {
        var tree = FlameTree()
        var order: [Int32: UInt64] = [:]
        for path in paths {
            var node = FlameTree.root
            for frame in path {
                node = tree.child(of: node, name: tree.intern(frame), kind: .user)
                if let sequence = sequences[frame], order[node] == nil { order[node] = sequence }
            }
            tree.add(1, to: node)
        }
        return (tree, order)
    }

    static func describe(_ tree: FlameTree, _ node: Int32 = FlameTree.root, _ prefix: String = "") -> [String] {
        tree.children(of: node).flatMap { child -> [String] in
            let path = prefix + "/" + tree.name(of: child)
            return ["\(path)=\(tree.nodeValue[Int(child)])"] + describe(tree, child, path)
        }
    }

    @Test("two heavy processes that start on one worker: one moves, once, and the samples split evenly")
    func heavyPairIsSplit() {
        var assignment = WorkerAssignment()
        // pid 1 takes worker 0, pid 2 worker 1; pid 3 arrives while worker 1 is behind.
        for pid: Int32 in [1, 2, 2, 1, 1, 3] { _ = assignment.take(pid: pid) }
        #expect(assignment.take(pid: 2) == assignment.take(pid: 3), "both heavy processes start on one worker")
        for _ in 0..<20_000 {
            _ = assignment.take(pid: 2)
            _ = assignment.take(pid: 3)
        }
        #expect(assignment.moves == 1)
        let total = assignment.samples.reduce(0, +)
        #expect(assignment.samples.allSatisfy { $0 > total / 3 }, "\(assignment.samples)")
    }

    @Test("one dominant process stays where it is: moving it would not even the workers out")
    func dominantProcessStays() {
        var assignment = WorkerAssignment()
        var workers = Set<Int>()
        for step in 0..<50_000 { workers.insert(assignment.take(pid: step % 100 == 0 ? Int32(1000 + step) : 7)) }
        #expect(assignment.moves == 0)
        #expect(workers == [0, 1], "new small processes go to the idle worker")
    }

    @Test("a process in both trees merges with its children in first-seen order, whichever tree saw it first")
    func movedProcessMergesInOrder() {
        // The process `p (1)` was read first by the second worker, then moved to the first.
        let later = Self.tree([["p (1)", "d"], ["p (1)", "a", "e"], ["p (1)", "a", "b"]], sequences: ["p (1)": 5])
        let earlier = Self.tree([["q (2)", "x"], ["p (1)", "a", "b"], ["p (1)", "c"]], sequences: ["q (2)": 1, "p (1)": 2])
        let merged = TreeNaming.merge([later, earlier])
        #expect(Self.describe(merged) == [
            "/q (2)=0", "/q (2)/x=1",
            "/p (1)=0", "/p (1)/a=0", "/p (1)/a/b=2", "/p (1)/a/e=1", "/p (1)/c=1", "/p (1)/d=1",
        ])
    }
}
