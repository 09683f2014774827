import Demangling
import Dispatch
import FlamedCollections
import FlamedSystem
import Logging
import ProcText

/// Sorted, disjoint address ranges (see `Symbolizer.fileRanges(pid:)`).
public struct FileRanges: Sendable {
    @usableFromInline let starts: [UInt64]
    @usableFromInline let ends: [UInt64]

    /// No ranges.
    public static let none = FileRanges(starts: [], ends: [])

    /// Whether a range contains `address`.
    @inlinable
    public func contains(_ address: UInt64) -> Bool {
        starts.withUnsafeBufferPointer { starts in
            var low = 0, high = starts.count
            while low < high {
                let mid = (low &+ high) >> 1
                if starts[mid] <= address { low = mid &+ 1 } else { high = mid }
            }
            return low > 0 && address < ends[low &- 1]
        }
    }
}

/// Resolves sampled addresses to frame names, following processes through their
/// MMAP, COMM, FORK and EXIT records as perf does.
///
/// Frames are small integer ids; `name(of:)` gives their text. Id 0 is an unresolved user
/// frame and id 1 an unresolved kernel frame, both `[unknown]`.
public final class Symbolizer {
    /// Frame id of an unresolved user-space address.
    public static let unknownUser: Int32 = 0
    /// Frame id of an unresolved kernel address.
    public static let unknownKernel: Int32 = 1

    private let logger: Logger
    private let cacheDirectory: String
    /// Where the files come from.
    private let files: SymbolFileProvider
    private var kernel: KernelSymbols?
    /// Whether the kernel's symbols may still be read afresh (once, see `SymbolizerConfiguration.kernel`).
    private var mayReloadKernel: Bool
    private var kernelRelocation: UInt64 = 0
    private var kernelCache = IntMap(capacity: 256)
    private var dsos: [String: DSO] = [:]
    private var buildIDs: [String: [UInt8]] = [:]
    private var spaces: [Int32: AddressSpace] = [:] {
        didSet { lastSpace = nil }
    }
    /// The address space looked up last: a sample's frames all belong to one process.
    private var lastSpace: (pid: Int32, space: AddressSpace?)?
    private var comms: [Int32: String] = [:]
    /// Where loaded symbol tables come from and are kept (shared by symbolizers).
    let symbolCache: SymbolCache
    private var dynamicKernel: [(start: UInt64, end: UInt64, name: String, frame: Int32)] = []
    /// The frame id of symbol 0 of the kernel table in use.
    private var kernelFrameBase: Int32 = 2
    /// Frame ids handed out, and their names.
    private let frames: FrameNames
    /// Whether the recording was made on the running kernel, so that its `[vdso]` is ours.
    public var recordedOnRunningKernel = false
    /// The time of the sample being resolved (CLOCK_MONOTONIC ns, as live events are
    /// stamped), or 0. Perf maps are looked at again by it, so that a process with unnamed
    /// code costs no clock read per sample.
    public var sampleTime: UInt64 = 0
    private var nextGeneration: UInt32 = 1 { didSet { changeCount &+= 1 } }
    private var kernelGeneration: UInt32 = 0 { didSet { changeCount &+= 1 } }
    /// Changes whenever `generation(pid:)` or `fileRanges(pid:)` of any process may give
    /// something new, so that a caller may keep their answers for a process until it does.
    /// It does not cover a process `isAwaitingJIT`, whose perf map is looked at again on
    /// every `generation(pid:)`.
    public private(set) var changeCount: UInt64 = 0

    /// Creates a symbolizer set up by `configuration`.
    public init(_ configuration: SymbolizerConfiguration, logger: Logger) {
        kernel = configuration.kernel
        mayReloadKernel = configuration.kernel?.coverage != nil
        buildIDs = configuration.buildIDs
        cacheDirectory = configuration.buildIDCache
        files = configuration.files
        symbolCache = configuration.symbolCache
        frames = FrameNames(demangle: configuration.demangle)
        self.logger = logger
        if let kernel { useKernel(kernel) }
        comms[0] = "swapper"
    }

    /// Starts loading, on another thread, the symbols of files that perf recorded as hit
    /// by samples (the BUILD_ID list), so that they are ready, or nearly, when the first
    /// sample needs them. Each file is still loaded only once.
    public func prefetch(_ files: [String]) {
        var pending: [DSO] = []
        for filename in files where !filename.hasPrefix("[") || filename == "[vdso]" {
            let (dso, created) = dso(filename, recordedBuildID: nil)
            if created { pending.append(dso) }
        }
        guard !pending.isEmpty else { return }
        // More than the cache keeps would only evict what was loaded first.
        let cacheDirectory = self.cacheDirectory, files = self.files, logger = self.logger, queue = Array(pending.prefix(symbolCache.capacity))
        DispatchQueue.global().async {
            for dso in queue { dso.load(cacheDirectory: cacheDirectory, files: files, logger: logger) }
        }
    }

    // MARK: Process model

    /// Applies an MMAP/MMAP2 record. Kernel maps set the kernel relocation; user maps
    /// are added to the process's address space.
    public func mmap(pid: Int32, start: UInt64, length: UInt64, pageOffset: UInt64, filename: String,
                     buildID: [UInt8]?, isKernel: Bool, identity: MappingIdentity? = nil) {
        if isKernel {
            if filename.hasPrefix("[kernel.kallsyms]"), let text = kernel?.textAddress, pageOffset != 0 {
                kernelRelocation = text &- pageOffset
                kernelCache.removeAll()
                kernelGeneration &+= 1
            }
            return
        }
        let isAnonymous = filename.hasPrefix("//anon") || filename == "[heap]" || filename == "[stack]" || filename.isEmpty
            || filename.hasPrefix("/memfd:") || filename.hasPrefix("[anon")
        let dso = isAnonymous ? nil : dso(filename, recordedBuildID: buildID, identity: identity,
                                          pin: { [files] in files.heldFile(pid: pid, path: filename, start: start, end: start &+ length, identity: identity) }).dso
        space(pid).insert(Mapping(start: start, end: start &+ length, pageOffset: pageOffset, dso: dso), generation: nextGeneration)
        nextGeneration &+= 1
    }

    /// The one DSO for a file and build id (from the MMAP2 record, else the BUILD_ID list),
    /// created on first use.
    /// A DSO is also keyed by the mapping's device and inode, when known: the same path may be
    /// another file (replaced, or in another container). `pin` opens and holds it at once
    /// where the provider holds files.
    private func dso(_ filename: String, recordedBuildID: [UInt8]?, identity: MappingIdentity? = nil,
                     pin: (() -> PinnedFile?)? = nil) -> (dso: DSO, created: Bool) {
        var key = recordedBuildID.map { filename + "\u{0}" + $0.map { String($0) }.joined(separator: ",") } ?? filename
        if let identity { key += "\u{0}\(identity)" }
        if let existing = dsos[key] { return (existing, false) }
        let created = DSO(path: filename, expectedBuildID: recordedBuildID ?? buildIDs[filename], cache: symbolCache, pinned: pin?())
        dsos[key] = created
        return (created, true)
    }

    /// Applies a FORK record: the child thread takes the parent's name, and a new process
    /// gets a copy of the parent's address space.
    public func fork(pid: Int32, parentPID: Int32, tid: Int32, parentTID: Int32) {
        if let name = comms[parentTID] ?? comms[parentPID] { comms[tid] = name }
        if pid != parentPID, let parent = spaces[parentPID] {
            let copy = AddressSpace(copying: parent)
            copy.generation = nextGeneration
            copy.pid = pid
            nextGeneration &+= 1
            spaces[pid] = copy
        }
    }

    /// Applies a COMM record (prctl rename or exec).
    public func comm(pid: Int32, tid: Int32, name: String) {
        comms[tid] = name
    }

    /// Forgets an exited thread, or with `wholeProcess` an exited process: its name and
    /// (for a process) its address space. For long runs (the daemon), where a process's
    /// samples are folded into the tree before its EXIT record is applied.
    public func forget(pid: Int32, tid: Int32, wholeProcess: Bool) {
        guard pid > 0 else { return }
        comms[tid] = nil
        if wholeProcess {
            comms[pid] = nil
            spaces[pid] = nil
            changeCount &+= 1
        }
    }

    /// How much the symbolizer holds: address spaces, thread names, binaries and frame ids
    /// handed out. Long runs rebuild the symbolizer when these pass their caps.
    public var footprint: (spaces: Int, threads: Int, binaries: Int, frames: Int) {
        (spaces.count, comms.count, dsos.count, frames.count)
    }

    /// Applies a KSYMBOL record (BPF programs and other run-time kernel code).
    public func ksymbol(address: UInt64, length: UInt32, name: String, unregister: Bool) {
        dynamicKernel.removeAll { $0.start == address }
        kernelCache.removeAll()
        kernelGeneration &+= 1
        guard !unregister else { return }
        dynamicKernel.append((address, address &+ UInt64(length), name, frames.named(name)))
    }

    /// The name a thread has now: its last COMM, or perf's `:tid` when none was seen.
    public func threadName(pid: Int32, tid: Int32) -> String {
        if let name = comms[tid] { return name }
        return ":\(tid)"
    }

    /// A value that changes whenever what `pid`'s addresses resolve to may change (its
    /// maps, or the kernel's symbols): results cached under an older value are stale.
    public func generation(pid: Int32) -> UInt64 {
        let space = existingSpace(pid)
        if let space, space.awaitingJIT { refreshPerfMap(space) }
        return UInt64(space?.generation ?? 0) << 32 | UInt64(kernelGeneration)
    }

    /// Whether `pid` waits for its perf map to name an address (see `changeCount`).
    public func isAwaitingJIT(pid: Int32) -> Bool { existingSpace(pid)?.awaitingJIT ?? false }

    private func existingSpace(_ pid: Int32) -> AddressSpace? {
        if let last = lastSpace, last.pid == pid { return last.space }
        let space = spaces[pid]
        lastSpace = (pid, space)
        return space
    }

    private func space(_ pid: Int32) -> AddressSpace {
        if let existing = spaces[pid] { return existing }
        let created = AddressSpace()
        created.generation = nextGeneration
        created.pid = pid
        nextGeneration &+= 1
        spaces[pid] = created
        return created
    }

    /// Bounds resident memory in long runs: drops the resident pages of every mapped ELF
    /// file (they are read back from the page cache when a new name is needed).
    public func releaseResidentPages() {
        for dso in dsos.values { dso.releaseResidentPages() }
    }

    // MARK: Resolution

    /// Resolves a user-space address of process `pid`. Return addresses are looked up at
    /// `address - 1`, so a call at the very end of a function is charged to that function.
    /// When nothing contains `address - 1`, `address` itself is tried. Nothing is cached
    /// here: the tree builder keeps each process's answers (its frame cache).
    public func resolveUser(pid: Int32, address: UInt64, isReturnAddress: Bool) -> Int32 {
        guard let space = existingSpace(pid) else { return Self.unknownUser }
        // Once per sample (its IP), not for every return address: the perf map is looked at
        // no more often than `PerfMap.checkInterval`, and reading the clock for each frame
        // of a process with unnamed code costs more than the rest of its lookups.
        if space.awaitingJIT && !isReturnAddress { refreshPerfMap(space) }
        if isReturnAddress {
            var frame = resolve(in: space, address &- 1)
            if frame == Self.unknownUser || frames.isModuleFrame(frame) {
                // No symbol at address-1: a symbol at the address itself, else the file's
                // [basename] frame, is the best name.
                let exact = resolve(in: space, address)
                if exact != Self.unknownUser && !frames.isModuleFrame(exact) {
                    frame = exact
                } else if frame == Self.unknownUser {
                    frame = exact
                }
            }
            return frame
        }
        return resolve(in: space, address)
    }

    /// The address ranges outside which `resolveUser` gives `unknownUser` for process
    /// `pid` (for a return address, when `address - 1` lies outside them too), or nil when
    /// that cannot be told without a lookup: the ranges of its mapped files, when it has no
    /// JIT names to offer (no perf map, or one read once and empty while perf maps are not
    /// read again). Most entries of callchains walked without frame pointers are stack
    /// garbage outside them; callers skip their caches for those. Valid while
    /// `generation(pid:)` stays the same.
    public func fileRanges(pid: Int32) -> FileRanges? {
        guard let space = existingSpace(pid) else { return FileRanges(starts: [], ends: []) }
        guard !space.awaitingJIT, let map = space.perfMap,
              map.path == nil || (!files.rereadsPerfMaps && map.wasRead && map.count == 0) else { return nil }
        if let ranges = space.fileRanges { return ranges }
        guard space.maps.count <= AddressSpace.fileRangesLimit else { return nil }
        var starts: [UInt64] = [], ends: [UInt64] = []
        space.maps.forEach { mapping in
            guard mapping.dso != nil else { return }
            if let last = ends.last, last == mapping.start {
                ends[ends.count - 1] = mapping.end
            } else {
                starts.append(mapping.start)
                ends.append(mapping.end)
            }
        }
        let ranges = FileRanges(starts: starts, ends: ends)
        space.fileRanges = ranges
        return ranges
    }

    /// The frame of `lookup` in `space`.
    private func resolve(in space: AddressSpace, _ lookup: UInt64) -> Int32 {
        var frame = Self.unknownUser
        if let mapping = space.find(lookup), let dso = mapping.dso {
            let symbols = dso.load(cacheDirectory: cacheDirectory, files: files, logger: logger, runningVDSO: recordedOnRunningKernel)
            let fileOffset = lookup &- mapping.start &+ mapping.pageOffset
            if let virtual = symbols.virtualAddress(fileOffset: fileOffset), let index = symbols.find(virtual) {
                frame = frames.base(of: symbols, in: dso) + Int32(index)
            } else {
                frame = frames.moduleFrame(of: dso)
            }
        } else if let jit = jitFrame(in: space, lookup) {
            frame = jit
        }
        return frame
    }

    // MARK: JIT perf maps

    /// Whether `frame` is JIT code named from a perf map.
    public func isJIT(_ frame: Int32) -> Bool { frames.isJIT(frame) }

    /// The frame of `address` (in anonymous memory or no mapping) from the process's perf
    /// map, read on first need and again when it has grown.
    private func jitFrame(in space: AddressSpace, _ address: UInt64) -> Int32? {
        if space.perfMap == nil {
            space.perfMap = PerfMap(path: files.perfMapPath(pid: space.pid))
            changeCount &+= 1
        }
        guard let map = space.perfMap, map.path != nil else { return nil }
        refreshPerfMap(space)
        if let frame = map.find(address) { return frame }
        space.awaitingJIT = files.rereadsPerfMaps
        changeCount &+= 1
        return nil
    }

    /// Reads what is new in the perf map; when entries changed, earlier resolutions of the
    /// process are stale.
    private func refreshPerfMap(_ space: AddressSpace) {
        let now = sampleTime != 0 ? sampleTime : MonotonicClock.now
        if space.nextPerfMapLook > now && space.perfMap != nil { return }
        space.nextPerfMapLook = now &+ PerfMap.checkInterval
        changeCount &+= 1
        guard let map = space.perfMap, map.refresh(now: now, files: files, intern: frames.jitFrame(named:)) else { return }
        space.generation = nextGeneration
        nextGeneration &+= 1
        space.awaitingJIT = false
    }

    /// Resolves a kernel address through kallsyms and KSYMBOL records.
    public func resolveKernel(address: UInt64, isReturnAddress: Bool) -> Int32 {
        let lookup = isReturnAddress ? address &- 1 : address
        if let cached = kernelCache[lookup] { return cached }
        var frame = Self.unknownKernel
        if let dynamic = dynamicKernel.first(where: { lookup >= $0.start && lookup < $0.end }) {
            frame = dynamic.frame
        } else if let kernel {
            let relocated = lookup &+ kernelRelocation
            if !kernel.covers(relocated), mayReloadKernel {
                mayReloadKernel = false
                if let fresh = files.freshKernelSymbols(logger: logger), fresh.table.count > 0 {
                    logger.debug("kernel symbols read again", metadata: ["address": "\(String(relocated, radix: 16))"])
                    useKernel(fresh)
                    return resolveKernel(address: address, isReturnAddress: isReturnAddress)
                }
            }
            if let index = self.kernel?.table.find(relocated) { frame = kernelFrameBase + Int32(index) }
        }
        kernelCache.set(lookup, frame)
        return frame
    }

    /// Makes `symbols` the kernel's table, with frame ids of its own: frames handed out from
    /// an earlier table keep their names.
    private func useKernel(_ symbols: KernelSymbols) {
        kernel = symbols
        kernelFrameBase = frames.base(ofKernelTable: symbols.table)
        kernelCache.removeAll()
        kernelGeneration &+= 1
    }

    /// The display name of `frame`: C++, Rust and Swift names demangled as configured.
    public func name(of frame: Int32) -> String {
        frames.name(of: frame) { [self] dso in
            dso.load(cacheDirectory: cacheDirectory, files: files, logger: logger, runningVDSO: recordedOnRunningKernel)
        }
    }

    /// The name of `frame` as far as this thread must go: known, or a symbol whose name any
    /// thread can read and demangle (`PendingName.resolve`), which is most of the cost of
    /// naming. A report names its frames once the tree is built, on every CPU.
    public func deferredName(of frame: Int32) -> FrameName {
        frames.deferredName(of: frame) { [self] dso in
            dso.load(cacheDirectory: cacheDirectory, files: files, logger: logger, runningVDSO: recordedOnRunningKernel)
        }
    }
}

