import Demangling
import FlameGraph
import FlamedCollections
import FlameRender
import FlamedLive
import FlamedSystem
import FoundationEssentials
import Logging
import PerfData
import Symbolizer

/// Everything the daemon knows, shared by the sampling thread (which adds records) and
/// the snapshot and control paths (which read it), behind one lock held only briefly.
public final class DaemonState: @unchecked Sendable {
    private let lock = Lock()
    private let profile: LiveProfile
    private var window: RollingWindow
    private let logger: Logger
    private var config: DaemonConfig
    private var event = "cpu-clock"
    private var frequency: UInt64 = 0
    private var cpus = 0
    private let startedAt = Date()
    private var lastSnapshot: String?
    private var compactions = 0
    private var symbolizerRebuilds = 0
    private var lastCheck: UInt64 = 0
    private var nodesAfterCompaction = 0

    /// Symbolizer caches past which it is rebuilt from /proc (process churn).
    typealias SymbolizerCaps = (spaces: Int, threads: Int, binaries: Int, frames: Int)
    static let defaultSymbolizerCaps: SymbolizerCaps = (spaces: 4096, threads: 32768, binaries: 1024, frames: 2_000_000)
    private let symbolizerCaps: SymbolizerCaps
    /// What the symbolizer held right after its last rebuild (seeded from /proc).
    private var footprintAfterRebuild = (spaces: 0, threads: 0, binaries: 0, frames: 0)

    /// Frame names are demangled in `demangle` (`flamed run --demangle`).
    public convenience init(config: DaemonConfig, demangle: DemangleStyle = .perf, logger: Logger) {
        self.init(config: config, demangle: demangle, symbolizerCaps: Self.defaultSymbolizerCaps, logger: logger)
    }

    init(config: DaemonConfig, demangle: DemangleStyle = .perf, symbolizerCaps: SymbolizerCaps, logger: Logger) {
        self.config = config
        self.symbolizerCaps = symbolizerCaps
        self.logger = logger
        profile = LiveProfile(cacheDirectory: PrivateFiles.cacheDirectory(), buildIDCache: "/nonexistent", maxStack: 127,
                              demangle: demangle, logger: logger)
        profile.forgetsExitedProcesses = true
        window = RollingWindow(window: Self.nanoseconds(config.window.duration), maxStacks: config.window.maxStacks)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }

    /// Warnings from loading kernel symbols, to log once.
    public var warnings: [String] { profile.warnings }

    /// Seeds the process table from /proc (before the first records).
    /// The lock is taken for a few processes at a time, so that snapshots and status are
    /// answered meanwhile; `stop` is asked between them (a shutdown need not wait for a
    /// machine's thousands of processes).
    public func seedFromProc(until stop: () -> Bool = { false }) {
        let ids = ProcFS.ids()
        for start in stride(from: 0, to: ids.count, by: 32) {
            if stop() { return }
            lock.withLock { profile.seed(processes: Array(ids[start..<min(start + 32, ids.count)])) }
        }
    }

    /// Notes what the sampler samples, for snapshots and status.
    public func noteSampler(event: String, frequency: UInt64, cpus: Int) {
        lock.withLock {
            self.event = event
            self.frequency = frequency
            self.cpus = cpus
        }
    }

    /// Opens and holds the file of a new mapping as soon as it is mapped, and looks again at a
    /// process that called exec, from the sampler's side-band thread (see
    /// `LiveProfile.sidebandHandler`; thread-safe without the state's lock).
    public var sidebandHandler: @Sendable (PerfRecord) -> Void { profile.sidebandHandler }

    /// Applies a pass of records, in time order.
    public func apply(_ records: [PerfRecord]) {
        lock.withLock {
            for record in records {
                if let leaf = profile.apply(record), case .sample(let sample) = record {
                    window.add(leaf: leaf, time: sample.time != 0 ? sample.time : MonotonicClock.now)
                }
            }
        }
    }

    /// Ages out old slices and keeps memory bounded: compacts the tree when it holds too
    /// many stacks or dead nodes, and rebuilds the symbolizer when its caches pass their caps.
    public func maintain(now: UInt64) {
        lock.withLock {
            let interval = min(max(window.window / 8, 1_000_000_000), 10_000_000_000)
            guard now &- lastCheck >= interval else { return }
            lastCheck = now
            window.expire(now: now)
            let nodes = profile.tree.nodeCount
            let nodeCap = max(config.window.maxStacks * 8, 20_000)
            if nodes > nodeCap || nodes > 4 * nodesAfterCompaction + 5_000 || window.distinctStacks > config.window.maxStacks {
                compactLocked()
            }
            let footprint = profile.symbolizer.footprint
            // Twice what the last rebuild's reseed left, at least the caps: a machine with
            // more processes than a cap must not rebuild on every pass.
            let base = footprintAfterRebuild
            let caps = symbolizerCaps
            if footprint.spaces > max(caps.spaces, 2 * base.spaces) || footprint.threads > max(caps.threads, 2 * base.threads)
                || footprint.binaries > max(caps.binaries, 2 * base.binaries) || footprint.frames > max(caps.frames, 2 * base.frames) {
                profile.rebuildSymbolizer()
                footprintAfterRebuild = profile.symbolizer.footprint
                symbolizerRebuilds += 1
                HeapTuning.releaseFreeMemory()
                logger.info("rebuilt the symbol caches from /proc", metadata: ["spaces": "\(footprint.spaces)", "binaries": "\(footprint.binaries)"])
            }
        }
    }

    /// Rebuilds the tree from the window's stacks (the lock is held).
    private func compactLocked() {
        let nodes = profile.tree.nodeCount
        let compacted = window.compact(profile.tree)
        profile.replaceTree(compacted)
        nodesAfterCompaction = compacted.nodeCount
        compactions += 1
        HeapTuning.releaseFreeMemory()
        logger.debug("compacted the window tree", metadata: ["nodes": "\(nodes) -> \(compacted.nodeCount)"])
    }

    /// Applies new window settings (duration, stack cap) from a reloaded config.
    public func update(config: DaemonConfig) {
        lock.withLock {
            self.config = config
            window.window = Self.nanoseconds(config.window.duration)
            window.maxStacks = config.window.maxStacks
        }
    }

    /// The current config.
    public var currentConfig: DaemonConfig { lock.withLock { config } }

    /// The window, or its last `last` (no more than the window), with only the processes
    /// `filter` keeps, as a tree with its context.
    public func snapshot(last: Duration? = nil, filter: ProcessFilter = .all) -> (tree: FlameTree, context: ProfileContext) {
        let now = MonotonicClock.now
        let wallNow = Date()
        return lock.withLock {
            var since = now > window.window ? now - window.window : 0
            if let last, last > .zero {
                let wanted = min(Self.nanoseconds(last), window.window)
                since = max(since, now > wanted ? now - wanted : 0)
            }
            // A snapshot honours the stack cap even between maintenance passes.
            if window.distinctStacks > config.window.maxStacks { compactLocked() }
            let tree = window.snapshot(of: profile.tree, since: since, filter: filter)
            let samples = tree.nodeValue.reduce(0, &+)
            var context = ProfileContext(events: [event], samples: samples, lost: profile.lost, throttled: profile.throttled)
            context.frequency = frequency
            context.cpusOnline = cpus
            if let host = HostInfo.current() {
                context.hostname = host.hostname
                context.osRelease = host.osRelease
                context.arch = host.arch
            }
            let start = wallNow.addingTimeInterval(-Double(now - since) / 1e9)
            context.windowStart = Self.utc(start)
            context.windowEnd = Self.utc(wallNow)
            context.capturedAt = Self.utc(wallNow)
            if !filter.keepsAll {
                context.focusedEvent = nil
                context.commandLine = "filtered: " + filter.summary
            }
            return (tree, context)
        }
    }

    /// Records the last snapshot written.
    public func noteSnapshot(_ description: String) {
        lock.withLock { lastSnapshot = description }
    }

    /// `flamed status`: one `key: value` per line.
    public func statusText() -> String {
        let resident = Memory.residentBytes()
        return lock.withLock {
            let uptime = Int(Date().timeIntervalSince(startedAt))
            let footprint = profile.symbolizer.footprint
            var lines = [
                "uptime: \(uptime / 3600)h\(uptime / 60 % 60)m\(uptime % 60)s",
                "pid: \(CurrentProcess.id)",
                "cpus: \(cpus)",
                "event: \(event)",
                "frequency: \(frequency) Hz",
                "window: \(Int(window.window / 1_000_000_000))s",
                "samples: \(profile.samples)",
                "samples in window: \(window.samples)",
                "lost: \(profile.lost)",
                "throttled: \(profile.throttled)",
                "tree nodes: \(profile.tree.nodeCount)",
                "max stacks: \(config.window.maxStacks)",
                "pruned: \(window.prunedStacks) stacks, \(window.prunedSamples) samples",
                "compactions: \(compactions)",
                "symbol caches: \(footprint.spaces) processes, \(footprint.binaries) binaries, \(symbolizerRebuilds) rebuilds",
            ]
            if let resident { lines.append("memory: \(resident / 1024 / 1024) MiB resident") }
            for (bound, count) in BoundCounters.all { lines.append("\(bound.label): \(count)") }
            lines.append("last snapshot: \(lastSnapshot ?? "none")")
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// ISO 8601 in UTC, e.g. `2026-11-25T14:30:01Z`.
    static func utc(_ date: Date) -> String {
        UTCTime.format(Int(date.timeIntervalSince1970), pattern: "%Y-%m-%dT%H:%M:%SZ")
    }
}
