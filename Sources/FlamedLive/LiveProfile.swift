#if canImport(Glibc)
import Glibc
#endif
import FlameGraph
import FlameRender
import FlamedReport
import FlamedSystem
import Logging
import PerfData
import Symbolizer

/// Live records folded into a flame tree: the symbolizer follows the processes (seeded
/// from /proc, then kept current by MMAP2, COMM, FORK and EXIT records) and each sample
/// becomes a path in the tree, exactly as `flamed report` builds it from perf.data.
public final class LiveProfile {
    public private(set) var symbolizer: Symbolizer
    private var builder: TreeBuilder
    private let kallsymsPath: String
    private let buildIDCache: String
    private let maxStack: Int
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

    public var tree: FlameTree { builder.tree }

    /// Resident pages of mapped binaries above which they are dropped (read back from the
    /// page cache when a new name is needed), so large binaries do not hold memory.
    static let filePageBudget = 12 << 20

    /// Kernel symbols come from `kallsymsPath`; user symbols from the files the processes map.
    public init(kallsymsPath: String = "/proc/kallsyms", buildIDCache: String, maxStack: Int, logger: Logger) {
        self.kallsymsPath = kallsymsPath
        self.buildIDCache = buildIDCache
        self.maxStack = maxStack
        self.logger = logger
        var warnings: [String] = []
        symbolizer = Self.makeSymbolizer(kallsymsPath: kallsymsPath, buildIDCache: buildIDCache, logger: logger, warnings: &warnings)
        self.warnings = warnings
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack)
    }

    private static func makeSymbolizer(kallsymsPath: String, buildIDCache: String, logger: Logger,
                                       warnings: inout [String]) -> Symbolizer {
        var kernel: KernelSymbols?
        if case .success(let bytes) = FileReader.map(path: kallsymsPath) {
            let symbols = KernelSymbols(parsing: bytes)
            if symbols.table.count > 0 {
                kernel = symbols
            } else {
                warnings.append("\(kallsymsPath) shows no kernel addresses (kernel.kptr_restrict, or no CAP_SYSLOG): kernel frames are [unknown]")
            }
        } else {
            warnings.append("\(kallsymsPath) is not readable: kernel frames are [unknown]")
        }
        let symbolizer = Symbolizer(kernel: kernel, buildIDs: [:], cacheDirectory: buildIDCache, logger: logger)
        symbolizer.recordedOnRunningKernel = true
        return symbolizer
    }

    /// Continues with `tree` (a compacted copy of the current one) as the tree samples go to.
    public func replaceTree(_ tree: FlameTree) {
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack, tree: tree)
    }

    /// Starts over with a fresh symbolizer, seeded from /proc, keeping the tree: bounds the
    /// symbol caches of a long run with process churn.
    public func rebuildSymbolizer() {
        var ignored: [String] = []
        symbolizer = Self.makeSymbolizer(kallsymsPath: kallsymsPath, buildIDCache: buildIDCache, logger: logger, warnings: &ignored)
        builder = TreeBuilder(symbolizer: symbolizer, maxStack: maxStack, tree: builder.tree)
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
                                pageOffset: mapping.pageOffset, filename: mapping.path, buildID: nil, isKernel: false)
            }
        }
    }

    /// Applies one record, in time order; for a sample, returns the tree node it ended on.
    @discardableResult
    public func apply(_ record: PerfRecord) -> Int32? {
        switch record {
        case .sample(let sample):
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
                            filename: map.filename, buildID: map.buildID, isKernel: map.isKernel)
        case .comm(let comm):
            symbolizer.comm(pid: comm.pid, tid: comm.tid, name: comm.name)
            builder.forget(tid: comm.tid)
        case .fork(let task):
            symbolizer.fork(pid: task.pid, parentPID: task.parentPID, tid: task.tid, parentTID: task.parentTID)
            builder.forget(tid: task.tid)
        case .exit(let task):
            symbolizer.exit(pid: task.pid, tid: task.tid)
            if forgetsExitedProcesses {
                symbolizer.forget(pid: task.pid, tid: task.tid, wholeProcess: task.pid == task.tid)
                builder.forget(tid: task.tid)
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
        var names = utsname()
        if uname(&names) == 0 {
            func text<T>(_ field: T) -> String {
                withUnsafeBytes(of: field) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            }
            context.hostname = text(names.nodename)
            context.osRelease = text(names.release)
            context.arch = text(names.machine)
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
