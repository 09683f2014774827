import FlameGraph
import FlameRender
import FoundationEssentials

/// A request on the control socket.
///
/// On the wire a request is one line of JSON of at most `maximumSize` bytes, for example
/// `{"command":"status"}` or
/// `{"comm":"java","command":"snapshot","format":"json","pids":[7],"windowMilliseconds":30000}`.
/// Client and daemon ship together, so the shape has no versions.
public enum ControlCommand: Sendable, Equatable {
    /// A flame graph of the daemon's window.
    case snapshot(SnapshotRequest)
    /// The daemon's status text.
    case status

    /// Most bytes a request line may have, its newline aside.
    public static let maximumSize = 4096

    /// The request as one line, newline included.
    public func encoded() -> [UInt8] {
        var wire: WireRequest
        switch self {
        case .status:
            wire = WireRequest(command: Self.statusName)
        case .snapshot(let request):
            wire = WireRequest(command: Self.snapshotName)
            wire.format = request.format.name
            wire.windowMilliseconds = request.window.map(Self.milliseconds)
            wire.pids = request.processes.pids
            wire.comm = request.processes.comm
            wire.container = request.processes.container
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(wire)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    /// Parses and checks a request line (without its newline). Whatever the bytes, the result
    /// is a command or an error to send back as one line.
    public static func decode(_ line: [UInt8]) -> Result<ControlCommand, ControlRequestError> {
        guard line.count <= maximumSize else {
            return .failure(ControlRequestError("bad request: longer than \(maximumSize) bytes"))
        }
        guard let wire = try? JSONDecoder().decode(WireRequest.self, from: Data(line)) else {
            return .failure(ControlRequestError("bad request: expected one line of JSON"))
        }
        switch wire.command {
        case statusName:
            return .success(.status)
        case snapshotName:
            let formatName = wire.format ?? OutputFormat.html.name
            guard let format = OutputFormat(name: formatName) else {
                return .failure(ControlRequestError("unknown format '\(shortened(formatName))'; use \(OutputFormat.listed(\.name))"))
            }
            var window: Duration?
            if let milliseconds = wire.windowMilliseconds {
                guard milliseconds > 0 else {
                    return .failure(ControlRequestError("the window must be a positive duration"))
                }
                window = .milliseconds(milliseconds)
            }
            let processes = ProcessFilter(pids: wire.pids, comm: wire.comm, container: wire.container)
            return .success(.snapshot(SnapshotRequest(format: format, window: window, processes: processes)))
        default:
            return .failure(ControlRequestError("unknown command '\(shortened(wire.command))'"))
        }
    }

    private static let statusName = "status"
    private static let snapshotName = "snapshot"

    /// `duration` in whole milliseconds, saturating at the ends of Int64.
    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if carry { return whole < 0 ? .min : .max }
        return total
    }

    /// A name from a client, cut to a length that fits an error line.
    private static func shortened(_ name: String) -> String {
        name.count <= 64 ? name : name.prefix(64) + "…"
    }
}

/// What `flamed snapshot` asks the daemon for.
public struct SnapshotRequest: Sendable, Equatable {
    /// The format of the reply's body.
    public var format: OutputFormat
    /// Only the last this much of the window (positive); nil for the whole window.
    public var window: Duration?
    /// The processes kept.
    public var processes: ProcessFilter

    public init(format: OutputFormat = .html, window: Duration? = nil, processes: ProcessFilter = ProcessFilter()) {
        self.format = format
        self.window = window
        self.processes = processes
    }
}

/// Why a request line was refused: the message of its `error` reply.
public struct ControlRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A request as it travels: flat optional fields, checked by `ControlCommand.decode`.
private struct WireRequest: Codable {
    var command: String
    var format: String?
    var windowMilliseconds: Int64?
    var pids: [Int32]?
    var comm: String?
    var container: String?

    init(command: String) { self.command = command }
}

/// The reply header: `ok <byte count>` followed by the body, or `error <message>`.
public enum ControlReply {
    public static func ok(_ body: [UInt8]) -> [UInt8] { Array("ok \(body.count)\n".utf8) + body }
    public static func error(_ message: String) -> [UInt8] {
        Array("error ".utf8) + message.utf8.map { $0 == 10 || $0 == 13 ? 32 : $0 } + [10]
    }
}
