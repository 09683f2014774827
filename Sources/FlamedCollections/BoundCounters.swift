import Synchronization

/// A bound that input from a file or a process hit: a cap on size, length or work that
/// hostile input is held to. Each hit is counted, not lost silently, and `flamed status`
/// shows the counts.
public enum Bound: Int, CaseIterable, Sendable {
    /// A symbol name over the demanglers' input cap, shown raw.
    case demanglerInput
    /// A demangler that ran out of steps or output, the raw name shown.
    case demanglerBudget
    /// An ELF file whose headers disagree with its real size, given `[binary]` frames.
    case lyingELF
    /// A perf map cut at its byte cap.
    case perfMapBytes
    /// A perf-map line over the line-length cap, skipped.
    case perfMapLine
    /// A perf map (or other user-named file) refused: not a regular file, a symlink, or not
    /// owned by the process's user.
    case refusedFile
    /// MiniDebugInfo that would inflate past the output cap, not used.
    case miniDebugInfo
    /// A debug-link candidate over the size cap, not checksummed.
    case debugLinkSize
    /// Mappings that a newer overlapping mapping replaced.
    case evictedMappings
    /// Mappings dropped because their process already had the most a process may have.
    case mappingCap
    /// Sampled records dropped because the queue to the naming thread was full.
    case sampleQueue

    /// The line `flamed status` shows the count under.
    public var label: String {
        switch self {
        case .demanglerInput: "names over the demangler input cap"
        case .demanglerBudget: "names over a demangler step or output budget"
        case .lyingELF: "ELF files with lying headers"
        case .perfMapBytes: "perf maps cut at the byte cap"
        case .perfMapLine: "perf-map lines over the length cap"
        case .refusedFile: "user files refused (not regular, symlink or foreign owner)"
        case .miniDebugInfo: "MiniDebugInfo over the output cap"
        case .debugLinkSize: "debug-link candidates over the size cap"
        case .evictedMappings: "mappings replaced by overlapping ones"
        case .mappingCap: "mappings over the per-process cap, dropped"
        case .sampleQueue: "records dropped at the full naming queue"
        }
    }
}

/// Process-wide counts of `Bound` hits. Libraries count here so that every bound is
/// visible in `flamed status` without a counter threaded through each call.
public enum BoundCounters {
    private static let counts = Mutex([Int](repeating: 0, count: Bound.allCases.count))

    /// Counts one hit (or `by` hits) of `bound`.
    public static func count(_ bound: Bound, by amount: Int = 1) {
        counts.withLock { $0[bound.rawValue] &+= amount }
    }

    /// The hits of `bound` so far.
    public static func value(_ bound: Bound) -> Int {
        counts.withLock { $0[bound.rawValue] }
    }

    /// Every bound and its hits, in declaration order.
    public static var all: [(bound: Bound, count: Int)] {
        let snapshot = counts.withLock { $0 }
        return Bound.allCases.map { ($0, snapshot[$0.rawValue]) }
    }
}
