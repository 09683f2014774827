#if canImport(Glibc)
import Glibc
#endif
import Demangling
import FlameGraph
import FlameRender
import FlamedReport
import FlamedSystem
import Logging
import PerfData
import ProcText
import Symbolizer

/// Live records folded into a flame tree: the symbolizer follows the processes (seeded
/// from /proc, then kept current by MMAP2, COMM, FORK and EXIT records) and each sample
/// becomes a path in the tree, exactly as `flamed report` builds it from perf.data.
public final class LiveProfile {
    public private(set) var symbolizer: Symbolizer
    private var builder: TreeBuilder
    private let kallsymsPath: String
    private let cacheDirectory: String?
    private let buildIDCache: String
    private let maxStack: Int
    /// How frame names are demangled.
    public let demangle: DemangleStyle
    private let logger: Logger
    /// Forget a process's maps and names when it exits (long runs; its samples came first).
    public var forgetsExitedProcesses = false
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

    public var tree: FlameTree { builder.tree }

    /// Resident pages of mapped binaries above which they are dropped (read back from the
    /// page cache when a new name is needed), so large binaries do not hold memory.
    static let filePageBudget = 12 << 20

    /// Kernel symbols come from `kallsymsPath` (for /proc/kallsyms, through the per-boot
    /// `KallsymsCache` in `cacheDirectory`); user symbols from the files the processes map,
    /// their names demangled in `demangle`.
    public init(kallsymsPath: String = "/proc/kallsyms", cacheDirectory: String? = nil, buildIDCache: String, maxStack: Int,
                demangle: DemangleStyle = .perf, logger: Logger) {
        self.kallsymsPath = kallsymsPath
        self.cacheDirectory = cacheDirectory
        self.buildIDCache = buildIDCache
        self.maxStack = maxStack
        self.demangle = demangle
        self.logger = logger
        var warnings: [String] = []
        symbolizer = Self.makeSymbolizer(kallsymsPath: kallsymsPath, cacheDirectory: cacheDirectory, buildIDCache: buildIDCache, demangle: demangle, logger: logger,
                                         warnings: &warnings)
        self.warnings = warnings
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack)
        attachProcesses()
    }

    /// Lets the symbolizer and the tree builder reach live processes: files are opened as
    /// each process sees them (its root, map_files) and held; perf maps are found through
    /// the process's root with its namespace pid; a containerized process's node is named
    /// `comm (pid) [container ID]`.
    private func attachProcesses() {
        let processes = self.processes
        symbolizer.fileOpener = { pid, path, start, end, identity in
            processes.open(pid: pid, path: path, start: start, end: end, identity: identity)
        }
        symbolizer.perfMapLocator = { pid in processes.perfMapPath(pid: pid) }
        symbolizer.rereadsPerfMaps = true
        builder.processLabel = { pid in processes.container(of: pid).map { Self.containerLabel($0) } }
        builder.frameCacheCapacity = Self.frameCacheCapacity
    }

    /// Resolved callchain entries the tree builder keeps (at most about 2 MiB): a daemon
    /// samples far fewer stacks a second than a report reads.
    static let frameCacheCapacity = 1 << 16

    /// What follows `comm (pid)` in the node of a process in a container.
    public static func containerLabel(_ container: ContainerID) -> String { " [container \(container.short)]" }

    private static func makeSymbolizer(kallsymsPath: String, cacheDirectory: String?, buildIDCache: String, demangle: DemangleStyle,
                                       logger: Logger, warnings: inout [String]) -> Symbolizer {
        var kernel: KernelSymbols?
        let loaded: KernelSymbols?
        if kallsymsPath == "/proc/kallsyms" {
            loaded = KallsymsCache.runningKernel(directory: cacheDirectory, logger: logger)
        } else {
            loaded = KallsymsCache.file(kallsymsPath, directory: cacheDirectory, logger: logger)
        }
        if let symbols = loaded {
            if symbols.table.count > 0 {
                kernel = symbols
            } else if symbols.addressesHidden {
                warnings.append(KernelSymbols.hiddenAddressesWarning(path: kallsymsPath))
            } else {
                warnings.append("\(kallsymsPath) lists no kernel symbols: kernel frames are [unknown]")
            }
        } else {
            warnings.append("\(kallsymsPath) is not readable: kernel frames are [unknown]")
        }
        let symbolizer = Symbolizer(kernel: kernel, buildIDs: [:], cacheDirectory: buildIDCache, logger: logger)
        symbolizer.recordedOnRunningKernel = true
        symbolizer.demangleStyle = demangle
        if kernel?.coverage != nil {
            symbolizer.kernelReloader = { KallsymsCache.runningKernel(directory: cacheDirectory, fresh: true, logger: logger) }
        }
        return symbolizer
    }

    /// Continues with `tree` (a compacted copy of the current one) as the tree samples go to.
    public func replaceTree(_ tree: FlameTree) {
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack, tree: tree)
        attachProcesses()
    }

    /// Starts over with a fresh symbolizer, seeded from /proc, keeping the tree: bounds the
    /// symbol caches of a long run with process churn.
    public func rebuildSymbolizer() {
        var ignored: [String] = []
        symbolizer = Self.makeSymbolizer(kallsymsPath: kallsymsPath, cacheDirectory: cacheDirectory, buildIDCache: buildIDCache, demangle: demangle, logger: logger,
                                         warnings: &ignored)
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack, tree: builder.tree)
        attachProcesses()
        seed(processes: ProcFS.ids())
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

    /// Acts at once on a record seen by the sampler's side band (`Sampler.onSideband`), before
    /// it is applied in time order: a new mapping's file is opened and held, and a process that
    /// called exec is looked at again (it may have entered namespaces or a container), while
    /// the process and the file still exist. So a process that exits soon, or a binary that
    /// is then deleted or replaced, still resolves.
    public func prepare(_ record: PerfRecord) {
        Self.prepare(record, processes)
    }

    /// `prepare`, callable from any thread (the sampler's side-band thread).
    public var sidebandHandler: @Sendable (PerfRecord) -> Void {
        let processes = self.processes
        return { Self.prepare($0, processes) }
    }

    private static func prepare(_ record: PerfRecord, _ processes: ProcessFiles) {
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

    /// Applies one record, in time order; for a sample, returns the tree node it ended on.
    @discardableResult
    public func apply(_ record: PerfRecord) -> Int32? {
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
            return builder.add(sample, weight: 1)
        case .mmap(let map):
            symbolizer.mmap(pid: map.pid, start: map.start, length: map.length, pageOffset: map.pageOffset,
                            filename: map.filename, buildID: map.buildID, isKernel: map.isKernel,
                            identity: map.inode != 0 ? MappingIdentity(major: map.major, minor: map.minor, inode: map.inode) : nil)
        case .comm(let comm):
            if comm.isExec { processes.refresh(comm.pid) }
            symbolizer.comm(pid: comm.pid, tid: comm.tid, name: comm.name)
            builder.forget(tid: comm.tid)
        case .fork(let task):
            symbolizer.fork(pid: task.pid, parentPID: task.parentPID, tid: task.tid, parentTID: task.parentTID)
            builder.forget(tid: task.tid)
            if task.pid != task.parentPID { processes.noteFork(child: task.pid, parent: task.parentPID) }
        case .exit(let task):
            symbolizer.exit(pid: task.pid, tid: task.tid)
            if forgetsExitedProcesses {
                symbolizer.forget(pid: task.pid, tid: task.tid, wholeProcess: task.pid == task.tid)
                builder.forget(tid: task.tid)
                if task.pid == task.tid { processes.forget(task.pid) }
            }
        case .lost(let count), .lostSamples(let count):
            lost += count
        case .throttle(let isThrottle):
            if isThrottle { throttled += 1 }
        case .ksymbol(let symbol):
            symbolizer.ksymbol(address: symbol.address, length: symbol.length, name: symbol.name, unregister: symbol.isUnregister)
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
