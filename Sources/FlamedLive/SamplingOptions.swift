import FlamedSystem
import PerfData

/// What `flamed record` (and later the daemon) samples.
public enum SamplingTarget: Sendable, Equatable {
    /// Every CPU, every process (`-a`).
    case systemWide
    /// These processes, all their threads, and threads they create later (`-p`).
    case processes([Int32])
    /// A command started for the purpose, with its children (`-- CMD ARGS`).
    case command([String])
}

/// Sampling settings: the target, the event, how often and what to record.
public struct SamplingOptions: Sendable {
    public var target: SamplingTarget
    /// An event name from `EventCatalog` (`cpu-clock` by default).
    public var eventName = "cpu-clock"
    /// Samples per second, unless `period` is set.
    public var frequency: UInt64 = 999
    /// Sample every `period` events (`-c`) instead of at a frequency.
    public var period: UInt64?
    /// Record callchains (`-g`, the default).
    public var callchains = true
    public var userOnly = false
    public var kernelOnly = false
    /// Data pages per CPU ring (a power of two); nil picks a size the mlock limit allows.
    public var ringPages: Int?
    /// Most callchain entries the kernel records.
    public var maxStack: UInt16 = 127
    /// With `.systemWide`: a command to run while sampling (`-a -- sleep 10`); sampling
    /// stops when it exits.
    public var companionCommand: [String]?
    /// How long records wait for records of other CPUs with earlier timestamps.
    public var holdingWindowNanoseconds: UInt64 = 20_000_000

    public init(target: SamplingTarget) {
        self.target = target
    }
}

/// The events flamed can sample, by the names perf uses.
public enum EventCatalog {
    /// PERF_TYPE_HARDWARE and PERF_TYPE_SOFTWARE.
    static let hardware: UInt32 = 0
    static let software: UInt32 = 1

    /// Supported names with their (type, config).
    public static let events: [(name: String, type: UInt32, config: UInt64)] = [
        ("cpu-clock", software, 0),
        ("task-clock", software, 1),
        ("page-faults", software, 2),
        ("context-switches", software, 3),
        ("cycles", hardware, 0),
        ("instructions", hardware, 1),
        ("cache-misses", hardware, 3),
        ("branch-misses", hardware, 5),
    ]

    /// The type and config of `name` (perf's aliases `cpu-cycles` and `faults` included).
    public static func lookup(_ name: String) -> (type: UInt32, config: UInt64)? {
        let aliases = ["cpu-cycles": "cycles", "faults": "page-faults", "cs": "context-switches"]
        let canonical = aliases[name] ?? name
        return events.first { $0.name == canonical }.map { ($0.type, $0.config) }
    }

    public static var names: [String] { events.map(\.name) }

    /// Whether `name` needs a hardware PMU (and falls back to cpu-clock without one).
    public static func isHardware(_ name: String) -> Bool { lookup(name)?.type == hardware }
}

/// Why sampling could not start, as one line with the cause and the fix.
public struct SamplingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
