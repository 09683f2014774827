import FlameRender
import FlamedLive
import FlamedSystem

/// The daemon's settings, from /etc/flamed/flamed.toml and the command line.
public struct DaemonConfig: Sendable, Equatable {
    /// `[sampling]`: what the daemon samples and how often.
    public struct Sampling: Sendable, Equatable {
        /// Samples per second per CPU.
        public var frequency: UInt64 = 99
        /// An event name from `EventCatalog`.
        public var event = "cpu-clock"
        /// Whether to record call chains (without them stacks are one frame deep).
        public var callchain = true
        /// Whether stacks include kernel frames.
        public var kernel = true
    }

    /// `[window]`: the rolling window of recent stacks.
    public struct Window: Sendable, Equatable {
        /// How far back the window reaches.
        public var duration: Duration = .seconds(300)
        /// Most distinct stacks kept; beyond it the rarest are folded away.
        public var maxStacks = 20_000
    }

    /// `[snapshot]`: flame graphs written to disk.
    public struct Snapshot: Sendable, Equatable {
        /// Where snapshots are written.
        public var directory = "/var/lib/flamed"
        /// Time between snapshots; nil writes them only on request ("off").
        public var interval: Duration? = .seconds(600)
        /// Formats written per snapshot, each once.
        public var formats: [OutputFormat] = [.html]
        /// Snapshots kept; older ones are deleted.
        public var keep = 10
    }

    /// `[control]`: the socket that `flamed` commands talk to the daemon through.
    public struct Control: Sendable, Equatable {
        /// The Unix socket's path.
        public var socket = "/run/flamed/flamed.sock"
        /// The group the socket belongs to (its members may use it); nil leaves it root's.
        public var group: String? = nil
    }

    public var sampling = Sampling()
    public var window = Window()
    public var snapshot = Snapshot()
    public var control = Control()

    public init() {}

    /// The tables and keys the file may contain, in the order the shipped file lists them.
    static let schema: [(table: String, keys: [String])] = [
        ("sampling", ["frequency", "event", "callchain", "kernel"]),
        ("window", ["duration", "max_stacks"]),
        ("snapshot", ["directory", "interval", "formats", "keep"]),
        ("control", ["socket", "group"]),
    ]

    /// Parses TOML text; `path` names the file in errors.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> DaemonConfig {
        let document = try TOMLDocument(parsing: text, path: path)
        var items: [(line: Int, table: String, key: String?, value: TOMLValue?)] =
            document.headerLines.map { ($0.value, $0.key, nil, nil) }
        for (table, entries) in document.tables {
            items += entries.map { ($0.value.line, table, $0.key, $0.value.value) }
        }
        var config = DaemonConfig()
        for item in items.sorted(by: { $0.line < $1.line }) {
            guard let key = item.key, let value = item.value else {
                try checkTable(item.table, line: item.line, path: path)
                continue
            }
            let setting = Setting(path: path, line: item.line, table: item.table, key: key, value: value)
            try config.apply(setting)
        }
        return config
    }

    /// Reads and parses a file (missing/unreadable file is a ConfigError naming it).
    public static func load(path: String) throws(ConfigError) -> DaemonConfig {
        let view: ByteView
        switch FileReader.map(path: path) {
        case .success(let mapped): view = mapped
        case .failure(let error): throw ConfigError(path: path, message: error.reason)
        }
        guard let bytes = view.bytes(0, view.count), let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(path: path, message: "not valid UTF-8 text")
        }
        return try parse(text, path: path)
    }

    private static func checkTable(_ table: String, line: Int, path: String) throws(ConfigError) {
        let tables = schema.map(\.table)
        if tables.contains(table) { return }
        let hint = closest(to: table, in: tables).map { "did you mean [\($0)]?" }
            ?? "known tables: " + tables.map { "[\($0)]" }.joined(separator: ", ")
        throw ConfigError(path: path, line: line, message: "unknown table [\(table)] (\(hint))")
    }

    private mutating func apply(_ setting: Setting) throws(ConfigError) {
        switch (setting.table, setting.key) {
        case ("sampling", "frequency"): sampling.frequency = UInt64(try setting.integer(1...100_000))
        case ("sampling", "event"): sampling.event = try setting.oneOf(EventCatalog.names)
        case ("sampling", "callchain"): sampling.callchain = try setting.boolean()
        case ("sampling", "kernel"): sampling.kernel = try setting.boolean()
        case ("window", "duration"): window.duration = try setting.duration(.seconds(1) ... .seconds(86_400))
        case ("window", "max_stacks"): window.maxStacks = try setting.integer(100...10_000_000)
        case ("snapshot", "directory"): snapshot.directory = try setting.absolutePath()
        case ("snapshot", "interval"):
            snapshot.interval = setting.value == .string("off")
                ? nil : try setting.duration(.seconds(1) ... .seconds(86_400), or: "\"off\"")
        case ("snapshot", "formats"): snapshot.formats = try setting.formats()
        case ("snapshot", "keep"): snapshot.keep = try setting.integer(1...100_000)
        case ("control", "socket"): control.socket = try setting.socketPath()
        case ("control", "group"): control.group = try setting.groupName()
        default: throw setting.unknownKey()
        }
    }
}

/// The name within `names` nearest to `name`, if at most two edits away.
private func closest(to name: String, in names: [String]) -> String? {
    names.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
}

/// Levenshtein distance: insertions, deletions and substitutions turning `a` into `b`.
private func editDistance(_ a: String, _ b: String) -> Int {
    let b = Array(b)
    var previous = Array(0...b.count)
    for (i, x) in a.enumerated() {
        var row = [i + 1]
        for (j, y) in b.enumerated() {
            row.append(min(previous[j + 1] + 1, row[j] + 1, previous[j] + (x == y ? 0 : 1)))
        }
        previous = row
    }
    return previous[b.count]
}

/// One `key = value` of the file, with the checks that turn it into a setting.
private struct Setting {
    let path: String
    let line: Int
    let table: String
    let key: String
    let value: TOMLValue

    /// `[table] key: expected <expected>, got <value>`.
    func fail(_ expected: String) -> ConfigError {
        ConfigError(path: path, line: line, message: "[\(table)] \(key): expected \(expected), got \(value)")
    }

    func unknownKey() -> ConfigError {
        if table.isEmpty {
            let home = DaemonConfig.schema.first { $0.keys.contains(key) }.map { "it belongs in [\($0.table)]" }
                ?? "keys belong in a table: " + DaemonConfig.schema.map { "[\($0.table)]" }.joined(separator: ", ")
            return ConfigError(path: path, line: line, message: "unknown key '\(key)' outside any table (\(home))")
        }
        let keys = DaemonConfig.schema.first { $0.table == table }?.keys ?? []
        let hint = closest(to: key, in: keys).map { "did you mean '\($0)'?" }
            ?? "known keys: " + keys.joined(separator: ", ")
        return ConfigError(path: path, line: line, message: "unknown key '\(key)' in [\(table)] (\(hint))")
    }

    func integer(_ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .integer(let number) = value else { throw fail("an integer") }
        guard range.contains(number) else {
            throw fail("an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func boolean() throws(ConfigError) -> Bool {
        guard case .boolean(let flag) = value else { throw fail("true or false") }
        return flag
    }

    func string() throws(ConfigError) -> String {
        guard case .string(let text) = value else { throw fail("a string") }
        return text
    }

    func oneOf(_ names: [String]) throws(ConfigError) -> String {
        let text = try string()
        guard names.contains(text) else { throw fail("one of " + list(names.map(quoted))) }
        return text
    }

    func absolutePath() throws(ConfigError) -> String {
        let text = try string()
        guard text.hasPrefix("/") else { throw fail("an absolute path (starting with '/')") }
        return text
    }

    /// An absolute path that fits a Unix socket address (107 bytes and a NUL).
    func socketPath() throws(ConfigError) -> String {
        let text = try absolutePath()
        guard text.utf8.count <= 107 else { throw fail("a socket path of at most 107 bytes") }
        return text
    }

    func groupName() throws(ConfigError) -> String {
        let text = try string()
        guard !text.isEmpty else { throw fail("a group name") }
        return text
    }

    /// A duration string within `range`; `alternative` names another accepted value.
    func duration(_ range: ClosedRange<Duration>, or alternative: String? = nil) throws(ConfigError) -> Duration {
        let orElse = alternative.map { " or \($0)" } ?? ""
        guard case .string(let text) = value, let duration = parseDuration(text) else {
            let examples = ["\"30s\"", "\"5m\"", "\"1h30m\""] + (alternative.map { [$0] } ?? [])
            throw fail("a duration such as " + list(examples))
        }
        guard range.contains(duration) else {
            throw fail("a duration from \(format(range.lowerBound)) to \(format(range.upperBound))\(orElse)")
        }
        return duration
    }

    /// A non-empty array of distinct names from the format registry.
    func formats() throws(ConfigError) -> [OutputFormat] {
        let allowed = list(OutputFormat.names.map(quoted))
        guard case .array(let items) = value, !items.isEmpty else {
            throw fail("a non-empty array of formats from \(allowed)")
        }
        var formats: [OutputFormat] = []
        for item in items {
            guard case .string(let name) = item, let format = OutputFormat(name: name) else {
                throw ConfigError(path: path, line: line,
                                  message: "[\(table)] \(key): unknown format \(item) (expected \(allowed))")
            }
            guard !formats.contains(format) else {
                throw ConfigError(path: path, line: line, message: "[\(table)] \(key): \(item) is listed twice")
            }
            formats.append(format)
        }
        return formats
    }
}

/// "a", "a or b", "a, b or c".
private func list(_ items: [String]) -> String {
    items.count < 2 ? items.joined() : items.dropLast().joined(separator: ", ") + " or " + items[items.count - 1]
}

/// A whole number of seconds as the largest unit that divides it: "1s", "5m", "24h".
private func format(_ duration: Duration) -> String {
    let seconds = duration.components.seconds
    if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
    if seconds % 60 == 0 { return "\(seconds / 60)m" }
    return "\(seconds)s"
}

/// Parses "30s", "5m", "1h", "250ms" and combinations from the largest unit down ("1h30m",
/// "2m30s"): integer amounts, each unit at most once. Returns nil for anything else. "0s"
/// parses (as zero); callers that need a positive duration check the range.
public func parseDuration(_ text: String) -> Duration? {
    let units: [(name: String, milliseconds: Int64)] = [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    var rest = Substring(text)
    var nextUnit = 0
    var total: Duration = .zero
    guard !rest.isEmpty else { return nil }
    while !rest.isEmpty {
        let digits = rest.prefix { ("0"..."9").contains($0) }
        guard !digits.isEmpty, digits.count <= 12, let amount = Int64(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        let name = rest.prefix { ("a"..."z").contains($0) }
        rest = rest.dropFirst(name.count)
        guard let unit = units[nextUnit...].firstIndex(where: { $0.name == name }) else { return nil }
        total += .milliseconds(amount * units[unit].milliseconds)
        nextUnit = unit + 1
    }
    return total
}

/// A configuration problem, as one line: `path:line: message` (or `path: message` for a file
/// that cannot be read).
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The configuration file.
    public let path: String
    /// The 1-based line the problem is on, if it is on one.
    public let line: Int?
    /// What is wrong and what is allowed.
    public let message: String
    public let description: String

    public init(path: String, line: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.message = message
        description = (line.map { "\(path):\($0): " } ?? "\(path): ") + message
    }
}
