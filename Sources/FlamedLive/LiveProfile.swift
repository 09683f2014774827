import Demangling
import FlameGraph
import FlameRender
import FlamedPipeline
import FlamedSystem
import Logging
import PerfData
import ProcText
import Symbolizer

/// Live records folded into a flame tree through the same pipeline `flamed report` drives:
/// the process model follows the processes (seeded from /proc, then kept current by MMAP2,
/// COMM, FORK and EXIT records) and each sample becomes a path in the tree.
public final class LiveProfile {
    private var pipeline: Pipeline
    /// Resolves addresses against the processes followed.
    public var symbolizer: Symbolizer { pipeline.processes.symbolizer }
    private let kallsymsPath: String
    private let cacheDirectory: String?
    private let buildIDCache: String
    private let maxStack: Int
    /// How frame names are demangled.
    public let demangle: DemangleStyle
    private let logger: Logger
    /// Forget a process's maps and names when it exits (long runs; its samples came first).
    public var forgetsExitedProcesses = false {
        didSet { pipeline.processes.forgetsExitedProcesses = forgetsExitedProcesses }
    }
    public private(set) var samples: UInt64 = 0
    /// Records the kernel dropped (LOST) plus samples it dropped (LOST_SAMPLES).
    public private(set) var lost: UInt64 = 0
    public private(set) var throttled: UInt64 = 0
    public private(set) var firstSampleTime: UInt64?
    public private(set) var lastSampleTime: UInt64?
    /// Problems worth telling the user once (for example hidden kernel addresses).
    public private(set) var warnings: [String] = []
    /// What is known of each process: its root and namespace pid (to open its files and
    /// find its perf map) and its container.
    public let processes = ProcessFiles()
    /// Keep only samples of processes in this container (a short or full id, `--container`).
    public var containerFilter: String?
    /// Samples left out by `containerFilter`.
    public private(set) var filtered: UInt64 = 0

    /// The tree samples go to. With deferred naming its frames have placeholder names
    /// until `namedTree(threads:)`.
    public var tree: FlameTree { pipeline.aggregator.tree }
    /// When frames are named: as they are first added (the daemon), or after sampling.
    private let naming: FrameNaming

    /// Resident pages of mapped binaries above which they are dropped (read back from the
    /// page cache when a new name is needed), so large binaries do not hold memory.
    static let filePageBudget = 12 << 20

    /// Kernel symbols come from `kallsymsPath` (for /proc/kallsyms, through the per-boot
    /// `KallsymsCache` in `cacheDirectory`); user symbols from the files the processes map,
    /// their names demangled in `demangle`.
    /// With `naming` `.deferred` (`flamed record`), nothing is read or demangled for a
    /// name while sampling: `namedTree(threads:)` names the frames afterwards.
    public init(kallsymsPath: String = "/proc/kallsyms", cacheDirectory: String? = nil, buildIDCache: String, maxStack: Int,
                demangle: DemangleStyle = .perf, naming: FrameNaming = .immediate, logger: Logger) {
        self.naming = naming
        self.kallsymsPath = kallsymsPath
        self.cacheDirectory = cacheDirectory
        self.buildIDCache = buildIDCache
        self.maxStack = maxStack
        self.demangle = demangle
        self.logger = logger
        var warnings: [String] = []
        let symbolizer = Self.makeSymbolizer(kallsymsPath: kallsymsPath, cacheDirectory: cacheDirectory, buildIDCache: buildIDCache,
                                             demangle: demangle, files: LiveFiles(processes, kallsymsCacheDirectory: cacheDirectory), logger: logger,
                                             warnings: &warnings)
        self.warnings = warnings
        pipeline = Self.makePipeline(symbolizer: symbolizer, tracker: processes, maxStack: maxStack, naming: naming, tree: FlameTree())
    }

    /// The tree with every frame named, on `threads` threads (deferred naming), or the tree.
    public func namedTree(threads: Int) -> FlameTree {
        naming == .deferred ? TreeNaming.finish([pipeline.aggregator.part()], threads: threads) : tree
    }

    /// A pipeline that follows live processes, naming frames as `naming` says.
    private static func makePipeline(symbolizer: Symbolizer, tracker: ProcessFiles, maxStack: Int, naming: FrameNaming,
                                     tree: FlameTree) -> Pipeline {
        var aggregator = StackAggregator(symbolizer: symbolizer, naming: naming, tree: tree)
        aggregator.frameCacheCapacity = Self.frameCacheCapacity
        return Pipeline(processes: ProcessModel(symbolizer: symbolizer, tracker: tracker), source: CallchainStackSource(maxStack: maxStack),
                        aggregator: aggregator)
    }

    /// Resolved callchain entries the aggregator keeps (at most about 2 MiB): a daemon
    /// samples far fewer stacks a second than a report reads.
    static let frameCacheCapacity = 1 << 16

    private static func makeSymbolizer(kallsymsPath: String, cacheDirectory: String?, buildIDCache: String, demangle: DemangleStyle,
                                       files: SymbolFileProvider, logger: Logger, warnings: inout [String]) -> Symbolizer {
        let (kernel, warning, _) = files.kernelSymbols([kallsymsPath], logger: logger)
        if let warning { warnings.append(warning) }
        var configuration = SymbolizerConfiguration(buildIDCache: buildIDCache, files: files)
        configuration.kernel = kernel
        configuration.demangle = demangle
        let symbolizer = Symbolizer(configuration, logger: logger)
        symbolizer.recordedOnRunningKernel = true
        return symbolizer
    }

    /// Continues with `tree` (a compacted copy of the current one) as the tree samples go to.
    public func replaceTree(_ tree: FlameTree) {
        rebuild(symbolizer: symbolizer, tree: tree)
    }

    /// Starts over with a fresh symbolizer, seeded from /proc, keeping the tree: bounds the
    /// symbol caches of a long run with process churn.
    public func rebuildSymbolizer() {
        var ignored: [String] = []
        rebuild(symbolizer: Self.makeSymbolizer(kallsymsPath: kallsymsPath, cacheDirectory: cacheDirectory, buildIDCache: buildIDCache,
                                                demangle: demangle, files: LiveFiles(processes, kallsymsCacheDirectory: cacheDirectory), logger: logger,
                                                warnings: &ignored),
                tree: tree)
        seed(processes: ProcFS.ids())
    }

    private func rebuild(symbolizer: Symbolizer, tree: FlameTree) {
        pipeline = Self.makePipeline(symbolizer: symbolizer, tracker: processes, maxStack: maxStack, naming: naming, tree: tree)
        pipeline.processes.forgetsExitedProcesses = forgetsExitedProcesses
    }

    /// Tells the symbolizer about processes that were running before sampling started,
    /// as perf's synthesized records do: each thread's name and each executable mapping.
    public func seed(processes pids: [Int32]) {
        for pid in pids {
            let threads = ProcFS.threads(of: pid)
            for tid in threads {
                if let name = ProcFS.comm(pid: pid, tid: tid) { symbolizer.comm(pid: pid, tid: tid, name: name) }
            }
            for mapping in ProcFS.executableMappings(pid: pid) {
                symbolizer.mmap(pid: pid, start: mapping.start, length: mapping.end - mapping.start,
                                pageOffset: mapping.pageOffset, filename: mapping.path, buildID: nil, isKernel: false,
                                identity: mapping.identity)
            }
        }
    }

    /// Acts at once on a record seen by the sampler's side band (`Sampler.onSideband`), from
    /// any thread, before the record is applied in time order: a new mapping's file is opened
    /// and held, and a process that called exec is looked at again (it may have entered
    /// namespaces or a container), while the process and the file still exist. So a process
    /// that exits soon, or a binary that is then deleted or replaced, still resolves.
    public var sidebandHandler: @Sendable (PerfRecord) -> Void {
        let processes = self.processes
        return { record in
            switch record {
            case .mmap(let map):
                guard !map.isKernel, map.inode != 0, map.filename.hasPrefix("/"), !map.filename.hasPrefix("/memfd:") else { return }
                processes.hold(pid: map.pid, path: map.filename, start: map.start, end: map.start &+ map.length,
                               identity: MappingIdentity(major: map.major, minor: map.minor, inode: map.inode))
            case .comm(let comm) where comm.isExec:
                processes.refresh(comm.pid)
            default:
                break
            }
        }
    }

    /// Applies one record, in time order; for a sample, returns the tree node it ended on.
    @discardableResult
    public func apply(_ record: PerfRecord) -> Int32? {
        if let processRecord = ProcessRecord(record) {
            pipeline.apply(processRecord)
            return nil
        }
        switch record {
        case .sample(let sample):
            if let wanted = containerFilter, !(processes.container(of: sample.pid)?.matches(wanted) ?? false) {
                filtered += 1
                return nil
            }
            samples += 1
            if samples % 4096 == 0, let resident = Memory.residentFileBytes(), resident > Self.filePageBudget {
                symbolizer.releaseResidentPages()
            }
            if sample.time != 0 {
                if firstSampleTime == nil { firstSampleTime = sample.time }
                lastSampleTime = sample.time
            }
            return sample.withSample { pipeline.add($0) }
        case .lost(let count), .lostSamples(let count):
            lost += count
        case .throttle(let isThrottle):
            if isThrottle { throttled += 1 }
        case .mmap, .comm, .fork, .exit, .ksymbol:
            break  // process records, applied above
        }
        return nil
    }

    /// The context header for this profile: host, kernel, event, rate, window and counts.
    public func context(sampler: Sampler, commandLine: String?) -> ProfileContext {
        var context = ProfileContext(events: [sampler.eventName], samples: samples, lost: lost, throttled: throttled)
        if let host = HostInfo.current() {
            context.hostname = host.hostname
            context.osRelease = host.osRelease
            context.arch = host.arch
        }
        context.cpusOnline = sampler.cpus.count
        context.commandLine = commandLine
        if sampler.config.usesFrequency {
            context.frequency = sampler.config.periodOrFrequency
        } else {
            context.period = sampler.config.periodOrFrequency
        }
        context.firstSampleTime = firstSampleTime
        context.lastSampleTime = lastSampleTime
        return context
    }
}

/// The live process model's tracker: containers from each process's cgroup, files held
/// while the process lives.
extension ProcessFiles: ProcessTracker {
    public func containerID(of pid: Int32) -> String? { container(of: pid)?.full }
    public func processExecuted(_ pid: Int32) { refresh(pid) }
    public func processForked(child: Int32, parent: Int32) { noteFork(child: child, parent: parent) }
    public func processExited(_ pid: Int32) { forget(pid) }
}

/// The files of live processes, reached as each process sees them: a mapping's file is
/// opened through the process's root or `map_files` and held, its perf map is found through
/// its root with its namespace pid and read again as it grows; the running kernel's symbols
/// are kept in `kallsymsCacheDirectory`.
final class LiveFiles: SymbolFileProvider {
    private let processes: ProcessFiles
    let kallsymsCacheDirectory: String?

    init(_ processes: ProcessFiles, kallsymsCacheDirectory: String?) {
        self.processes = processes
        self.kallsymsCacheDirectory = kallsymsCacheDirectory
    }

    func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? {
        processes.open(pid: pid, path: path, start: start, end: end, identity: identity)
    }

    func perfMapPath(pid: Int32) -> String? { processes.perfMapPath(pid: pid) }

    var rereadsPerfMaps: Bool { true }
}
