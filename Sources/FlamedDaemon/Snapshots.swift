import FlameGraph
import FlameRender
import FlamedSystem
import FoundationEssentials
import Logging

/// Writes snapshots of the window into the snapshot directory: one file per configured
/// format, named `flamed-<host>-<UTC timestamp>.<ext>`, written atomically, keeping the
/// newest `keep`. Requests that arrive while one is being written coalesce into one more.
public final class SnapshotWriter: @unchecked Sendable {
    private let state: DaemonState
    private let logger: Logger
    private let lock = Lock()
    private var inFlight = false
    private var pending = false
    private let host: String

    public init(state: DaemonState, logger: Logger) {
        self.state = state
        self.logger = logger
        host = HostInfo.current()?.hostname ?? "localhost"
    }

    /// Asks for a snapshot; returns at once. At most one is written at a time, and any
    /// number of requests during a write lead to one more afterwards.
    public func request(reason: String) {
        let start: Bool = lock.withLock {
            if inFlight {
                pending = true
                return false
            }
            inFlight = true
            return true
        }
        guard start else { return }
        let started = Threads.detach { [self] in
            var why = reason
            while true {
                writeNow(reason: why)
                let again: Bool = lock.withLock {
                    if pending {
                        pending = false
                        return true
                    }
                    inFlight = false
                    return false
                }
                guard again else { return }
                why = "coalesced requests"
            }
        }
        if case .failure(let code) = started {
            logger.error("cannot start a thread to write the snapshot: \(FileReader.describe(code))")
            lock.withLock {
                inFlight = false
                pending = false
            }
        }
    }

    /// Writes one snapshot now, in every configured format; returns the paths written.
    @discardableResult
    public func writeNow(reason: String) -> [String] {
        let config = state.currentConfig.snapshot
        let (tree, context) = state.snapshot(window: nil, processes: ProcessFilter())
        let stamp = Self.timestamp(Date())
        let safeHost = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        var written: [String] = []
        if case .failure(let error) = Directories.make(config.directory, mode: 0o750) {
            logger.error("snapshot directory: \(error.description)")
        }
        for format in config.formats {
            let path = "\(config.directory)/\(Self.fileName(host: safeHost, stamp: stamp, format: format))"
            let bytes = format.render(tree, context: context, title: "flamed snapshot \(stamp)")
            switch OutputFile.write(bytes, to: path) {
            case .success: written.append(path)
            case .failure(let error): logger.error("snapshot not written: \(error.description)")
            }
        }
        if !written.isEmpty {
            state.noteSnapshot("\(written[0]) (\(context.samples) samples, \(reason))")
            logger.info("snapshot written", metadata: ["files": "\(written.joined(separator: ","))", "samples": "\(context.samples)", "reason": "\(reason)"])
        }
        Self.prune(directory: config.directory, host: safeHost, keep: config.keep, logger: logger)
        return written
    }

    /// `flamed-<host>-<stamp>.<extension>`: the name of one format's file of a snapshot.
    static func fileName(host: String, stamp: String, format: OutputFormat) -> String {
        "flamed-\(host)-\(stamp).\(format.fileExtension)"
    }

    /// `20261125T143001.123Z`: sortable, unique per millisecond.
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        let milliseconds = Int((seconds - seconds.rounded(.down)) * 1000)
        let text = String(milliseconds)
        return UTCTime.format(Int(seconds), pattern: "%Y%m%dT%H%M%S") + "." + String(repeating: "0", count: 3 - text.count) + text + "Z"
    }

    /// Removes all but the newest `keep` snapshots (a snapshot is all formats of one timestamp).
    static func prune(directory: String, host: String, keep: Int, logger: Logger) {
        guard case .success(let entries) = Directories.entries(of: directory) else { return }
        let prefix = "flamed-\(host)-"
        let extensions = Set(OutputFormat.allCases.map(\.fileExtension))
        var byStamp: [String: [String]] = [:]
        for entry in entries where entry.hasPrefix(prefix) && !entry.hasPrefix(".") {
            guard let dot = entry.lastIndex(of: "."), extensions.contains(String(entry[entry.index(after: dot)...])) else { continue }
            byStamp[String(entry[..<dot]), default: []].append(entry)
        }
        let stamps = byStamp.keys.sorted()
        guard stamps.count > keep else { return }
        for stamp in stamps.prefix(stamps.count - keep) {
            for file in byStamp[stamp] ?? [] {
                if case .failure(let error) = Directories.removeFile("\(directory)/\(file)") {
                    logger.warning("old snapshot not removed: \(error.description)")
                }
            }
        }
    }
}

extension DaemonState {
    /// The window, or its last `window` (no more than the configured window), with only the
    /// processes `processes` keeps, and its context: the one place snapshot requests and the
    /// snapshot writer reach `snapshot(seconds:filter:)`.
    func snapshot(window: Duration?, processes: ProcessFilter) -> (tree: FlameTree, context: ProfileContext) {
        let seconds = window.map { requested in
            let bounded = min(requested, currentConfig.window.duration)
            return Double(bounded.components.seconds) + Double(bounded.components.attoseconds) / 1e18
        }
        return snapshot(seconds: seconds, filter: processes)
    }
}
