import FlameGraph
import FlamedCollections
import PerfData
import Symbolizer

/// Folds symbolized samples into a flame tree, with the caches that make it fast: frame
/// names interned once, each process's callchain entries resolved once (to a tree name
/// and kind), whole stacks seen before (`StackCache`, optional), and for each thread the
/// path of its previous sample, whose root side is usually shared with the next sample and
/// need not be walked again.
public struct TreeBuilder {
    public private(set) var tree = FlameTree()
    private let symbolizer: Symbolizer
    private let maxStack: Int
    /// Tree name of each symbolizer frame named so far (frame ids are sparse: a table's
    /// range of ids is as long as its symbol count).
    private var frameNames = IntMap(capacity: 256)
    /// Each thread's process node and the pid it was made for.
    private var processNodes: [Int32: (pid: Int32, node: Int32)] = [:]
    private var chain: [UInt64] = []
    private var modes: [UInt8] = []
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
    /// The tree name and kind of each raw callchain entry, for the process whose samples
    /// came last and (in `otherFrameCaches`) for others: one probe per frame instead of a
    /// symbolizer lookup and a name lookup.
    private var frameCache = FrameCache(pid: -1, generation: 0)
    private var otherFrameCaches: [Int32: FrameCache] = [:]
    /// Entries kept in all frame caches together (16 to 32 bytes each); past it they are
    /// all emptied (they only save work: nothing is lost).
    public var frameCacheCapacity = 1 << 18
    private var frameCacheEntries = 0
    /// The caller's number for the sample being added (a report numbers every sample it
    /// keeps). With `recordsProcessOrder`, it is kept for each process node when the node is
    /// made, so that trees built in parallel merge with their processes in first-seen order.
    public var sampleSequence: UInt64 = 0
    public var recordsProcessOrder = false
    /// The `sampleSequence` of the sample that made each process node, by node.
    public private(set) var processNodeSequence: [Int32: UInt64] = [:]
    /// Live modes: what follows `comm (pid)` in a process's node name, for example
    /// ` [container 1a2b3c4d5e6f]`; nil or "" for nothing.
    public var processLabel: ((Int32) -> String?)?

    /// The previous sample's raw callchain of a thread (leaf first) and the tree node
    /// reached after each entry, walking from the root.
    private struct ThreadPath {
        var processNode: Int32 = 0
        var generation: UInt64 = 0
        var chain: [UInt64] = []
        var nodes: [Int32] = []
    }

    /// Forgets thread `tid`'s previous path; its slot is used again.
    private mutating func dropPath(_ tid: Int32) {
        guard let slot = pathSlots.removeValue(forKey: tid) else { return }
        freePathSlots.append(slot)
    }

    /// Remembers `chain` and `nodes` as thread `tid`'s previous path, in place.
    private mutating func keepPath(_ tid: Int32, processNode: Int32, generation: UInt64) {
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
        paths[slot].chain.removeAll(keepingCapacity: true)
        paths[slot].chain.append(contentsOf: chain)
        paths[slot].nodes.removeAll(keepingCapacity: true)
        paths[slot].nodes.append(contentsOf: nodes)
    }

    /// One process's resolved callchain entries, valid while its symbolizer generation
    /// stays the same. Keys: user addresses as they are (exact IPs) or with bit 63 set
    /// (return addresses), kernel lookup addresses as they are; values: name << 2 | kind.
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

    /// The cache key of a callchain entry, or nil for an address no key can tell apart
    /// (non-canonical user addresses, kernel-context entries below the kernel's range).
    @inline(__always)
    private static func frameKey(_ address: UInt64, kernel: Bool, isReturn: Bool) -> UInt64? {
        if kernel {
            let lookup = isReturn ? address &- 1 : address
            return lookup >= 0xffff_0000_0000_0000 ? lookup : nil
        }
        guard address < 1 << 62 else { return nil }
        return isReturn ? address | 1 << 63 : address
    }

    /// The tree name and kind of one callchain entry (or a sample's IP) of `pid`, through
    /// its frame cache, which `selectFrameCache` must have made current. `files`, from
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

    /// Per-entry classification of a raw callchain.
    private enum Mode {
        static let marker: UInt8 = 1
        static let kernel: UInt8 = 2
        static let exact: UInt8 = 4
    }

    /// A builder that adds to `tree` (a new one by default), resolving through `symbolizer`.
    public init(symbolizer: Symbolizer, maxStack: Int, tree: FlameTree = FlameTree()) {
        self.symbolizer = symbolizer
        self.maxStack = max(maxStack, 1)
        self.tree = tree
        unknownName = self.tree.intern("[unknown]")
    }

    /// Reports on several threads: frames get placeholder names, one per frame, listed in
    /// `deferredNames`, and are named once the tree is built (see `ReportBuilder`), when all
    /// CPUs can share the reading and demangling. Frames of equal names under one parent
    /// are then separate nodes until the tree is merged by name.
    public var defersNaming = false
    /// Each placeholder name of the tree and the frame it stands for.
    public private(set) var deferredNames: [(name: Int32, frame: Int32)] = []

    /// The tree name of a symbolizer frame.
    private mutating func treeName(_ frame: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: frame))
        if let known = frameNames[key] { return known }
        let name: Int32
        if frame <= Symbolizer.unknownKernel {
            name = unknownName
        } else if defersNaming {
            name = tree.addUninternedName("")
            deferredNames.append((name, frame))
        } else {
            name = tree.intern(symbolizer.name(of: frame))
        }
        frameNames.set(key, name)
        return name
    }

    /// The `comm (pid)` node of a thread, as named now (pid 0 is plain `swapper`), with the
    /// process's label after it.
    mutating func processNode(pid: Int32, tid: Int32) -> Int32 {
        if let cached = processNodes[tid], cached.pid == pid { return cached.node }
        let comm = symbolizer.threadName(pid: pid, tid: tid)
        let node: Int32
        if pid == 0 {
            let name = tree.intern(comm)
            node = tree.child(of: FlameTree.root, name: name, kind: .kernel)
        } else {
            let name = tree.intern("\(comm) (\(pid))" + (processLabel?(pid) ?? ""))
            node = tree.child(of: FlameTree.root, name: name, kind: .user)
        }
        if recordsProcessOrder && processNodeSequence[node] == nil { processNodeSequence[node] = sampleSequence }
        processNodes[tid] = (pid, node)
        return node
    }

    /// Forgets a thread's process node after it was renamed or created.
    public mutating func forget(tid: Int32) {
        processNodes[tid] = nil
        dropPath(tid)
    }

    /// Adds one sample with `weight` and returns the node it ended on.
    @discardableResult
    public mutating func add(_ sample: Sample, weight: UInt64) -> Int32 {
        if let raw = sample.callchain { raw.copy(into: &chain) }
        return addCopied(pid: sample.pid, tid: sample.tid, time: sample.time, ip: sample.ip, cpumode: sample.cpumode,
                         hasCallchain: sample.callchain != nil, weight: weight)
    }

    /// Adds one sample lent by the perf.data reader with `weight` and returns the node it ended on.
    @discardableResult
    public mutating func add(_ sample: BorrowedSample, weight: UInt64) -> Int32 {
        if let raw = sample.callchain { raw.copy(into: &chain) }
        return addCopied(pid: sample.pid, tid: sample.tid, time: sample.time, ip: sample.ip, cpumode: sample.cpumode,
                         hasCallchain: sample.callchain != nil, weight: weight)
    }

    /// Adds one sample given by its fields, with its raw callchain `entries` (leaf first,
    /// context markers included; nil without a callchain), and returns the node it ended on.
    @discardableResult
    public mutating func add(pid: Int32, tid: Int32, time: UInt64, ip: UInt64, cpumode: UInt16,
                             entries: ArraySlice<UInt64>?, weight: UInt64) -> Int32 {
        if let entries {
            chain.removeAll(keepingCapacity: true)
            chain.append(contentsOf: entries)
        }
        return addCopied(pid: pid, tid: tid, time: time, ip: ip, cpumode: cpumode, hasCallchain: entries != nil, weight: weight)
    }

    /// `add` once the callchain, if any, is in `chain`.
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

    private mutating func addCopied(pid: Int32, tid: Int32, time: UInt64, ip: UInt64, cpumode: UInt16,
                                    hasCallchain: Bool, weight: UInt64) -> Int32 {
        symbolizer.sampleTime = time
        let processNode = processNode(pid: pid, tid: tid)
        selectContext(pid: pid)
        let generation = context.generation
        guard hasCallchain else {
            let inKernel = cpumode == RecordMisc.kernel || cpumode == RecordMisc.guestKernel
            selectFrameCache(pid: pid, generation: generation)
            let files = context.files
            let (name, kind) = entryName(pid: pid, address: ip, isKernel: inKernel, isReturn: false, files: files)
            let leaf = tree.child(of: processNode, name: name, kind: kind)
            tree.add(weight, to: leaf)
            return leaf
        }
        guard cachesStacks else {
            let leaf = walk(pid: pid, tid: tid, processNode: processNode, generation: generation)
            tree.add(weight, to: leaf)
            return leaf
        }
        let hash = StackCache.hash(processNode: processNode, generation: generation, chain: chain)
        if let leaf = stacks.leaf(hash: hash, processNode: processNode, generation: generation, chain: chain) {
            tree.add(weight, to: leaf)
            return leaf
        }
        let leaf = walk(pid: pid, tid: tid, processNode: processNode, generation: generation)
        stacks.insert(hash: hash, processNode: processNode, generation: generation, chain: chain, leaf: leaf)
        tree.add(weight, to: leaf)
        return leaf
    }

    /// Walks `chain` (leaf first) from the root and returns the leaf node. Context markers
    /// switch between kernel and user; any marker perf does not know means a corrupt chain,
    /// which perf discards whole (the sample stays on its process). At most `maxStack`
    /// frames nearest the leaf are used.
    private mutating func walk(pid: Int32, tid: Int32, processNode: Int32, generation: UInt64) -> Int32 {
        modes.removeAll(keepingCapacity: true)
        var inKernel = false, exact = true, frames = 0, usable = chain.count
        for (index, entry) in chain.enumerated() {
            if frames >= maxStack {
                usable = index
                break
            }
            if entry >= CallchainContext.max {
                guard entry == CallchainContext.kernel || entry == CallchainContext.user || entry == CallchainContext.hypervisor else {
                    dropPath(tid)
                    return processNode
                }
                inKernel = entry == CallchainContext.kernel
                exact = true
                modes.append(Mode.marker)
                continue
            }
            modes.append((inKernel ? Mode.kernel : 0) | (exact ? Mode.exact : 0))
            exact = false
            frames += 1
        }
        // Reuse the root side this thread's previous sample shared with this one. The
        // leaf-most shared entry is resolved again: whether it is an exact IP depends on
        // the entry next to it, which differs.
        var shared = 0
        var node = processNode
        nodes.removeAll(keepingCapacity: true)
        nodes.append(contentsOf: repeatElement(processNode, count: usable))
        if usable == chain.count, let slot = pathSlots[tid], paths[slot].processNode == processNode, paths[slot].generation == generation {
            paths[slot].chain.withUnsafeBufferPointer { lastChain in
                let limit = min(lastChain.count, chain.count)
                while shared < limit && lastChain[lastChain.count - 1 - shared] == chain[chain.count - 1 - shared] { shared += 1 }
            }
            shared = max(shared - 1, 0)
            let offset = paths[slot].chain.count - usable
            paths[slot].nodes.withUnsafeBufferPointer { lastNodes in
                for index in (usable - shared)..<usable { nodes[index] = lastNodes[index + offset] }
            }
            if shared > 0 { node = nodes[usable - shared] }
        }
        selectFrameCache(pid: pid, generation: generation)
        let files = context.files
        var index = usable - 1 - shared
        while index >= 0 {
            let mode = modes[index]
            if mode & Mode.marker == 0 {
                let (name, kind) = entryName(pid: pid, address: chain[index], isKernel: mode & Mode.kernel != 0,
                                             isReturn: mode & Mode.exact == 0, files: files)
                node = tree.child(of: node, name: name, kind: kind)
            }
            nodes[index] = node
            index -= 1
        }
        if usable == chain.count {
            keepPath(tid, processNode: processNode, generation: generation)
        } else {
            dropPath(tid)
        }
        return node
    }
}
