import Demangling
import FlameGraph
import FlameRender
import FlamedCollections
import FlamedPipeline
import FlamedSystem
import Logging
import PerfData
import Symbolizer

/// What `flamed report` should put in the tree.
public struct ReportOptions: Sendable {
    /// Keep only the event with this name (as perf shows it, modifiers optional).
    public var eventName: String?
    /// Keep only these process ids.
    public var pids: Set<Int32>?
    /// Keep only processes with this name.
    public var comm: String?
    /// A kallsyms file to use instead of the build-id cache or /proc/kallsyms.
    public var kallsymsPath: String?
    /// What a sample weighs: one, or its period (`--weight period`).
    public var weight = WeightPolicy.samples
    /// Most frames taken from one callchain, as perf's `--max-stack` (127 by default).
    public var maxStack = 127
    /// perf's build-id cache directory.
    public var buildIDCache: String
    /// flamed's cache directory, where the running kernel's symbols are kept between runs
    /// (`KallsymsCache`); nil to read /proc/kallsyms every time.
    public var cacheDirectory: String?
    /// How frame names are demangled (`--demangle`).
    public var demangle: DemangleStyle = .perf
    /// Threads that symbolize samples: 1 (the reading thread) or 2 (two workers, fed by the
    /// reading thread). Nil chooses: 2 for inputs of at least
    /// `ReportBuilder.parallelInputSize` (and for pipes), when the machine has two CPUs.
    public var threads: Int?

    public init(buildIDCache: String) {
        self.buildIDCache = buildIDCache
    }
}

/// The result of building a report: the tree, its context and any warnings.
public struct Report: Sendable {
    public var tree: FlameTree
    public var context: ProfileContext
    public var warnings: [String]
    /// Samples each thread symbolized: one count, or each worker's.
    public var samplesPerThread: [Int] = []
}

/// Errors in the report options, reported with what was expected.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Builds a flame tree from a perf.data reader: the shape of perf's flame graph script
/// (`all` → `comm (pid)` → frames root to leaf), with values counting samples.
public struct ReportBuilder {
    private let options: ReportOptions
    private let logger: Logger

    public init(options: ReportOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Reads every record of `reader` and returns the finished report.
    public func build(_ reader: PerfDataReader, progress: ((Int, Int) -> Void)? = nil) throws -> Report {
        var warnings: [String] = []
        // In pipe mode the events arrive as records, so the -e filter is applied per sample.
        if !reader.attrs.isEmpty { _ = try selectedEvents(reader) }
        // Symbol tables, caches and builders live only while the records are read: what
        // is merged and rendered afterwards is the trees alone.
        let clock = ContinuousClock()
        let start = clock.now
        let symbolized = try symbolize(reader, warnings: &warnings, progress: progress)
        let read = clock.now
        // Frames are named now, on every CPU, and the workers' trees merged by name.
        let tree = TreeNaming.finish(symbolized.parts, threads: ProcFS.onlineCPUs().count)
        let merged = clock.now
        func milliseconds(_ duration: Duration) -> String { String(duration / .milliseconds(1)) }
        logger.debug("report phases (ms)", metadata: [
            "read": "\(milliseconds(read - start))", "name and merge": "\(milliseconds(merged - read))",
        ])
        warnings.append(contentsOf: reader.warnings)
        if reader.unknownIDSamples > 0 {
            warnings.append("\(reader.unknownIDSamples) samples had an event id that matches no event; skipped")
        }
        let selected = try selectedEvents(reader)
        var context = makeContext(reader, selected: selected)
        context.samples = symbolized.samples
        context.lost = symbolized.lost
        context.throttled = symbolized.throttled
        if symbolized.firstTime <= symbolized.lastTime {
            context.firstSampleTime = symbolized.firstTime
            context.lastSampleTime = symbolized.lastTime
        }
        var report = Report(tree: tree, context: context, warnings: warnings)
        report.samplesPerThread = symbolized.samplesPerThread
        logger.debug("samples by thread", metadata: ["counts": "\(report.samplesPerThread)"])
        return report
    }

    /// What reading the records gave: the tree of each aggregator (one, or each worker's),
    /// and the counts for the context.
    private struct Symbolized {
        var parts: [TreePart] = []
        var samplesPerThread: [Int] = []
        var samples: UInt64 = 0, lost: UInt64 = 0, throttled: UInt64 = 0
        var firstTime: UInt64 = .max, lastTime: UInt64 = 0
    }

    /// Reads every record of `reader` into one tree per symbolizing thread.
    private func symbolize(_ reader: PerfDataReader, warnings: inout [String], progress: ((Int, Int) -> Void)?) throws -> Symbolized {
        var eventMatches: [Int: Bool] = [:]
        let files = RecordingFiles(kallsymsCacheDirectory: options.cacheDirectory)
        let kernel = loadKernelSymbols(reader, files: files, warnings: &warnings)
        // The report's own table cache: its tables go when the report is built.
        let symbolCache = SymbolCache(capacity: SymbolCache.shared.capacity)
        var buildIDs: [String: [UInt8]] = [:]
        for entry in reader.header.buildIDs where !entry.isKernel { buildIDs[entry.filename] = entry.buildID }
        func makePipeline() -> Pipeline {
            var configuration = SymbolizerConfiguration(buildIDCache: options.buildIDCache, files: files)
            configuration.kernel = kernel
            configuration.buildIDs = buildIDs
            configuration.demangle = options.demangle
            configuration.symbolCache = symbolCache
            let symbolizer = Symbolizer(configuration, logger: logger)
            var aggregator = StackAggregator(symbolizer: symbolizer, weight: options.weight, naming: .deferred)
            aggregator.cachesStacks = false
            return Pipeline(processes: ProcessModel(symbolizer: symbolizer), source: CallchainStackSource(maxStack: options.maxStack),
                            aggregator: aggregator)
        }
        var pipeline = makePipeline()
        let symbolizer = pipeline.processes.symbolizer
        // In parallel, this thread only reads, and two workers symbolize: each takes whole
        // processes. Were this thread to take processes too, a dominant one landing here
        // would be symbolized and read on one CPU while the other idled.
        let workers = threadCount(reader) > 1 ? (0..<2).map { _ in ReportWorker(pipeline: makePipeline()) } : []
        // With workers both CPUs already symbolize (and load tables); a prefetch thread
        // would only compete with them.
        if workers.isEmpty { symbolizer.prefetch(reader.header.buildIDs.filter { !$0.isKernel }.map(\.filename)) }
        var batches = workers.map { _ in ReportBatch() }
        var assignment = WorkerAssignment()
        /// Applies `record` here (in parallel, only thread names, for `--comm`) and, in order
        /// with the samples, on every worker.
        func apply(_ record: ProcessRecord) {
            if workers.isEmpty || record.namesThreads { pipeline.apply(record) }
            for index in workers.indices {
                batches[index].items.append(.process(record))
                if batches[index].isFull { send(index) }
            }
        }
        func send(_ index: Int) {
            batches[index].recordedOnRunningKernel = symbolizer.recordedOnRunningKernel
            workers[index].submit(batches[index])
            batches[index] = ReportBatch()
        }
        var samples: UInt64 = 0, lost: UInt64 = 0, throttled: UInt64 = 0
        var firstTime: UInt64 = .max, lastTime: UInt64 = 0

        try reader.readRecords(progress: progress, samples: { sample in
            if let wanted = options.eventName {
                let matches = eventMatches[sample.attrIndex] ?? Self.eventMatches(wanted, reader.attrs[sample.attrIndex].name, among: reader.attrs.map(\.name))
                eventMatches[sample.attrIndex] = matches
                guard matches else { return }
            }
            if let pids = options.pids, !pids.contains(sample.pid) { return }
            if let comm = options.comm, symbolizer.threadName(pid: sample.pid, tid: sample.tid) != comm { return }
            samples += 1
            if samples == 1 { symbolizer.recordedOnRunningKernel = Self.isRunningKernel(reader.header.osRelease) }
            if sample.time != 0 {
                firstTime = min(firstTime, sample.time)
                lastTime = max(lastTime, sample.time)
            }
            if !workers.isEmpty {
                let index = assignment.take(pid: sample.pid)
                batches[index].append(sample, sequence: samples)
                if batches[index].isFull { send(index) }
                return
            }
            Self.boundFilePages(symbolizer, samples: Int(samples))
            pipeline.aggregator.sampleSequence = samples
            pipeline.add(sample)
        }) { record in
            if let processRecord = ProcessRecord(record) {
                apply(processRecord)
                return
            }
            switch record {
            case .lost(let count), .lostSamples(let count):
                lost += count
            case .throttle(let isThrottle):
                if isThrottle { throttled += 1 }
            case .sample, .mmap, .comm, .fork, .exit, .ksymbol:
                break  // samples go to the closure above, process records to `apply`
            }
        }
        var result = Symbolized(samples: samples, lost: lost, throttled: throttled, firstTime: firstTime, lastTime: lastTime)
        if workers.isEmpty {
            result.parts = [pipeline.aggregator.part()]
            result.samplesPerThread = [Int(samples)]
        } else {
            for index in workers.indices { send(index) }
            result.parts = workers.map { $0.finish() }
            result.samplesPerThread = assignment.samples
        }
        return result
    }

    /// Inputs from this size on are symbolized on two threads (see `ReportOptions.threads`).
    public static let parallelInputSize = 4 << 20

    /// How many threads symbolize the samples of `reader`.
    func threadCount(_ reader: PerfDataReader) -> Int {
        if let threads = options.threads { return min(max(threads, 1), 2) }
        guard ProcFS.onlineCPUs().count > 1 else { return 1 }
        return reader.isPipe || reader.dataSize >= Self.parallelInputSize ? 2 : 1
    }

    /// Resident file pages (mapped binaries and string tables) above which the pages of
    /// symbol string tables are dropped; they come back from the page cache when needed.
    static let filePageBudget = 8 << 20

    /// Every 4096th sample a thread symbolizes: drops `symbolizer`'s mapped name pages when
    /// resident file pages pass `filePageBudget`.
    static func boundFilePages(_ symbolizer: Symbolizer, samples: Int) {
        if samples % 4096 == 0, let resident = Memory.residentFileBytes(), resident > filePageBudget {
            symbolizer.releaseResidentPages()
        }
    }

    /// Whether `release` (the recording's osrelease) is the kernel this process runs on.
    static func isRunningKernel(_ release: String?) -> Bool {
        guard let release, case .success(let running) = FileReader.map(path: "/proc/sys/kernel/osrelease") else { return false }
        let text = running.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        return text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.map(String.init) == release
    }

    /// Whether event `name` is the one `-e` asked for: the exact name, or else the same
    /// name without modifiers (`cpu-clock` for `cpu-clock:ppp`) when no event matches exactly.
    static func eventMatches(_ wanted: String, _ name: String, among names: [String]) -> Bool {
        if name == wanted { return true }
        if names.contains(wanted) { return false }
        func base(_ text: String) -> Substring { text.split(separator: ":", maxSplits: 1).first ?? Substring(text) }
        return base(name) == base(wanted)
    }

    /// The indexes of the events to keep: all, or the one `-e` names.
    func selectedEvents(_ reader: PerfDataReader) throws -> Set<Int> {
        guard let wanted = options.eventName else { return Set(reader.attrs.indices) }
        let names = reader.attrs.map(\.name)
        let matches = Set(names.indices.filter { Self.eventMatches(wanted, names[$0], among: names) })
        guard !matches.isEmpty else {
            throw ReportError("event '\(wanted)' is not in the file; it has: \(names.joined(separator: ", "))")
        }
        return matches
    }

    private func loadKernelSymbols(_ reader: PerfDataReader, files: SymbolFileProvider, warnings: inout [String]) -> KernelSymbols? {
        let excludesKernel = !reader.attrs.isEmpty && reader.attrs.allSatisfy { $0.flags & (1 << 5) != 0 }
        if excludesKernel && options.kallsymsPath == nil { return nil }
        var candidates: [String] = []
        if let path = options.kallsymsPath {
            candidates = [path]
        } else {
            if let entry = reader.header.buildIDs.first(where: { $0.isKernel && $0.filename == "[kernel.kallsyms]" }) {
                candidates.append("\(options.buildIDCache)/[kernel.kallsyms]/\(entry.hex)/kallsyms")
            }
            candidates.append("/proc/kallsyms")
        }
        let (symbols, warning, readAny) = files.kernelSymbols(candidates, logger: logger)
        // Without `--kallsyms`, that no candidate could be read is no news (a recording made
        // elsewhere, or an unprivileged user): only a file read in vain is worth a warning.
        if let warning, options.kallsymsPath != nil || readAny { warnings.append(warning) }
        return symbols
    }

    private func makeContext(_ reader: PerfDataReader, selected: Set<Int>) -> ProfileContext {
        let header = reader.header
        var context = ProfileContext(events: reader.attrs.map(\.name), weight: options.weight.unit)
        context.hostname = header.hostname
        context.osRelease = header.osRelease
        context.arch = header.arch
        context.perfVersion = header.perfVersion
        context.cpuDescription = header.cpuDescription
        context.cpusOnline = header.cpusOnline
        context.cpusAvailable = header.cpusAvailable
        context.commandLine = header.commandLine?.joined(separator: " ")
        context.focusedEvent = options.eventName
        if let first = selected.min() {
            let attr = reader.attrs[first]
            if attr.usesFrequency { context.frequency = attr.samplePeriodOrFrequency } else { context.period = attr.samplePeriodOrFrequency }
        }
        return context
    }
}
