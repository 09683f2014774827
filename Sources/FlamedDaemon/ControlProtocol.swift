import FoundationEssentials

/// A request on the control socket: one line of JSON.
public struct ControlRequest: Codable, Sendable, Equatable {
    /// "snapshot" or "status".
    public var command: String
    /// For snapshots: html, json or folded.
    public var format: String?
    /// For snapshots: only the last this many seconds of the window.
    public var windowSeconds: Double?
    public var pids: [Int32]?
    public var comm: String?
    /// For snapshots: only processes in this container (a short or full id).
    public var container: String?

    public init(command: String, format: String? = nil, windowSeconds: Double? = nil, pids: [Int32]? = nil, comm: String? = nil,
                container: String? = nil) {
        self.command = command
        self.format = format
        self.windowSeconds = windowSeconds
        self.pids = pids
        self.comm = comm
        self.container = container
    }

    /// Most bytes a request line may have.
    public static let maximumSize = 4096

    /// The request as one line.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    /// Parses a request line (without its newline).
    public static func decode(_ line: [UInt8]) -> ControlRequest? {
        try? JSONDecoder().decode(ControlRequest.self, from: Data(line))
    }
}

/// The reply header: `ok <byte count>` followed by the body, or `error <message>`.
public enum ControlReply {
    public static func ok(_ body: [UInt8]) -> [UInt8] { Array("ok \(body.count)\n".utf8) + body }
    public static func error(_ message: String) -> [UInt8] {
        Array("error ".utf8) + message.utf8.map { $0 == 10 || $0 == 13 ? 32 : $0 } + [10]
    }
}
