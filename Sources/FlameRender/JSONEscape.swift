/// String and number encoding shared by the renderers.
///
/// Strings are written the way Python's `json.dumps` writes them with `ensure_ascii=True`:
/// only printable ASCII is kept as is, everything else becomes an escape, with lowercase hex
/// and scalars above U+FFFF as UTF-16 surrogate pairs.
enum JSONEscape {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// How each ASCII byte is written: 0 as itself, `u` as `\u00XX`, any other letter as
    /// that letter after a backslash. `<`, `>` and `&` are marked `h`: escaped only for HTML.
    private static let asciiEscapes: [UInt8] = (0 ..< 128).map { byte -> UInt8 in
        switch byte {
        case 0x22: return UInt8(ascii: "\"")
        case 0x5C: return UInt8(ascii: "\\")
        case 0x0A: return UInt8(ascii: "n")
        case 0x0D: return UInt8(ascii: "r")
        case 0x09: return UInt8(ascii: "t")
        case 0x08: return UInt8(ascii: "b")
        case 0x0C: return UInt8(ascii: "f")
        case 0x3C, 0x3E, 0x26: return UInt8(ascii: "h")
        case 0x20 ..< 0x7F: return 0
        default: return UInt8(ascii: "u")
        }
    }

    /// Appends `string` to `out` as a quoted JSON string.
    ///
    /// With `escapeHTML`, `<`, `>` and `&` are escaped too, so the result can sit inside an
    /// HTML `<script>` element without ending it or being read as markup.
    static func appendQuoted(_ string: String, escapeHTML: Bool, to out: inout [UInt8]) {
        let escapes = asciiEscapes
        out.append(UInt8(ascii: "\""))
        let plain = string.utf8.allSatisfy { byte in
            byte < 0x80 && (escapes[Int(byte)] == 0 || (!escapeHTML && escapes[Int(byte)] == UInt8(ascii: "h")))
        }
        if plain {
            out.append(contentsOf: string.utf8)
        } else {
            appendEscaped(string, escapeHTML: escapeHTML, escapes: escapes, to: &out)
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ string: String, escapeHTML: Bool, escapes: [UInt8], to out: inout [UInt8]) {
        var bytes = string.utf8.makeIterator()
        while let lead = bytes.next() {
            if lead < 0x80 {
                switch escapes[Int(lead)] {
                case 0:
                    out.append(lead)
                case UInt8(ascii: "h"):
                    if escapeHTML { appendUnit(UInt16(lead), to: &out) } else { out.append(lead) }
                case UInt8(ascii: "u"):
                    appendUnit(UInt16(lead), to: &out)
                case let letter:
                    out.append(UInt8(ascii: "\\"))
                    out.append(letter)
                }
                continue
            }
            // A Swift string is valid UTF-8, so the lead byte gives the sequence length.
            let extra = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1
            var scalar = UInt32(lead) & (extra == 3 ? 0x07 : extra == 2 ? 0x0F : 0x1F)
            for _ in 0 ..< extra {
                scalar = scalar << 6 | UInt32(bytes.next() ?? 0x80) & 0x3F
            }
            if scalar >= 0x10000 {
                let offset = scalar - 0x10000
                appendUnit(UInt16(0xD800 + (offset >> 10)), to: &out)
                appendUnit(UInt16(0xDC00 + (offset & 0x3FF)), to: &out)
            } else {
                appendUnit(UInt16(scalar), to: &out)
            }
        }
    }

    private static func appendUnit(_ unit: UInt16, to out: inout [UInt8]) {
        let hex = hexDigits
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "u"))
        out.append(hex[Int(unit >> 12)])
        out.append(hex[Int((unit >> 8) & 0xF)])
        out.append(hex[Int((unit >> 4) & 0xF)])
        out.append(hex[Int(unit & 0xF)])
    }

    /// Appends the decimal digits of `value` to `out`.
    @inline(__always)
    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        let zero = UInt8(ascii: "0")
        if value < 10 {
            out.append(zero &+ UInt8(truncatingIfNeeded: value))
            return
        }
        if value < 100 {
            out.append(zero &+ UInt8(truncatingIfNeeded: value / 10))
            out.append(zero &+ UInt8(truncatingIfNeeded: value % 10))
            return
        }
        var divisor: UInt64 = 100
        while value / divisor >= 10 { divisor &*= 10 }
        while divisor > 0 {
            out.append(zero &+ UInt8(truncatingIfNeeded: value / divisor % 10))
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
