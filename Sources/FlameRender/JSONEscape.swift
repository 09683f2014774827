/// String and number encoding shared by the renderers.
///
/// Strings are written the way Python's `json.dumps` writes them with `ensure_ascii=True`:
/// only printable ASCII is kept as is, everything else becomes an escape, with lowercase hex
/// and scalars above U+FFFF as UTF-16 surrogate pairs.
enum JSONEscape {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `string` to `out` as a quoted JSON string.
    ///
    /// With `escapeHTML`, `<`, `>` and `&` are escaped too, so the result can sit inside an
    /// HTML `<script>` element without ending it or being read as markup.
    static func appendQuoted(_ string: String, escapeHTML: Bool, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in string.unicodeScalars {
            let value = scalar.value
            switch value {
            case 0x22: appendPair(UInt8(ascii: "\""), to: &out)
            case 0x5C: appendPair(UInt8(ascii: "\\"), to: &out)
            case 0x0A: appendPair(UInt8(ascii: "n"), to: &out)
            case 0x0D: appendPair(UInt8(ascii: "r"), to: &out)
            case 0x09: appendPair(UInt8(ascii: "t"), to: &out)
            case 0x08: appendPair(UInt8(ascii: "b"), to: &out)
            case 0x0C: appendPair(UInt8(ascii: "f"), to: &out)
            case 0x3C where escapeHTML, 0x3E where escapeHTML, 0x26 where escapeHTML:
                appendUnit(UInt16(value), to: &out)
            case 0x20...0x7E:
                out.append(UInt8(value))
            case 0x10000...:
                let offset = value - 0x10000
                appendUnit(UInt16(0xD800 + (offset >> 10)), to: &out)
                appendUnit(UInt16(0xDC00 + (offset & 0x3FF)), to: &out)
            default:
                appendUnit(UInt16(value), to: &out)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Returns `string` as a quoted JSON string.
    static func quoted(_ string: String, escapeHTML: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count + 2)
        appendQuoted(string, escapeHTML: escapeHTML, to: &out)
        return out
    }

    private static func appendPair(_ letter: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(letter)
    }

    private static func appendUnit(_ unit: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "u"))
        out.append(hexDigits[Int(unit >> 12)])
        out.append(hexDigits[Int((unit >> 8) & 0xF)])
        out.append(hexDigits[Int((unit >> 4) & 0xF)])
        out.append(hexDigits[Int(unit & 0xF)])
    }

    /// Appends the decimal digits of `value` to `out`.
    @inline(__always)
    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor &*= 10 }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / divisor % 10))
            divisor /= 10
        }
    }
}

/// Per-name byte strings, computed once for each interned name of a tree.
struct NameTable {
    /// All encoded names, back to back.
    var bytes: [UInt8] = []
    /// `bytes[offsets[i] ..< offsets[i + 1]]` is the encoding of name `i`.
    var offsets: [Int] = [0]

    init(_ names: [String], encode: (String, inout [UInt8]) -> Void) {
        offsets.reserveCapacity(names.count + 1)
        bytes.reserveCapacity(names.reduce(0) { $0 + $1.utf8.count + 2 })
        for name in names {
            encode(name, &bytes)
            offsets.append(bytes.count)
        }
    }

    /// The encoded bytes of name `index`.
    @inline(__always)
    subscript(index: Int32) -> ArraySlice<UInt8> {
        bytes[offsets[Int(index)] ..< offsets[Int(index) + 1]]
    }

    /// The length of the encoding of name `index`.
    @inline(__always)
    func count(_ index: Int32) -> Int {
        offsets[Int(index) + 1] - offsets[Int(index)]
    }
}
