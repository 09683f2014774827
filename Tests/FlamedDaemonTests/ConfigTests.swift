import FlameRender
@testable import FlamedDaemon
import FlamedSystem
import Testing

// Tests of the daemon's configuration file: the TOML subset, the keys and their checks, the
// one-line errors, and the shipped config/flamed.toml.

/// The package root, found from this file's path (Tests/FlamedDaemonTests/ConfigTests.swift).
private let packageRoot = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    .dropLast(3).joined(separator: "/")

/// The error parsing `text` as flamed.toml throws, or nil (and a failed expectation) if none.
private func parseError(_ text: String) -> ConfigError? {
    #expect(throws: ConfigError.self) { try DaemonConfig.parse(text, path: "flamed.toml") }
}

@Test func emptyFileGivesDefaults() throws {
    #expect(try DaemonConfig.parse("", path: "flamed.toml") == DaemonConfig())
    let blank = "\n  # only comments\n\n[sampling]\n\t\n[window] # no keys\n"
    #expect(try DaemonConfig.parse(blank, path: "flamed.toml") == DaemonConfig())
}

@Test func defaultsAreTheDocumentedOnes() {
    let config = DaemonConfig()
    #expect(config.sampling == .init(frequency: 99, event: "cpu-clock", callchain: true, kernel: true))
    #expect(config.window == .init(duration: .seconds(300), maxStacks: 20_000))
    #expect(config.snapshot == .init(directory: "/var/lib/flamed", interval: .seconds(600), formats: [.html], keep: 10))
    #expect(config.control == .init(socket: "/run/flamed/flamed.sock", group: nil))
}

@Test func fullFileSetsEveryKey() throws {
    let text = """
    # every key, none at its default
    [sampling]
    frequency = +4_999
    event = 'task-clock'   # a literal string
    callchain = false
    kernel = false

    [ window ]
    duration = "1h30m"
    max_stacks = 1_000_000

    [snapshot]
    directory = "/srv/fl\\u0061med"
    interval = "90s"
    formats = [
        "folded",  # one per line
        'json',
        "html",
    ]
    keep = 3

    [control]
    socket = "/tmp/flamed.sock"
    group = "adm"
    """
    var expected = DaemonConfig()
    expected.sampling = .init(frequency: 4999, event: "task-clock", callchain: false, kernel: false)
    expected.window = .init(duration: .seconds(5400), maxStacks: 1_000_000)
    expected.snapshot = .init(directory: "/srv/flamed", interval: .seconds(90), formats: [.folded, .json, .html], keep: 3)
    expected.control = .init(socket: "/tmp/flamed.sock", group: "adm")
    #expect(try DaemonConfig.parse(text, path: "flamed.toml") == expected)
}

@Test func everyRegisteredFormatIsASnapshotFormat() throws {
    for format in OutputFormat.allCases {
        let config = try DaemonConfig.parse("[snapshot]\nformats = [\"\(format.name)\"]\n", path: "flamed.toml")
        #expect(config.snapshot.formats == [format])
    }
    let names = OutputFormat.names.reversed().map { "\"\($0)\"" }.joined(separator: ", ")
    let all = try DaemonConfig.parse("[snapshot]\nformats = [\(names)]\n", path: "flamed.toml")
    #expect(all.snapshot.formats == OutputFormat.allCases.reversed())
    let error = try #require(parseError("[snapshot]\nformats = [\"pprof\"]\n"))
    #expect(error.description == #"flamed.toml:2: [snapshot] formats: unknown format "pprof" (expected "html", "json" or "folded")"#)
}

@Test func intervalOffMeansNoPeriodicSnapshots() throws {
    let config = try DaemonConfig.parse("[snapshot]\ninterval = \"off\"\n", path: "flamed.toml")
    #expect(config.snapshot.interval == nil)
}

@Test func windowsLineEndingsAreAccepted() throws {
    let config = try DaemonConfig.parse("[sampling]\r\nfrequency = 49\r\n", path: "flamed.toml")
    #expect(config.sampling.frequency == 49)
}

@Test func parsesDurations() {
    #expect(parseDuration("30s") == .seconds(30))
    #expect(parseDuration("5m") == .seconds(300))
    #expect(parseDuration("1h") == .seconds(3600))
    #expect(parseDuration("250ms") == .milliseconds(250))
    #expect(parseDuration("1h30m") == .seconds(5400))
    #expect(parseDuration("2m30s500ms") == .milliseconds(150_500))
    #expect(parseDuration("0s") == .zero)
    for bad in ["", "s", "10", "1.5h", "-5s", "5 m", "5min", "30s1m", "1m1m", "5d", "1000000000000s"] {
        #expect(parseDuration(bad) == nil, "\(bad)")
    }
}

@Test func parsesTOMLValues() throws {
    let text = """
    top = -12
    [t]
    escaped = "a\\"b\\\\c\\nd\\te\\u00e9"
    literal = 'C:\\path'
    empty = []
    numbers = [1, 2_000,
      3]
    """
    let document = try TOMLDocument(parsing: text, path: "x.toml")
    #expect(document.tables[""]?["top"] == TOMLEntry(value: .integer(-12), line: 1))
    #expect(document.headerLines == ["t": 2])
    let table = try #require(document.tables["t"])
    #expect(table["escaped"]?.value == .string("a\"b\\c\nd\te\u{e9}"))
    #expect(table["literal"]?.value == .string("C:\\path"))
    #expect(table["empty"]?.value == .array([]))
    #expect(table["numbers"] == TOMLEntry(value: .array([.integer(1), .integer(2000), .integer(3)]), line: 6))
}

/// A file that must fail, the line it fails on, and text the message must contain.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let text: String
    let line: Int
    let fragments: [String]
    var testDescription: String { name }
}

@Test(arguments: [
    ErrorCase(name: "unknown key with a suggestion", text: "[sampling]\nevent = \"cycles\"\n\n# typo below\nfrequncy = 10\n",
              line: 5, fragments: ["unknown key 'frequncy' in [sampling]", "(did you mean 'frequency'?)"]),
    ErrorCase(name: "unknown key far from any", text: "[window]\ncolour = 1\n",
              line: 2, fragments: ["unknown key 'colour' in [window]", "known keys: duration, max_stacks"]),
    ErrorCase(name: "key outside any table", text: "# top\nfrequency = 10\n",
              line: 2, fragments: ["unknown key 'frequency' outside any table", "[sampling]"]),
    ErrorCase(name: "unknown table", text: "[sampling]\n\n[snapshots]\nkeep = 1\n",
              line: 3, fragments: ["unknown table [snapshots]", "did you mean [snapshot]?"]),
    ErrorCase(name: "string for an integer", text: "[window]\nduration = \"5m\"\nmax_stacks = \"lots\"\n",
              line: 3, fragments: ["[window] max_stacks: expected an integer, got \"lots\""]),
    ErrorCase(name: "integer for a boolean", text: "[sampling]\nkernel = 1\n",
              line: 2, fragments: ["[sampling] kernel: expected true or false, got 1"]),
    ErrorCase(name: "frequency out of range", text: "[sampling]\nfrequency = 0\n",
              line: 2, fragments: ["[sampling] frequency", "from 1 to 100000", "got 0"]),
    ErrorCase(name: "max_stacks out of range", text: "[window]\n\nmax_stacks = 99\n",
              line: 3, fragments: ["[window] max_stacks", "from 100 to 10000000", "got 99"]),
    ErrorCase(name: "unknown event", text: "[sampling]\nevent = \"cpu-cycle\"\n",
              line: 2, fragments: ["[sampling] event", "\"cpu-clock\"", "got \"cpu-cycle\""]),
    ErrorCase(name: "bad duration", text: "[window]\nduration = \"5 minutes\"\n",
              line: 2, fragments: ["[window] duration", "expected a duration", "got \"5 minutes\""]),
    ErrorCase(name: "zero duration", text: "[window]\nduration = \"0s\"\n",
              line: 2, fragments: ["[window] duration", "from 1s to 24h", "got \"0s\""]),
    ErrorCase(name: "window too long", text: "[window]\nduration = \"25h\"\n",
              line: 2, fragments: ["[window] duration", "from 1s to 24h"]),
    ErrorCase(name: "interval neither duration nor off", text: "[snapshot]\ninterval = \"never\"\n",
              line: 2, fragments: ["[snapshot] interval", "or \"off\"", "got \"never\""]),
    ErrorCase(name: "interval off without quotes", text: "[snapshot]\ninterval = off\n",
              line: 2, fragments: ["expected a value", "got \"off\""]),
    ErrorCase(name: "bad format name", text: "[snapshot]\nformats = [\"html\",\n  \"svg\"]\n",
              line: 2, fragments: ["[snapshot] formats: unknown format \"svg\"", "\"folded\""]),
    ErrorCase(name: "format listed twice", text: "[snapshot]\nformats = [\"json\", \"json\"]\n",
              line: 2, fragments: ["[snapshot] formats", "\"json\" is listed twice"]),
    ErrorCase(name: "no formats", text: "[snapshot]\nformats = []\n",
              line: 2, fragments: ["[snapshot] formats", "non-empty array"]),
    ErrorCase(name: "formats not an array", text: "[snapshot]\nformats = \"html\"\n",
              line: 2, fragments: ["[snapshot] formats", "got \"html\""]),
    ErrorCase(name: "relative directory", text: "[snapshot]\ndirectory = \"var/lib\"\n",
              line: 2, fragments: ["[snapshot] directory", "absolute path"]),
    ErrorCase(name: "socket path too long", text: "[control]\nsocket = \"/\(String(repeating: "s", count: 120))\"\n",
              line: 2, fragments: ["[control] socket", "at most 107 bytes"]),
    ErrorCase(name: "keep out of range", text: "[snapshot]\nkeep = 0\n",
              line: 2, fragments: ["[snapshot] keep", "from 1 to 100000"]),
    ErrorCase(name: "duplicate key", text: "[sampling]\nkernel = true\n\nkernel = false\n",
              line: 4, fragments: ["duplicate key 'kernel' in [sampling]", "first set on line 2"]),
    ErrorCase(name: "duplicate table", text: "[control]\n[window]\n[control]\n",
              line: 3, fragments: ["duplicate table [control]", "first on line 1"]),
    ErrorCase(name: "unterminated string", text: "[control]\nsocket = \"/run/flamed.sock\n",
              line: 2, fragments: ["unterminated string"]),
    ErrorCase(name: "unterminated literal string", text: "[control]\ngroup = 'adm\n",
              line: 2, fragments: ["unterminated string"]),
    ErrorCase(name: "unterminated array", text: "[snapshot]\nformats = [\"html\",\n\n",
              line: 2, fragments: ["unterminated array"]),
    ErrorCase(name: "garbage line", text: "[sampling]\nkernel = true\n!!!\n",
              line: 3, fragments: ["expected 'key = value', a [table] header or a comment, got '!'"]),
    ErrorCase(name: "words without '='", text: "[sampling]\nthis is not toml\n",
              line: 2, fragments: ["expected '=' after 'this'"]),
    ErrorCase(name: "value followed by junk", text: "[sampling]\nfrequency = 99 99\n",
              line: 2, fragments: ["unexpected '9' after the value of 'frequency'"]),
    ErrorCase(name: "bad escape", text: "[control]\ngroup = \"a\\qb\"\n",
              line: 2, fragments: ["unsupported escape '\\q'"]),
    ErrorCase(name: "newline escape kept on one line", text: "[sampling]\nevent = \"a\\nb\"\n",
              line: 2, fragments: ["got \"a\\nb\""]),
    ErrorCase(name: "float", text: "[sampling]\nfrequency = 1.5\n",
              line: 2, fragments: ["expected a value", "got \"1.5\""]),
    ErrorCase(name: "leading zero", text: "[sampling]\nfrequency = 099\n",
              line: 2, fragments: ["got \"099\""]),
    ErrorCase(name: "integer too large", text: "[sampling]\nfrequency = 99999999999999999999\n",
              line: 2, fragments: ["too large"]),
    ErrorCase(name: "dotted key", text: "[sampling]\na.b = 1\n",
              line: 2, fragments: ["dotted keys"]),
    ErrorCase(name: "nested table", text: "[sampling.x]\n",
              line: 1, fragments: ["nested tables"]),
    ErrorCase(name: "array of tables", text: "\n[[sampling]]\n",
              line: 2, fragments: ["arrays of tables"]),
    ErrorCase(name: "mixed array", text: "[snapshot]\nformats = [\"html\", 1]\n",
              line: 2, fragments: ["one type"]),
    ErrorCase(name: "inline table", text: "[control]\ngroup = { name = \"adm\" }\n",
              line: 2, fragments: ["expected a value", "got \"{\""]),
    ErrorCase(name: "multi-line string", text: "[control]\ngroup = \"\"\"adm\"\"\"\n",
              line: 2, fragments: ["multi-line strings"]),
])
func errorNamesKeyAndLine(_ errorCase: ErrorCase) throws {
    let error = try #require(parseError(errorCase.text))
    #expect(error.line == errorCase.line)
    #expect(error.description.hasPrefix("flamed.toml:\(errorCase.line): "), "\(error)")
    #expect(!error.description.contains("\n"), "\(error)")
    for fragment in errorCase.fragments {
        #expect(error.description.contains(fragment), "\(error) lacks \(fragment)")
    }
}

@Test func shippedConfigParsesToTheDefaults() throws {
    let path = packageRoot + "/config/flamed.toml"
    #expect(try DaemonConfig.load(path: path) == DaemonConfig())
}

@Test func shippedConfigDocumentsEveryKey() throws {
    let path = packageRoot + "/config/flamed.toml"
    let view = try FileReader.map(path: path).get()
    let lines = String(decoding: try #require(view.bytes(0, view.count)), as: UTF8.self).split(separator: "\n")
    for (table, keys) in DaemonConfig.schema {
        #expect(lines.contains("[\(table)]"), "[\(table)]")
        for key in keys {
            #expect(lines.contains { $0.hasPrefix("\(key) = ") || $0.hasPrefix("# \(key) = ") }, "\(key)")
        }
    }
}

@Test func missingFileNamesThePath() {
    let error = #expect(throws: ConfigError.self) { try DaemonConfig.load(path: "/nonexistent/flamed.toml") }
    #expect(error?.description.hasPrefix("/nonexistent/flamed.toml: ") == true)
    #expect(error?.line == nil)
}
