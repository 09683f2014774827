/// Demangles Rust symbol names, both manglings rustc has used:
///
/// - legacy (`_ZN…17h<16 hex digits>E`): Itanium-like length-prefixed path elements with
///   `$LT$`-style escapes and `..` for `::`, ending in a hash element;
/// - v0 (`_R…`, RFC 2603): paths, generic arguments, types, constants and back-references.
///
/// `verbose: false` prints what perf prints (rustc-demangle's alternate form): no legacy
/// `::h<hash>` element, no `[hash]` crate disambiguators and no type suffixes on constants.
/// `verbose: true` keeps all three. Pure Swift, no I/O; nil when the name is not a Rust
/// symbol or is malformed.
public enum RustDemangler {
    /// Names longer than this are not demangled (back-references can make output grow fast).
    static let maximumOutput = 1 << 16

    public static func demangle(_ name: String, verbose: Bool) -> String? {
        var bytes = Array(name.utf8)
        // ThinLTO renames local symbols with `.llvm.<digits>`; perf and rustc-demangle drop it.
        if let marker = find(Array(".llvm.".utf8), in: bytes) {
            let tail = bytes[(marker + 6)...]
            if tail.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || $0 == UInt8(ascii: "@") }) {
                bytes.removeSubrange(marker...)
            }
        }
        if bytes.starts(with: "_R".utf8) || bytes.starts(with: "__R".utf8) {
            return demangleV0(bytes, verbose: verbose)
        }
        if bytes.starts(with: "_ZN".utf8) || bytes.starts(with: "__ZN".utf8) {
            return demangleLegacy(bytes, verbose: verbose)
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }

    /// A suffix rustc-demangle keeps after a symbol (`.cold`, `.1`): printable ASCII only.
    static func isSymbolLike(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    // MARK: Legacy

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }

    /// `_ZN` {length element} `E` [suffix]; a Rust symbol only when the last element is the
    /// `h` + 16 hex digits hash (a C++ `_ZN…E` name has none and goes to the C++ demangler).
    static func demangleLegacy(_ bytes: [UInt8], verbose: Bool) -> String? {
        var index = bytes.starts(with: "__ZN".utf8) ? 4 : 3
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        var elements: [ArraySlice<UInt8>] = []
        while true {
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "E") {
                index += 1
                break
            }
            var length = 0
            guard bytes[index] >= 0x30 && bytes[index] <= 0x39 else { return nil }
            while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                length = length * 10 + Int(bytes[index] - 0x30)
                guard length <= bytes.count else { return nil }
                index += 1
            }
            guard length > 0, index + length <= bytes.count else { return nil }
            elements.append(bytes[index..<(index + length)])
            index += length
        }
        let suffix = bytes[index...]
        guard let hash = elements.last, elements.count >= 2, hash.count == 17, hash.first == UInt8(ascii: "h"),
              hash.dropFirst().allSatisfy(isHexDigit),
              suffix.isEmpty || (suffix.first == UInt8(ascii: ".") && isSymbolLike(suffix)) else { return nil }
        var out: [UInt8] = []
        for (position, element) in elements.enumerated() {
            if position == elements.count - 1 && !verbose { break }
            if position > 0 { out.append(contentsOf: "::".utf8) }
            unescapeLegacy(element, into: &out)
        }
        out.append(contentsOf: suffix)
        return String(decoding: out, as: UTF8.self)
    }

    /// One legacy path element: `$LT$` → `<` and the other escapes, `..` → `::`.
    static func unescapeLegacy(_ element: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var rest = element
        if rest.starts(with: "_$".utf8) { rest = rest.dropFirst() }
        while let byte = rest.first {
            if byte == UInt8(ascii: ".") {
                if rest.dropFirst().first == UInt8(ascii: ".") {
                    out.append(contentsOf: "::".utf8)
                    rest = rest.dropFirst(2)
                } else {
                    out.append(byte)
                    rest = rest.dropFirst()
                }
                continue
            }
            if byte == UInt8(ascii: "$") {
                guard let end = rest.dropFirst().firstIndex(of: UInt8(ascii: "$")) else { break }
                let escape = rest[(rest.startIndex + 1)..<end]
                let replacement: String?
                switch String(decoding: escape, as: UTF8.self) {
                case "SP": replacement = "@"
                case "BP": replacement = "*"
                case "RF": replacement = "&"
                case "LT": replacement = "<"
                case "GT": replacement = ">"
                case "LP": replacement = "("
                case "RP": replacement = ")"
                case "C": replacement = ","
                default:
                    replacement = nil
                    if escape.first == UInt8(ascii: "u"), escape.count > 1, escape.dropFirst().allSatisfy(isHexDigit),
                       let value = UInt32(String(decoding: escape.dropFirst(), as: UTF8.self), radix: 16),
                       let scalar = Unicode.Scalar(value), value >= 0x20, !(value >= 0x7f && value < 0xa0) {
                        out.append(contentsOf: String(Character(scalar)).utf8)
                        rest = rest[(end + 1)...]
                        continue
                    }
                }
                // An unknown escape: the rest of the element is printed as it is.
                guard let replacement else { break }
                out.append(contentsOf: replacement.utf8)
                rest = rest[(end + 1)...]
                continue
            }
            out.append(byte)
            rest = rest.dropFirst()
        }
        out.append(contentsOf: rest)
    }

    // MARK: v0

    static func demangleV0(_ bytes: [UInt8], verbose: Bool) -> String? {
        let start = bytes.starts(with: "__R".utf8) ? 3 : 2
        let inner = Array(bytes[start...])
        guard let first = inner.first, first >= 0x41 && first <= 0x5a, inner.allSatisfy({ $0 < 0x80 }) else { return nil }
        var printer = V0Printer(symbol: inner, verbose: verbose)
        do {
            try printer.path(inValue: true)
            // The instantiating crate, if any, is not printed.
            if let next = printer.peek, next >= 0x41 && next <= 0x5a {
                try printer.silently { try $0.path(inValue: false) }
            }
        } catch {
            return nil
        }
        let suffix = inner[printer.position...]
        guard suffix.isEmpty || (suffix.first == UInt8(ascii: ".") && isSymbolLike(suffix)) else { return nil }
        printer.out.append(contentsOf: suffix)
        return String(decoding: printer.out, as: UTF8.self)
    }

    struct Invalid: Error {}

    /// Parses and prints a v0 symbol (the part after `_R`) in one pass.
    struct V0Printer {
        let symbol: [UInt8]
        let verbose: Bool
        var position = 0
        var out: [UInt8] = []
        var printing = true
        var depth = 0
        var boundLifetimes = 0

        init(symbol: [UInt8], verbose: Bool) {
            self.symbol = symbol
            self.verbose = verbose
        }

        var peek: UInt8? { position < symbol.count ? symbol[position] : nil }

        mutating func next() throws -> UInt8 {
            guard position < symbol.count else { throw Invalid() }
            position += 1
            return symbol[position - 1]
        }

        mutating func eat(_ byte: Character) -> Bool {
            guard peek == byte.asciiValue else { return false }
            position += 1
            return true
        }

        mutating func print(_ text: String) throws {
            guard printing else { return }
            out.append(contentsOf: text.utf8)
            if out.count > RustDemangler.maximumOutput { throw Invalid() }
        }

        mutating func print(_ bytes: ArraySlice<UInt8>) throws {
            guard printing else { return }
            out.append(contentsOf: bytes)
            if out.count > RustDemangler.maximumOutput { throw Invalid() }
        }

        /// Runs `body` parsing only.
        mutating func silently(_ body: (inout V0Printer) throws -> Void) throws {
            let saved = printing
            printing = false
            defer { printing = saved }
            try body(&self)
        }

        mutating func nested<T>(_ body: (inout V0Printer) throws -> T) throws -> T {
            depth += 1
            guard depth <= 256 else { throw Invalid() }
            defer { depth -= 1 }
            return try body(&self)
        }

        /// `B <base-62>`: parses at an earlier position, then carries on after the reference.
        mutating func backref(_ body: (inout V0Printer) throws -> Void) throws {
            let start = position - 1
            let target = try base62()
            guard target < UInt64(start) else { throw Invalid() }
            let resume = position
            position = Int(target)
            try nested { try body(&$0) }
            position = resume
        }

        // Numbers

        mutating func base62() throws -> UInt64 {
            if eat("_") { return 0 }
            var value: UInt64 = 0
            while !eat("_") {
                let byte = try next()
                let digit: UInt64
                switch byte {
                case 0x30...0x39: digit = UInt64(byte - 0x30)
                case 0x61...0x7a: digit = UInt64(byte - 0x61) + 10
                case 0x41...0x5a: digit = UInt64(byte - 0x41) + 36
                default: throw Invalid()
                }
                let (times, overflow) = value.multipliedReportingOverflow(by: 62)
                guard !overflow else { throw Invalid() }
                let (sum, overflow2) = times.addingReportingOverflow(digit)
                guard !overflow2 else { throw Invalid() }
                value = sum
            }
            guard value < UInt64.max else { throw Invalid() }
            return value + 1
        }

        /// `tag <base-62>` → the number + 1; no tag → 0.
        mutating func optionalBase62(_ tag: Character) throws -> UInt64 {
            guard eat(tag) else { return 0 }
            let value = try base62()
            guard value < UInt64.max else { throw Invalid() }
            return value + 1
        }

        mutating func disambiguator() throws -> UInt64 { try optionalBase62("s") }

        /// `[u] <decimal length> [_] <bytes>`; punycode identifiers are decoded.
        mutating func identifier() throws -> [UInt8] {
            let isPunycode = eat("u")
            guard let first = peek, first >= 0x30 && first <= 0x39 else { throw Invalid() }
            position += 1
            var length = Int(first - 0x30)
            if length != 0 {
                while let byte = peek, byte >= 0x30 && byte <= 0x39 {
                    length = length * 10 + Int(byte - 0x30)
                    guard length <= symbol.count else { throw Invalid() }
                    position += 1
                }
            }
            _ = eat("_")
            guard position + length <= symbol.count else { throw Invalid() }
            let raw = symbol[position..<(position + length)]
            position += length
            guard isPunycode else { return Array(raw) }
            let ascii: ArraySlice<UInt8>, encoded: ArraySlice<UInt8>
            if let separator = raw.lastIndex(of: UInt8(ascii: "_")) {
                ascii = raw[raw.startIndex..<separator]
                encoded = raw[(separator + 1)...]
            } else {
                ascii = raw[raw.startIndex..<raw.startIndex]
                encoded = raw
            }
            guard !encoded.isEmpty else { throw Invalid() }
            if let decoded = RustDemangler.punycodeDecode(ascii: ascii, encoded: encoded) {
                return Array(String(String.UnicodeScalarView(decoded)).utf8)
            }
            return Array("punycode{".utf8) + (ascii.isEmpty ? [] : Array(ascii) + [UInt8(ascii: "-")]) + Array(encoded) + [UInt8(ascii: "}")]
        }

        // Grammar

        mutating func path(inValue: Bool) throws {
            try nested { printer in try printer.pathBody(inValue: inValue) }
        }

        private mutating func pathBody(inValue: Bool) throws {
            let tag = try next()
            switch tag {
            case UInt8(ascii: "C"):
                let disambiguator = try disambiguator()
                let name = try identifier()
                try print(name[...])
                if verbose { try print("[" + String(disambiguator, radix: 16) + "]") }
            case UInt8(ascii: "N"):
                let namespace = try next()
                guard (namespace >= 0x41 && namespace <= 0x5a) || (namespace >= 0x61 && namespace <= 0x7a) else { throw Invalid() }
                try path(inValue: inValue)
                let disambiguator = try disambiguator()
                let name = try identifier()
                if namespace >= 0x41 && namespace <= 0x5a {
                    // Closures, shims and other special namespaces: `{closure#0}`.
                    try print("::{")
                    switch namespace {
                    case UInt8(ascii: "C"): try print("closure")
                    case UInt8(ascii: "S"): try print("shim")
                    default: try print(String(UnicodeScalar(namespace)))
                    }
                    if !name.isEmpty {
                        try print(":")
                        try print(name[...])
                    }
                    try print("#" + String(disambiguator) + "}")
                } else if !name.isEmpty {
                    try print("::")
                    try print(name[...])
                }
            case UInt8(ascii: "M"), UInt8(ascii: "X"), UInt8(ascii: "Y"):
                if tag != UInt8(ascii: "Y") {
                    // The impl's own path is not printed.
                    _ = try disambiguator()
                    try silently { try $0.path(inValue: false) }
                }
                try print("<")
                try type()
                if tag != UInt8(ascii: "M") {
                    try print(" as ")
                    try path(inValue: false)
                }
                try print(">")
            case UInt8(ascii: "I"):
                try path(inValue: inValue)
                if inValue { try print("::") }
                try print("<")
                try list(separator: ", ") { try $0.genericArgument() }
                try print(">")
            case UInt8(ascii: "B"):
                try backref { try $0.path(inValue: inValue) }
            default:
                throw Invalid()
            }
        }

        /// Items up to `E`, separated; returns how many.
        @discardableResult
        mutating func list(separator: String, _ item: (inout V0Printer) throws -> Void) throws -> Int {
            var count = 0
            while !eat("E") {
                if count > 0 { try print(separator) }
                try item(&self)
                count += 1
            }
            return count
        }

        mutating func genericArgument() throws {
            if eat("L") {
                try lifetime(try base62())
            } else if eat("K") {
                try constant(inValue: false)
            } else {
                try type()
            }
        }

        mutating func lifetime(_ index: UInt64) throws {
            try print("'")
            if index == 0 {
                try print("_")
                return
            }
            guard index <= UInt64(boundLifetimes) else { throw Invalid() }
            let depth = UInt64(boundLifetimes) - index
            if depth < 26 {
                try print(String(UnicodeScalar(UInt8(ascii: "a") + UInt8(depth))))
            } else {
                try print("_" + String(depth))
            }
        }

        /// `G <base-62>`: `for<'a, 'b> ` around `body`.
        mutating func binder(_ body: (inout V0Printer) throws -> Void) throws {
            let count = try optionalBase62("G")
            guard count < 1 << 16 else { throw Invalid() }
            if count > 0 {
                try print("for<")
                for index in 0..<Int(count) {
                    if index > 0 { try print(", ") }
                    boundLifetimes += 1
                    try lifetime(1)
                }
                try print("> ")
            }
            defer { boundLifetimes -= Int(count) }
            try body(&self)
        }

        static func basicType(_ tag: UInt8) -> String? {
            switch tag {
            case UInt8(ascii: "a"): return "i8"
            case UInt8(ascii: "b"): return "bool"
            case UInt8(ascii: "c"): return "char"
            case UInt8(ascii: "d"): return "f64"
            case UInt8(ascii: "e"): return "str"
            case UInt8(ascii: "f"): return "f32"
            case UInt8(ascii: "h"): return "u8"
            case UInt8(ascii: "i"): return "isize"
            case UInt8(ascii: "j"): return "usize"
            case UInt8(ascii: "l"): return "i32"
            case UInt8(ascii: "m"): return "u32"
            case UInt8(ascii: "n"): return "i128"
            case UInt8(ascii: "o"): return "u128"
            case UInt8(ascii: "p"): return "_"
            case UInt8(ascii: "s"): return "i16"
            case UInt8(ascii: "t"): return "u16"
            case UInt8(ascii: "u"): return "()"
            case UInt8(ascii: "v"): return "..."
            case UInt8(ascii: "x"): return "i64"
            case UInt8(ascii: "y"): return "u64"
            case UInt8(ascii: "z"): return "!"
            default: return nil
            }
        }

        mutating func type() throws {
            try nested { try $0.typeBody() }
        }

        private mutating func typeBody() throws {
            let tag = try next()
            if let basic = Self.basicType(tag) {
                try print(basic)
                return
            }
            switch tag {
            case UInt8(ascii: "R"), UInt8(ascii: "Q"):
                try print("&")
                if eat("L") {
                    let index = try base62()
                    if index != 0 {
                        try lifetime(index)
                        try print(" ")
                    }
                }
                if tag == UInt8(ascii: "Q") { try print("mut ") }
                try type()
            case UInt8(ascii: "P"), UInt8(ascii: "O"):
                try print(tag == UInt8(ascii: "P") ? "*const " : "*mut ")
                try type()
            case UInt8(ascii: "A"), UInt8(ascii: "S"):
                try print("[")
                try type()
                if tag == UInt8(ascii: "A") {
                    try print("; ")
                    try constant(inValue: true)
                }
                try print("]")
            case UInt8(ascii: "T"):
                try print("(")
                let count = try list(separator: ", ") { try $0.type() }
                if count == 1 { try print(",") }
                try print(")")
            case UInt8(ascii: "F"):
                try binder { printer in
                    let isUnsafe = printer.eat("U")
                    var abi: [UInt8]?
                    if printer.eat("K") {
                        if printer.eat("C") {
                            abi = Array("C".utf8)
                        } else {
                            let name = try printer.identifier()
                            guard !name.isEmpty, name.allSatisfy({ $0 < 0x80 }) else { throw Invalid() }
                            // `-` in an ABI name is mangled as `_`.
                            abi = name.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }
                        }
                    }
                    if isUnsafe { try printer.print("unsafe ") }
                    if let abi {
                        try printer.print("extern \"")
                        try printer.print(abi[...])
                        try printer.print("\" ")
                    }
                    try printer.print("fn(")
                    try printer.list(separator: ", ") { try $0.type() }
                    try printer.print(")")
                    if !printer.eat("u") {
                        try printer.print(" -> ")
                        try printer.type()
                    }
                }
            case UInt8(ascii: "D"):
                try print("dyn ")
                try binder { printer in
                    try printer.list(separator: " + ") { try $0.dynTrait() }
                }
                guard eat("L") else { throw Invalid() }
                let index = try base62()
                if index != 0 {
                    try print(" + ")
                    try lifetime(index)
                }
            case UInt8(ascii: "B"):
                try backref { try $0.type() }
            default:
                position -= 1
                try path(inValue: false)
            }
        }

        /// A trait path whose generic list stays open for `Assoc = T` bindings; returns
        /// whether it is open.
        mutating func pathMaybeOpenGenerics() throws -> Bool {
            if eat("B") {
                var open = false
                try backref { open = try $0.pathMaybeOpenGenerics() }
                return open
            }
            if eat("I") {
                try path(inValue: false)
                try print("<")
                try list(separator: ", ") { try $0.genericArgument() }
                return true
            }
            try path(inValue: false)
            return false
        }

        mutating func dynTrait() throws {
            var open = try pathMaybeOpenGenerics()
            while eat("p") {
                try print(open ? ", " : "<")
                open = true
                let name = try identifier()
                try print(name[...])
                try print(" = ")
                try type()
            }
            if open { try print(">") }
        }

        // Constants

        mutating func hexDigits() throws -> ArraySlice<UInt8> {
            let start = position
            while true {
                let byte = try next()
                if byte == UInt8(ascii: "_") { break }
                guard RustDemangler.isHexDigit(byte) else { throw Invalid() }
            }
            return symbol[start..<(position - 1)]
        }

        /// An unsigned value in hex: decimal when it fits 64 bits, else `0x…`.
        static func integerText(_ hex: ArraySlice<UInt8>) -> String {
            let digits = hex.drop { $0 == UInt8(ascii: "0") }
            if digits.count > 16 { return "0x" + String(decoding: hex, as: UTF8.self) }
            return String(UInt64(String(decoding: digits, as: UTF8.self), radix: 16) ?? 0)
        }

        mutating func constant(inValue: Bool) throws {
            try nested { try $0.constantBody(inValue: inValue) }
        }

        private mutating func constantBody(inValue: Bool) throws {
            if eat("B") {
                try backref { try $0.constant(inValue: inValue) }
                return
            }
            let tag = try next()
            // Only literals go into a generic argument list without braces.
            var braced = false
            func openBrace(_ printer: inout V0Printer) throws {
                if !inValue {
                    braced = true
                    try printer.print("{")
                }
            }
            switch tag {
            case UInt8(ascii: "p"):
                try print("_")
            case UInt8(ascii: "h"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "y"), UInt8(ascii: "o"), UInt8(ascii: "j"),
                 UInt8(ascii: "a"), UInt8(ascii: "s"), UInt8(ascii: "l"), UInt8(ascii: "x"), UInt8(ascii: "n"), UInt8(ascii: "i"):
                let signed = [UInt8(ascii: "a"), UInt8(ascii: "s"), UInt8(ascii: "l"), UInt8(ascii: "x"), UInt8(ascii: "n"), UInt8(ascii: "i")].contains(tag)
                if signed && eat("n") { try print("-") }
                try print(Self.integerText(try hexDigits()))
                if verbose { try print(Self.basicType(tag)!) }
            case UInt8(ascii: "b"):
                let hex = try hexDigits()
                if hex.elementsEqual("0".utf8) {
                    try print("false")
                } else if hex.elementsEqual("1".utf8) {
                    try print("true")
                } else {
                    throw Invalid()
                }
            case UInt8(ascii: "c"):
                let hex = try hexDigits()
                guard hex.count <= 8, let value = UInt32(String(decoding: hex, as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(value) else { throw Invalid() }
                try print("'" + Self.escaped(scalar, quote: "'") + "'")
            case UInt8(ascii: "e"):
                try openBrace(&self)
                try print("*")
                try stringLiteral()
            case UInt8(ascii: "R"), UInt8(ascii: "Q"):
                if tag == UInt8(ascii: "R") && eat("e") {
                    try stringLiteral()
                } else {
                    try openBrace(&self)
                    try print(tag == UInt8(ascii: "R") ? "&" : "&mut ")
                    try constant(inValue: true)
                }
            case UInt8(ascii: "A"):
                try openBrace(&self)
                try print("[")
                try list(separator: ", ") { try $0.constant(inValue: true) }
                try print("]")
            case UInt8(ascii: "T"):
                try openBrace(&self)
                try print("(")
                let count = try list(separator: ", ") { try $0.constant(inValue: true) }
                if count == 1 { try print(",") }
                try print(")")
            case UInt8(ascii: "V"):
                try openBrace(&self)
                try path(inValue: true)
                switch try next() {
                case UInt8(ascii: "U"):
                    break
                case UInt8(ascii: "T"):
                    try print("(")
                    try list(separator: ", ") { try $0.constant(inValue: true) }
                    try print(")")
                case UInt8(ascii: "S"):
                    try print(" { ")
                    try list(separator: ", ") { printer in
                        _ = try printer.disambiguator()
                        let name = try printer.identifier()
                        try printer.print(name[...])
                        try printer.print(": ")
                        try printer.constant(inValue: true)
                    }
                    try print(" }")
                default:
                    throw Invalid()
                }
            default:
                throw Invalid()
            }
            if braced { try print("}") }
        }

        /// A `str` constant: hex-encoded UTF-8 bytes up to `_`, printed quoted.
        mutating func stringLiteral() throws {
            let hex = try hexDigits()
            guard hex.count % 2 == 0 else { throw Invalid() }
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                guard let value = UInt8(String(decoding: hex[index..<(index + 2)], as: UTF8.self), radix: 16) else { throw Invalid() }
                bytes.append(value)
                index += 2
            }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw Invalid() }
            try print("\"" + text.unicodeScalars.map { Self.escaped($0, quote: "\"") }.joined() + "\"")
        }

        static func escaped(_ scalar: Unicode.Scalar, quote: Character) -> String {
            switch scalar {
            case "\t": return "\\t"
            case "\r": return "\\r"
            case "\n": return "\\n"
            case "\\": return "\\\\"
            case "\0": return "\\0"
            default:
                if Character(scalar) == quote { return "\\" + String(quote) }
                if scalar.value < 0x20 || (scalar.value >= 0x7f && scalar.value < 0xa0) {
                    return "\\u{" + String(scalar.value, radix: 16) + "}"
                }
                return String(Character(scalar))
            }
        }
    }

    // MARK: Punycode (RFC 3492, as v0 uses it)

    static func punycodeDecode(ascii: ArraySlice<UInt8>, encoded: ArraySlice<UInt8>) -> [Unicode.Scalar]? {
        var output: [Unicode.Scalar] = ascii.map { Unicode.Scalar($0) }
        let base = 36, tMin = 1, tMax = 26, skew = 38
        var damp = 700, bias = 72, i = 0, n = 0x80
        var input = encoded[...]
        while !input.isEmpty {
            var delta = 0, weight = 1, k = 0
            while true {
                k += base
                let threshold = min(max(k - bias, tMin), tMax)
                guard let byte = input.popFirst() else { return nil }
                let digit: Int
                switch byte {
                case 0x61...0x7a: digit = Int(byte - 0x61)
                case 0x30...0x39: digit = 26 + Int(byte - 0x30)
                default: return nil
                }
                let (product, overflow) = digit.multipliedReportingOverflow(by: weight)
                guard !overflow else { return nil }
                let (sum, overflow2) = delta.addingReportingOverflow(product)
                guard !overflow2 else { return nil }
                delta = sum
                if digit < threshold { break }
                let (nextWeight, overflow3) = weight.multipliedReportingOverflow(by: base - threshold)
                guard !overflow3 else { return nil }
                weight = nextWeight
            }
            let length = output.count + 1
            let (position, overflow) = i.addingReportingOverflow(delta)
            guard !overflow else { return nil }
            n += position / length
            i = position % length
            guard n <= 0x10FFFF, let scalar = Unicode.Scalar(UInt32(n)), output.count < 4096 else { return nil }
            output.insert(scalar, at: i)
            i += 1
            if input.isEmpty { break }
            // Bias adaptation.
            delta /= damp
            damp = 2
            delta += delta / length
            k = 0
            while delta > ((base - tMin) * tMax) / 2 {
                delta /= base - tMin
                k += base
            }
            bias = k + ((base - tMin + 1) * delta) / (delta + skew)
        }
        return output
    }
}
