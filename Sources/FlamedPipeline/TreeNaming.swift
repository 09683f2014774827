import Dispatch
import FlameGraph
import Symbolizer
import Synchronization

/// A tree built by one aggregator, with what naming and merging it need.
public struct TreePart: Sendable {
    public var tree: FlameTree
    /// The sample sequence that made each process node, by node.
    public var order: [Int32: UInt64]
    /// Each placeholder name of the tree and what it stands for.
    public var names: [(name: Int32, frame: FrameName)]
}

extension StackAggregator {
    /// The tree built so far, with what naming and merging it need.
    public func part() -> TreePart {
        TreePart(tree: tree, order: processNodeSequence, names: deferredNames.map { ($0.name, symbolizer.deferredName(of: $0.frame)) })
    }
}

/// The naming step after aggregation: the frames of trees built with deferred names are
/// named at once, on every CPU (reading and demangling symbol names is most of the cost of
/// naming, and trees built in parallel share most names), and the trees merged by name.
public enum TreeNaming {
    /// One tree from `parts` (aggregators that took disjoint sets of processes, or one),
    /// its frames named on `threads` threads.
    public static func finish(_ parts: [TreePart], threads: Int) -> FlameTree {
        merge(parts.map { ($0.tree, $0.order) }, names: names(of: parts, threads: threads))
    }

    /// The names of the parts' trees, placeholders replaced: what the aggregators knew, and
    /// the rest read and demangled on `threads` threads at once.
    static func names(of results: [TreePart], threads: Int) -> [[String]] {
        var names = results.map(\.tree.names)
        // The workers often name the same symbols (libc's, the kernel's): each is resolved once.
        var pending: [(part: Int, name: Int32, job: Int)] = []
        var jobs: [PendingName] = []
        var jobOfKey: [PendingName.Key: Int] = [:]
        for (part, result) in results.enumerated() {
            for (name, frame) in result.names {
                switch frame {
                case .known(let text): names[part][Int(name)] = text
                case .pending(let later):
                    let job = jobOfKey[later.key] ?? {
                        jobs.append(later)
                        jobOfKey[later.key] = jobs.count - 1
                        return jobs.count - 1
                    }()
                    pending.append((part, name, job))
                }
            }
        }
        let chunks = max(1, min(threads, jobs.count / 256))
        let resolved = Mutex([[String]](repeating: [], count: chunks))
        let work = jobs
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (work.count * chunk / chunks)..<(work.count * (chunk + 1) / chunks)
            let texts = work[range].map { $0.resolve() }
            resolved.withLock { $0[chunk] = texts }
        }
        let texts = Array(resolved.withLock({ $0 }).joined())
        for entry in pending { names[entry.part][Int(entry.name)] = texts[entry.job] }
        return names
    }

    /// One tree holding every part: the processes under the root in the order their first
    /// samples were read (`order`, by process node), each subtree as its parts built it.
    /// Nodes of equal names under one parent are merged, as in any flame tree. A process
    /// may be in two parts (the reader moved it from one worker to the other, once): its
    /// subtree in the part that saw it first is merged first, so its children keep their
    /// first-seen order. `names` replaces the parts' own name tables (whose placeholders it
    /// fills in).
    public static func merge(_ parts: [(tree: FlameTree, order: [Int32: UInt64])], names: [[String]]? = nil) -> FlameTree {
        var merged = FlameTree(rootName: parts.first.map { $0.tree.name(of: FlameTree.root) } ?? "all")
        let nameMappings = parts.indices.map { part in (names?[part] ?? parts[part].tree.names).map { merged.intern($0) } }
        let subtrees = parts.map { ProcessSubtrees($0.tree) }
        var mappings = parts.map { [Int32](repeating: FlameTree.none, count: $0.tree.nodeCount) }
        var processes: [(sequence: UInt64, part: Int, node: Int32)] = []
        for (index, part) in parts.enumerated() {
            let tree = part.tree
            if tree.nodeValue[Int(FlameTree.root)] > 0 { merged.add(tree.nodeValue[Int(FlameTree.root)], to: FlameTree.root) }
            for child in tree.children(of: FlameTree.root) {
                processes.append((part.order[child] ?? .max, index, child))
            }
        }
        processes.sort { ($0.sequence, $0.part, $0.node) < ($1.sequence, $1.part, $1.node) }
        for process in processes {
            let tree = parts[process.part].tree, names = nameMappings[process.part]
            // Within a part, node indexes follow creation, so children keep their first-seen order.
            for node in subtrees[process.part].nodes(of: process.node) {
                let index = Int(node)
                let target = node == process.node
                    ? merged.copyProcessNode(node, of: tree, name: names[Int(tree.nodeName[index])])
                    : merged.child(of: mappings[process.part][Int(tree.nodeParent[index])], name: names[Int(tree.nodeName[index])],
                                   kind: tree.nodeKind[index])
                mappings[process.part][index] = target
                let value = tree.nodeValue[index]
                if value > 0 { merged.add(value, to: target) }
            }
        }
        return merged
    }
}

/// The nodes of a tree grouped by the process (child of the root) they are under, each
/// group in node order, the process node first.
private struct ProcessSubtrees {
    /// Every node but the root, grouped by process.
    private var order: [Int32] = []
    /// Where the group of each process node starts in `order`, and its size (by node).
    private var start: [Int32], size: [Int32]

    init(_ tree: FlameTree) {
        let count = tree.nodeCount
        start = [Int32](repeating: 0, count: count)
        size = [Int32](repeating: 0, count: count)
        guard count > 1 else { return }
        var process = [Int32](repeating: FlameTree.root, count: count)
        for node in 1..<count {
            let parent = tree.nodeParent[node]
            process[node] = parent == FlameTree.root ? Int32(node) : process[Int(parent)]
            size[Int(process[node])] += 1
        }
        var next = start, offset: Int32 = 0
        for top in tree.children(of: FlameTree.root) {
            start[Int(top)] = offset
            next[Int(top)] = offset
            offset += size[Int(top)]
        }
        order = [Int32](repeating: 0, count: Int(offset))
        for node in 1..<count {
            let top = Int(process[node])
            order[Int(next[top])] = Int32(node)
            next[top] += 1
        }
    }

    /// The nodes under process node `top`, `top` itself first.
    func nodes(of top: Int32) -> ArraySlice<Int32> {
        let from = Int(start[Int(top)])
        return order[from..<(from + Int(size[Int(top)]))]
    }
}
