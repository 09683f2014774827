import FlameGraph
import FlamedSystem
import PerfData
import Symbolizer

/// A record that changes what a process is (maps, names, forks, exits) or what kernel code
/// exists: what the process model applies, in time order.
public enum ProcessRecord: Sendable {
    case mmap(MmapRecord)
    case comm(CommRecord)
    case fork(TaskRecord)
    case exit(TaskRecord)
    case ksymbol(KSymbolRecord)

    /// The process record `record` is, if it is one.
    public init?(_ record: PerfRecord) {
        switch record {
        case .mmap(let map): self = .mmap(map)
        case .comm(let comm): self = .comm(comm)
        case .fork(let task): self = .fork(task)
        case .exit(let task): self = .exit(task)
        case .ksymbol(let symbol): self = .ksymbol(symbol)
        case .sample, .lost, .lostSamples, .throttle: return nil
        }
    }

    /// Whether the record changes what a thread is called (all that a reader that only
    /// filters by `--comm` needs).
    public var namesThreads: Bool {
        switch self {
        case .comm, .fork: return true
        case .mmap, .exit, .ksymbol: return false
        }
    }
}

/// What live profiles learn of processes beyond their records: the container each runs in,
/// and the files it maps, which are held while it lives (see `ProcessFiles`).
public protocol ProcessTracker: AnyObject, Sendable {
    /// The full id of the container `pid` runs in, if any.
    func containerID(of pid: Int32) -> String?
    /// `pid` called exec: it may have entered other namespaces or a container.
    func processExecuted(_ pid: Int32)
    /// `child` was forked from `parent`.
    func processForked(child: Int32, parent: Int32)
    /// `pid` exited and its samples are in: what was kept for it can go.
    func processExited(_ pid: Int32)
}

/// The processes a profile follows: their address spaces and thread names (held by the
/// symbolizer), and for live profiles what the tracker knows. Every record that changes a
/// process goes through `apply`.
public final class ProcessModel {
    /// Resolves addresses against the processes' maps.
    public let symbolizer: Symbolizer
    /// Live profiles' containers and held files; nil for reports.
    public let tracker: ProcessTracker?
    /// Forget a process's maps and names when it exits (long runs; its samples came first).
    public var forgetsExitedProcesses = false

    public init(symbolizer: Symbolizer, tracker: ProcessTracker? = nil) {
        self.symbolizer = symbolizer
        self.tracker = tracker
    }

    /// Applies `record`, and forgets what `aggregator` kept for a thread renamed, created or
    /// forgotten.
    public func apply(_ record: ProcessRecord, to aggregator: inout StackAggregator) {
        switch record {
        case .mmap(let map):
            symbolizer.mmap(pid: map.pid, start: map.start, length: map.length, pageOffset: map.pageOffset,
                            filename: map.filename, buildID: map.buildID, isKernel: map.isKernel,
                            identity: map.inode != 0 ? MappingIdentity(major: map.major, minor: map.minor, inode: map.inode) : nil)
        case .comm(let comm):
            if comm.isExec { tracker?.processExecuted(comm.pid) }
            symbolizer.comm(pid: comm.pid, tid: comm.tid, name: comm.name)
            aggregator.forget(tid: comm.tid)
        case .fork(let task):
            symbolizer.fork(pid: task.pid, parentPID: task.parentPID, tid: task.tid, parentTID: task.parentTID)
            aggregator.forget(tid: task.tid)
            if task.pid != task.parentPID { tracker?.processForked(child: task.pid, parent: task.parentPID) }
        case .exit(let task):
            // Reports keep an exited thread's name and maps for samples still to come, as perf does.
            guard forgetsExitedProcesses else { return }
            let wholeProcess = task.pid == task.tid
            symbolizer.forget(pid: task.pid, tid: task.tid, wholeProcess: wholeProcess)
            aggregator.forget(tid: task.tid)
            if wholeProcess { tracker?.processExited(task.pid) }
        case .ksymbol(let symbol):
            symbolizer.ksymbol(address: symbol.address, length: symbol.length, name: symbol.name, unregister: symbol.isUnregister)
        }
    }

    /// Who thread `tid` of `pid` is now: its process, name and container.
    public func identity(pid: Int32, tid: Int32) -> ProcessIdentity {
        ProcessIdentity(pid: pid, comm: symbolizer.threadName(pid: pid, tid: tid), container: tracker?.containerID(of: pid))
    }
}

/// The pipeline core that report (on one thread or several), record and the daemon all
/// drive: records go to the process model, samples through the stack source into the
/// aggregator, and frames are named afterwards (`TreeNaming`) or as they come.
public struct Pipeline {
    public let processes: ProcessModel
    public var source: any StackSource
    public var aggregator: StackAggregator
    private var stack = Stack()

    public init(processes: ProcessModel, source: any StackSource, aggregator: StackAggregator) {
        self.processes = processes
        self.source = source
        self.aggregator = aggregator
    }

    /// Applies a process record, in time order with the samples.
    public mutating func apply(_ record: ProcessRecord) {
        processes.apply(record, to: &aggregator)
    }

    /// Adds one sample; returns the tree node it ended on.
    @discardableResult
    public mutating func add(_ sample: Sample) -> Int32 {
        let processes = self.processes
        let node = aggregator.processNode(pid: sample.pid, tid: sample.tid) { processes.identity(pid: sample.pid, tid: sample.tid) }
        let complete = source.frames(of: sample, into: &stack)
        return aggregator.add(sample, stack: complete ? stack : nil, processNode: node)
    }
}
