import Dispatch
import FlameGraph
import FlamedSystem
import PerfData
import Symbolizer
import Synchronization

/// A record that changes what a process is (maps, names, forks, exits) or what kernel code
/// exists. Every symbolizer of a report applies all of them, in reading order.
enum ProcessRecord: Sendable {
    case mmap(MmapRecord)
    case comm(CommRecord)
    case fork(TaskRecord)
    case exit(TaskRecord)
    case ksymbol(KSymbolRecord)

    /// Whether the record changes what a thread is called (all that the reading thread of a
    /// parallel report needs, for `--comm`).
    var namesThreads: Bool {
        switch self {
        case .comm, .fork: return true
        case .mmap, .exit, .ksymbol: return false
        }
    }

    /// Applies the record to `symbolizer`, and forgets what `builder` kept for a thread
    /// renamed or created.
    func apply(to symbolizer: Symbolizer, builder: inout TreeBuilder) {
        switch self {
        case .mmap(let map):
            symbolizer.mmap(pid: map.pid, start: map.start, length: map.length, pageOffset: map.pageOffset,
                            filename: map.filename, buildID: map.buildID, isKernel: map.isKernel)
        case .comm(let comm):
            symbolizer.comm(pid: comm.pid, tid: comm.tid, name: comm.name)
            builder.forget(tid: comm.tid)
        case .fork(let task):
            symbolizer.fork(pid: task.pid, parentPID: task.parentPID, tid: task.tid, parentTID: task.parentTID)
            builder.forget(tid: task.tid)
        case .exit(let task):
            symbolizer.exit(pid: task.pid, tid: task.tid)
        case .ksymbol(let symbol):
            symbolizer.ksymbol(address: symbol.address, length: symbol.length, name: symbol.name, unregister: symbol.isUnregister)
        }
    }
}

/// Records for a `ReportWorker`, in the order the reader delivered them: the samples of the
/// processes assigned to the worker (their callchains copied out of the input) and every
/// process record.
struct ReportBatch: Sendable {
    enum Item: Sendable {
        /// A sample; its callchain is `entries[start..<start+count]`, or none when count < 0.
        case sample(pid: Int32, tid: Int32, time: UInt64, ip: UInt64, cpumode: UInt16,
                    start: Int, count: Int, weight: UInt64, sequence: UInt64)
        case process(ProcessRecord)
    }

    /// Most items and callchain entries in a batch: both arrays stay under glibc's mmap
    /// threshold, so their memory is reused from batch to batch instead of being mapped
    /// and faulted in afresh.
    static let itemCapacity = 512, entryCapacity = 4096

    var items: [Item] = []
    var entries: [UInt64] = []
    /// The reader's symbolizer's `recordedOnRunningKernel` when the batch was sent.
    var recordedOnRunningKernel = false

    init() {
        items.reserveCapacity(Self.itemCapacity)
        entries.reserveCapacity(Self.entryCapacity)
    }

    /// Whether the batch is large enough to send.
    var isFull: Bool { items.count >= Self.itemCapacity || entries.count >= Self.entryCapacity - 128 }

    mutating func append(_ sample: BorrowedSample, weight: UInt64, sequence: UInt64) {
        let start = entries.count
        var count = -1
        if let chain = sample.callchain {
            count = chain.count
            chain.append(to: &entries)
        }
        items.append(.sample(pid: sample.pid, tid: sample.tid, time: sample.time, ip: sample.ip, cpumode: sample.cpumode,
                             start: start, count: count, weight: weight, sequence: sequence))
    }
}

/// One of the two symbolizing threads of a large report (the reading thread only reads and
/// hands out samples). It builds the tree of the processes assigned to it with a
/// symbolizer and tree builder of its own (symbol tables are shared through the report's
/// `SymbolCache`). Its state is touched only on its queue, and by the caller after `finish`.
final class ReportWorker: @unchecked Sendable {
    private let symbolizer: Symbolizer
    private var builder: TreeBuilder
    private let queue = DispatchQueue(label: "flamed.report.worker")
    /// Batches sent and not yet applied, at most: the reader waits rather than queueing
    /// more when the worker falls behind, so memory stays bounded.
    private let inFlight = DispatchSemaphore(value: 3)
    private var samples = 0

    init(symbolizer: Symbolizer, maxStack: Int) {
        self.symbolizer = symbolizer
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack)
        builder.recordsProcessOrder = true
        builder.defersNaming = true
        builder.cachesStacks = false
    }

    /// Queues `batch`; waits while the worker has several batches still to apply.
    func submit(_ batch: ReportBatch) {
        inFlight.wait()
        queue.async {
            self.apply(batch)
            self.inFlight.signal()
        }
    }

    /// What a worker built: its tree, the first-sample sequence of each of its process
    /// nodes, and what its placeholder names stand for.
    struct Result: Sendable {
        var tree: FlameTree
        var order: [Int32: UInt64]
        var names: [(name: Int32, frame: FrameName)]
    }

    /// Waits for every batch sent and returns what the worker built.
    func finish() -> Result {
        queue.sync {
            Result(tree: builder.tree, order: builder.processNodeSequence,
                   names: builder.deferredNames.map { ($0.name, symbolizer.deferredName(of: $0.frame)) })
        }
    }

    private func apply(_ batch: ReportBatch) {
        symbolizer.recordedOnRunningKernel = batch.recordedOnRunningKernel
        for item in batch.items {
            switch item {
            case let .sample(pid, tid, time, ip, cpumode, start, count, weight, sequence):
                samples += 1
                ReportBuilder.boundFilePages(symbolizer, samples: samples)
                builder.sampleSequence = sequence
                builder.add(pid: pid, tid: tid, time: time, ip: ip, cpumode: cpumode,
                            entries: count >= 0 ? batch.entries[start..<(start + count)] : nil, weight: weight)
            case .process(let record):
                record.apply(to: symbolizer, builder: &builder)
            }
        }
    }
}

/// Merging the trees of builders that took disjoint sets of processes.
enum TreeMerge {
    /// The names of the workers' trees, placeholders replaced: what the workers knew, and
    /// the rest read and demangled on `threads` threads at once.
    static func names(of results: [ReportWorker.Result], threads: Int) -> [[String]] {
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
    static func merge(_ parts: [(tree: FlameTree, order: [Int32: UInt64])], names: [[String]]? = nil) -> FlameTree {
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
                let parent = node == process.node ? FlameTree.root : mappings[process.part][Int(tree.nodeParent[index])]
                let target = merged.child(of: parent, name: names[Int(tree.nodeName[index])], kind: tree.nodeKind[index])
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
