import FlameGraph
import FlamedCollections
import PerfData
import Symbolizer

/// What a sample weighs in the tree.
public enum WeightPolicy: Sendable {
    /// Each sample counts one.
    case samples
    /// Each sample counts its period (`--weight period`).
    case period

    /// The weight of `sample`.
    @inline(__always)
    public func weight(of sample: Sample) -> UInt64 {
        switch self {
        case .samples: return 1
        case .period: return sample.period
        }
    }

    /// What the node values count, as the context header shows it.
    public var unit: String {
        switch self {
        case .samples: return "samples"
        case .period: return "period"
        }
    }
}

/// How the aggregator names the frames it adds.
public enum FrameNaming: Sendable {
    /// Each frame is named as it is first added (live profiles, whose tree lives on).
    case immediate
    /// Frames get placeholder names, listed in `StackAggregator.deferredNames`, and are named
    /// once the tree is built (`TreeNaming`), on every CPU.
    case deferred
}

/// Folds stacks into a flame tree (`all` → process → frames root to leaf), with the caches
/// that make it fast: frame names interned once, each process's frames resolved once (to a
/// tree name and kind), whole stacks seen before (`StackCache`, optional), and for each
/// thread the path of its previous sample, whose root side is usually shared with the next
/// sample and need not be walked again.
public struct StackAggregator {
    public private(set) var tree = FlameTree()
    let symbolizer: Symbolizer
    private let weight: WeightPolicy
    private let naming: FrameNaming
    /// Tree name of each symbolizer frame named so far (frame ids are sparse: a table's
    /// range of ids is as long as its symbol count).
    private var frameNames = IntMap(capacity: 256)
    /// Each thread's process node and the pid it was made for.
    private var processNodes: [Int32: (pid: Int32, node: Int32)] = [:]
    private var nodes: [Int32] = []
    /// Each thread's previous path, by slot: buffers are reused from sample to sample.
    private var pathSlots: [Int32: Int] = [:]
    private var paths: [ThreadPath] = []
    private var freePathSlots: [Int] = []
    private let unknownName: Int32
    /// Whether whole stacks seen before are remembered (`StackCache`, up to 2 MiB): live
    /// profiles, which see the same stacks again and again for months, keep it; reports on
    /// several threads, where it saved about 3% of CPU for its memory, do not.
    public var cachesStacks = true
    private var stacks = StackCache()
    /// The tree name and kind of each frame, for the process whose samples came last and
    /// (in `otherFrameCaches`) for others: one probe per frame instead of a symbolizer
    /// lookup and a name lookup.
    private var frameCache = FrameCache(pid: -1, generation: 0)
    private var otherFrameCaches: [Int32: FrameCache] = [:]
    /// Entries kept in all frame caches together (16 to 32 bytes each); past it they are
    /// all emptied (they only save work: nothing is lost).
    public var frameCacheCapacity = 1 << 18
    private var frameCacheEntries = 0
    /// The caller's number for the sample being added (a report numbers every sample it
    /// keeps). It is kept for each process node when the node is made, so that trees built
    /// in parallel merge with their processes in first-seen order.
    public var sampleSequence: UInt64 = 0
    /// The `sampleSequence` of the sample that made each process node, by node.
    public private(set) var processNodeSequence: [Int32: UInt64] = [:]
    /// Each placeholder name of the tree and the frame it stands for (`FrameNaming.deferred`).
    public private(set) var deferredNames: [(name: Int32, frame: Int32)] = []

    /// The previous sample's frames of a thread (leaf first) and the tree node reached
    /// after each, walking from the root.
    private struct ThreadPath {
        var processNode: Int32 = 0
        var generation: UInt64 = 0
        var addresses: [UInt64] = []
        var modes: [UInt8] = []
        var nodes: [Int32] = []
    }

    /// An aggregator that adds to `tree` (a new one by default), resolving through
    /// `symbolizer`, weighting samples by `weight`.
    public init(symbolizer: Symbolizer, weight: WeightPolicy = .samples, naming: FrameNaming, tree: FlameTree = FlameTree()) {
        self.symbolizer = symbolizer
        self.weight = weight
        self.naming = naming
        self.tree = tree
        unknownName = self.tree.intern("[unknown]")
    }

    /// Forgets thread `tid`'s previous path; its slot is used again.
    private mutating func dropPath(_ tid: Int32) {
        guard let slot = pathSlots.removeValue(forKey: tid) else { return }
        freePathSlots.append(slot)
    }

    /// Remembers `stack` and `nodes` as thread `tid`'s previous path, in place.
    private mutating func keepPath(_ tid: Int32, stack: Stack, processNode: Int32, generation: UInt64) {
        let slot: Int
        if let existing = pathSlots[tid] {
            slot = existing
        } else if let free = freePathSlots.popLast() {
            slot = free
            pathSlots[tid] = slot
        } else {
            slot = paths.count
            paths.append(ThreadPath())
            pathSlots[tid] = slot
        }
        paths[slot].processNode = processNode
        paths[slot].generation = generation
        paths[slot].addresses.removeAll(keepingCapacity: true)
        paths[slot].addresses.append(contentsOf: stack.addresses)
        paths[slot].modes.removeAll(keepingCapacity: true)
        paths[slot].modes.append(contentsOf: stack.modes)
        paths[slot].nodes.removeAll(keepingCapacity: true)
        paths[slot].nodes.append(contentsOf: nodes)
    }

    /// One process's resolved frames, valid while its symbolizer generation stays the same.
    /// Keys: user addresses as they are (exact IPs) or with bit 63 set (return addresses),
    /// kernel lookup addresses as they are; values: name << 2 | kind.
    private struct FrameCache {
        var pid: Int32
        var generation: UInt64
        var map = IntMap(capacity: 256)
    }

    /// Makes `frameCache` the one of `pid` at `generation`.
    private mutating func selectFrameCache(pid: Int32, generation: UInt64) {
        if frameCache.pid != pid {
            if frameCache.pid >= 0 { otherFrameCaches[frameCache.pid] = frameCache }
            frameCache = otherFrameCaches.removeValue(forKey: pid) ?? FrameCache(pid: pid, generation: generation)
        }
        if frameCache.generation != generation {
            frameCacheEntries -= frameCache.map.count
            frameCache.map.removeAll()
            frameCache.generation = generation
        }
        if frameCacheEntries > frameCacheCapacity || otherFrameCaches.count > 256 {
            otherFrameCaches.removeAll()
            frameCache.map = IntMap(capacity: 256)
            frameCacheEntries = 0
        }
    }

    /// The cache key of a frame, or nil for an address no key can tell apart (non-canonical
    /// user addresses, kernel-context entries below the kernel's range).
    @inline(__always)
    private static func frameKey(_ address: UInt64, kernel: Bool, isReturn: Bool) -> UInt64? {
        if kernel {
            let lookup = isReturn ? address &- 1 : address
            return lookup >= 0xffff_0000_0000_0000 ? lookup : nil
        }
        guard address < 1 << 62 else { return nil }
        return isReturn ? address | 1 << 63 : address
    }

    /// The tree name and kind of one frame of `pid`, through its frame cache, which
    /// `selectFrameCache` must have made current. `files`, from
    /// `Symbolizer.fileRanges(pid:)`, tells stack garbage apart without a probe.
    @inline(__always)
    private mutating func entryName(pid: Int32, address: UInt64, isKernel: Bool, isReturn: Bool,
                                    files: FileRanges?) -> (name: Int32, kind: FrameKind) {
        if !isKernel, let files, !files.contains(address), !isReturn || !files.contains(address &- 1) {
            return (unknownName, .user)
        }
        let key = Self.frameKey(address, kernel: isKernel, isReturn: isReturn)
        if let key, let packed = frameCache.map[key] {
            return (packed >> 2, FrameKind(rawValue: UInt8(packed & 3)) ?? .user)
        }
        let frame = isKernel
            ? symbolizer.resolveKernel(address: address, isReturnAddress: isReturn)
            : symbolizer.resolveUser(pid: pid, address: address, isReturnAddress: isReturn)
        let kind: FrameKind = isKernel ? .kernel : (symbolizer.isJIT(frame) ? .jit : .user)
        let name = treeName(frame)
        if let key, name < 1 << 29 {
            frameCache.map.set(key, name << 2 | Int32(kind.rawValue))
            frameCacheEntries += 1
        }
        return (name, kind)
    }

    /// The tree name of a symbolizer frame.
    private mutating func treeName(_ frame: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: frame))
        if let known = frameNames[key] { return known }
        let name: Int32
        if frame <= Symbolizer.unknownKernel {
            name = unknownName
        } else {
            switch naming {
            case .deferred:
                name = tree.addUninternedName("")
                deferredNames.append((name, frame))
            case .immediate:
                name = tree.intern(symbolizer.name(of: frame))
            }
        }
        frameNames.set(key, name)
        return name
    }

    /// The process node of thread `tid` of `pid`, made from `identity` when the thread is
    /// first seen (or after it was renamed or created).
    public mutating func processNode(pid: Int32, tid: Int32, identity: () -> ProcessIdentity) -> Int32 {
        if let cached = processNodes[tid], cached.pid == pid { return cached.node }
        let node = tree.processNode(identity())
        if processNodeSequence[node] == nil { processNodeSequence[node] = sampleSequence }
        processNodes[tid] = (pid, node)
        return node
    }

    /// Forgets what was kept for a thread renamed, created or gone.
    public mutating func forget(tid: Int32) {
        processNodes[tid] = nil
        dropPath(tid)
    }

    /// The symbolizer's generation and file ranges of the process of the last sample, kept
    /// while the symbolizer's `changeCount` stays the same: most samples follow one of
    /// the same process.
    private struct ProcessContext {
        var pid: Int32?
        var changeCount: UInt64 = 0
        var generation: UInt64 = 0
        var files: FileRanges?
    }
    private var context = ProcessContext()

    /// Makes `context` the one of `pid`.
    private mutating func selectContext(pid: Int32) {
        if context.pid == pid && context.changeCount == symbolizer.changeCount { return }
        context.generation = symbolizer.generation(pid: pid)
        context.files = symbolizer.fileRanges(pid: pid)
        // A process waiting for its perf map asks the symbolizer again at every sample.
        context.pid = symbolizer.isAwaitingJIT(pid: pid) ? nil : pid
        context.changeCount = symbolizer.changeCount
    }

    /// Adds `sample`, whose frames are `stack` (nil when its stack was corrupt: the sample
    /// stays on its process), under process node `processNode`; returns the node it ended on.
    @discardableResult
    public mutating func add(_ sample: Sample, stack: Stack?, processNode: Int32) -> Int32 {
        symbolizer.sampleTime = sample.time
        let value = weight.weight(of: sample)
        guard let stack else {
            dropPath(sample.tid)
            tree.add(value, to: processNode)
            return processNode
        }
        selectContext(pid: sample.pid)
        let generation = context.generation
        guard cachesStacks else {
            let leaf = walk(stack, pid: sample.pid, tid: sample.tid, processNode: processNode, generation: generation)
            tree.add(value, to: leaf)
            return leaf
        }
        let hash = StackCache.hash(processNode: processNode, generation: generation, stack: stack)
        if let leaf = stacks.leaf(hash: hash, processNode: processNode, generation: generation, stack: stack) {
            tree.add(value, to: leaf)
            return leaf
        }
        let leaf = walk(stack, pid: sample.pid, tid: sample.tid, processNode: processNode, generation: generation)
        stacks.insert(hash: hash, processNode: processNode, generation: generation, stack: stack, leaf: leaf)
        tree.add(value, to: leaf)
        return leaf
    }

    /// Walks `stack` (leaf first) from `processNode` and returns the leaf node, reusing the
    /// root side this thread's previous sample shared with this one.
    private mutating func walk(_ stack: Stack, pid: Int32, tid: Int32, processNode: Int32, generation: UInt64) -> Int32 {
        let count = stack.addresses.count
        var shared = 0
        var node = processNode
        nodes.removeAll(keepingCapacity: true)
        nodes.append(contentsOf: repeatElement(processNode, count: count))
        if !stack.isTruncated, let slot = pathSlots[tid], paths[slot].processNode == processNode, paths[slot].generation == generation {
            let last = paths[slot]
            let limit = min(last.addresses.count, count)
            last.addresses.withUnsafeBufferPointer { lastAddresses in
                last.modes.withUnsafeBufferPointer { lastModes in
                    let lastCount = lastAddresses.count
                    while shared < limit && lastAddresses[lastCount - 1 - shared] == stack.addresses[count - 1 - shared]
                        && lastModes[lastCount - 1 - shared] == stack.modes[count - 1 - shared] {
                        shared += 1
                    }
                }
            }
            let offset = last.nodes.count - count
            for index in (count - shared)..<count { nodes[index] = last.nodes[index + offset] }
            if shared > 0 { node = nodes[count - shared] }
        }
        selectFrameCache(pid: pid, generation: generation)
        let files = context.files
        var index = count - 1 - shared
        while index >= 0 {
            let mode = stack.modes[index]
            let (name, kind) = entryName(pid: pid, address: stack.addresses[index], isKernel: mode & Stack.Mode.kernel != 0,
                                         isReturn: mode & Stack.Mode.isReturn != 0, files: files)
            node = tree.child(of: node, name: name, kind: kind)
            nodes[index] = node
            index -= 1
        }
        if stack.isTruncated {
            dropPath(tid)
        } else {
            keepPath(tid, stack: stack, processNode: processNode, generation: generation)
        }
        return node
    }
}
