// A strict parser for the part of TOML that flamed's configuration uses: comments, blank
// lines, `[table]` headers, and `key = value` lines whose values are strings, integers,
// booleans, or arrays of strings or integers. Everything else is an error with its line.

/// A value in the TOML subset flamed's configuration file uses.
public enum TOMLValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    /// Strings or integers, all of one type.
    case array([TOMLValue])

    /// The value written as TOML, on one line: `"lots"`, `12`, `true`, `["html", "json"]`.
    public var description: String {
        switch self {
        case .string(let text): return quoted(text)
        case .integer(let number): return String(number)
        case .boolean(let flag): return String(flag)
        case .array(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// A key's value and the line that set it.
public struct TOMLEntry: Sendable, Equatable {
    public let value: TOMLValue
    public let line: Int
}

/// A parsed document: keys by table, with the keys above the first header under table "".
public struct TOMLDocument: Sendable, Equatable {
    /// Each table's keys, with their values and lines.
    public var tables: [String: [String: TOMLEntry]] = [:]
    /// The line of each `[table]` header.
    public var headerLines: [String: Int] = [:]

    /// Parses `text`; `path` names the file in errors.
    public init(parsing text: String, path: String) throws(ConfigError) {
        var parser = TOMLParser(scalars: Array(text.unicodeScalars), path: path)
        self = try parser.document()
    }

    init() {}
}

/// `text` as a TOML basic string, with quotes, backslashes and control characters escaped.
func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case _ where isControl(scalar):
            let hex = String(scalar.value, radix: 16, uppercase: true)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || scalar.value == 0x7F
}

private func isBareKeyCharacter(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "A"..."Z", "a"..."z", "0"..."9", "_", "-": return true
    default: return false
    }
}

/// A cursor over the document's scalars that knows its line.
private struct TOMLParser {
    let scalars: [Unicode.Scalar]
    let path: String
    var index = 0
    var line = 1

    var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    func peek(_ offset: Int) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    func fail(_ message: String, line: Int? = nil) -> ConfigError {
        ConfigError(path: path, line: line ?? self.line, message: message)
    }

    /// How the current scalar reads in a message: `'x'`, `'\n'` or `the end of the file`.
    var shown: String {
        guard let scalar = current else { return "the end of the file" }
        return "'\(scalar.escaped(asASCII: false))'"
    }

    mutating func document() throws(ConfigError) -> TOMLDocument {
        var document = TOMLDocument()
        var table = ""
        while current != nil {
            skipSpaces()
            if current == "[" {
                table = try header(into: &document)
                try endLine(after: "[\(table)]")
            } else if let scalar = current, isBareKeyCharacter(scalar) {
                let key = try keyValue(into: &document, table: table)
                try endLine(after: "the value of '\(key)'")
            } else {
                try endLine(after: nil)
            }
        }
        return document
    }

    mutating func skipSpaces() {
        while current == " " || current == "\t" { index += 1 }
    }

    mutating func skipComment() {
        guard current == "#" else { return }
        while let scalar = current, scalar != "\n" { index += 1 }
    }

    mutating func consumeNewline() -> Bool {
        if current == "\n" {
            index += 1
        } else if current == "\r", peek(1) == "\n" {
            index += 2
        } else {
            return false
        }
        line += 1
        return true
    }

    /// Skips spaces and a comment, then consumes the end of the line (or of the file).
    mutating func endLine(after what: String?) throws(ConfigError) {
        skipSpaces()
        skipComment()
        if current == nil || consumeNewline() { return }
        if let what { throw fail("unexpected \(shown) after \(what)") }
        throw fail("expected 'key = value', a [table] header or a comment, got \(shown)")
    }

    /// Skips spaces, comments and line breaks, as allowed between array items.
    mutating func skipBlank() {
        repeat {
            skipSpaces()
            skipComment()
        } while consumeNewline()
    }

    mutating func bareKey(_ what: String) throws(ConfigError) -> String {
        var key = String.UnicodeScalarView()
        while let scalar = current, isBareKeyCharacter(scalar) {
            key.append(scalar)
            index += 1
        }
        if key.isEmpty {
            throw fail("expected \(what) (letters, digits, '_' and '-'), got \(shown)")
        }
        return String(key)
    }

    mutating func header(into document: inout TOMLDocument) throws(ConfigError) -> String {
        index += 1
        if current == "[" { throw fail("arrays of tables ([[...]]) are not supported") }
        skipSpaces()
        let name = try bareKey("a table name")
        skipSpaces()
        if current == "." { throw fail("nested tables ([\(name).x]) are not supported") }
        guard current == "]" else { throw fail("expected ']' after '[\(name)', got \(shown)") }
        index += 1
        if let first = document.headerLines[name] {
            throw fail("duplicate table [\(name)] (first on line \(first))")
        }
        document.headerLines[name] = line
        document.tables[name, default: [:]] = [:]
        return name
    }

    mutating func keyValue(into document: inout TOMLDocument, table: String) throws(ConfigError) -> String {
        let keyLine = line
        let key = try bareKey("a key")
        skipSpaces()
        if current == "." { throw fail("dotted keys ('\(key).x') are not supported") }
        guard current == "=" else { throw fail("expected '=' after '\(key)', got \(shown)") }
        index += 1
        if let first = document.tables[table]?[key] {
            let place = table.isEmpty ? "" : " in [\(table)]"
            throw fail("duplicate key '\(key)'\(place) (first set on line \(first.line))")
        }
        skipSpaces()
        let value = try value(inArray: false)
        document.tables[table, default: [:]][key] = TOMLEntry(value: value, line: keyLine)
        return key
    }

    mutating func value(inArray: Bool) throws(ConfigError) -> TOMLValue {
        switch current {
        case "\"": return .string(try basicString())
        case "'": return .string(try literalString())
        case "[":
            if inArray { throw fail("nested arrays are not supported") }
            return try array()
        default: return try bareValue()
        }
    }

    /// A boolean or an integer: optional sign, decimal digits, single underscores between them.
    mutating func bareValue() throws(ConfigError) -> TOMLValue {
        var token = String.UnicodeScalarView()
        while let scalar = current, !" \t\r\n#,]".unicodeScalars.contains(scalar) {
            token.append(scalar)
            index += 1
        }
        let text = String(token)
        if text.isEmpty { throw fail("expected a value, got \(shown)") }
        if text == "true" || text == "false" { return .boolean(text == "true") }
        var digits = Substring(text)
        if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
        let wellFormed = !digits.isEmpty && digits.first != "_" && digits.last != "_"
            && !digits.contains("__") && digits.allSatisfy { $0 == "_" || ("0"..."9").contains($0) }
            && !(digits.count > 1 && digits.first == "0")
        guard wellFormed else {
            throw fail("expected a value (a quoted string, an integer, true, false or an array), got \(quoted(text))")
        }
        guard let number = Int(text.filter { $0 != "_" }) else { throw fail("integer \(text) is too large") }
        return .integer(number)
    }

    mutating func basicString() throws(ConfigError) -> String {
        if peek(1) == "\"", peek(2) == "\"" { throw fail("multi-line strings (\"\"\") are not supported") }
        index += 1
        var result = String.UnicodeScalarView()
        while true {
            guard let scalar = current, scalar != "\n", scalar != "\r" else { throw fail("unterminated string") }
            index += 1
            switch scalar {
            case "\"": return String(result)
            case "\\": result.append(try escape())
            case _ where isControl(scalar) && scalar != "\t":
                throw fail("control character '\(scalar.escaped(asASCII: true))' in a string")
            default: result.append(scalar)
            }
        }
    }

    /// The scalar an escape after a backslash stands for: \" \\ \n \t \uXXXX.
    mutating func escape() throws(ConfigError) -> Unicode.Scalar {
        guard let scalar = current, scalar != "\n", scalar != "\r" else { throw fail("unterminated string") }
        index += 1
        switch scalar {
        case "\"", "\\": return scalar
        case "n": return "\n"
        case "t": return "\t"
        case "u":
            guard index + 4 <= scalars.count else { throw fail("\\u needs four hex digits") }
            let hex = String(String.UnicodeScalarView(scalars[index..<index + 4]))
            guard hex.allSatisfy(\.isHexDigit), let value = UInt32(hex, radix: 16),
                  let escaped = Unicode.Scalar(value)
            else { throw fail("\\u\(hex) is not a Unicode scalar (four hex digits)") }
            index += 4
            return escaped
        default:
            throw fail("unsupported escape '\\\(scalar.escaped(asASCII: true))' (use \\\" \\\\ \\n \\t or \\uXXXX)")
        }
    }

    mutating func literalString() throws(ConfigError) -> String {
        if peek(1) == "'", peek(2) == "'" { throw fail("multi-line strings (''') are not supported") }
        index += 1
        var result = String.UnicodeScalarView()
        while true {
            guard let scalar = current, scalar != "\n", scalar != "\r" else { throw fail("unterminated string") }
            index += 1
            if scalar == "'" { return String(result) }
            if isControl(scalar) && scalar != "\t" {
                throw fail("control character '\(scalar.escaped(asASCII: true))' in a string")
            }
            result.append(scalar)
        }
    }

    /// `[a, b, ...]`, possibly over several lines, with comments and a trailing comma.
    mutating func array() throws(ConfigError) -> TOMLValue {
        let startLine = line
        index += 1
        var items: [TOMLValue] = []
        while true {
            skipBlank()
            if current == "]" { break }
            if current == nil { throw fail("unterminated array (no ']')", line: startLine) }
            let item = try value(inArray: true)
            switch (items.first, item) {
            case (_, .boolean), (_, .array): throw fail("arrays may hold only strings or integers")
            case (.string?, .integer), (.integer?, .string): throw fail("arrays must hold values of one type")
            default: items.append(item)
            }
            skipBlank()
            if current == "," {
                index += 1
            } else if current != "]" {
                if current == nil { throw fail("unterminated array (no ']')", line: startLine) }
                throw fail("expected ',' or ']' in an array, got \(shown)")
            }
        }
        index += 1
        return .array(items)
    }
}
