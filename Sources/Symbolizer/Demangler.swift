import FlamedSystem

/// Turns raw symbol names into the names perf prints.
public enum Demangler {
    /// C++ (Itanium) names are demangled without the top-level parameter list and return
    /// type, as perf prints them; other names are returned unchanged.
    public static func perfStyle(_ name: String) -> String {
        guard name.hasPrefix("_Z"), let full = CxxABI.demangle(name) else { return name }
        return stripSignature(full)
    }

    /// Removes a trailing top-level `(…)` parameter list (with any cv/ref qualifiers after
    /// it) and a leading return type from a demangled C++ name.
    static func stripSignature(_ full: String) -> String {
        var bytes = Array(full.utf8)
        var end = bytes.count
        for qualifier in [" const", " volatile", " &&", " &"] {
            let q = Array(qualifier.utf8)
            while end >= q.count && Array(bytes[(end - q.count)..<end]) == q { end -= q.count }
        }
        guard end > 0, bytes[end - 1] == UInt8(ascii: ")") else { return full }
        var depth = 0
        var index = end - 1
        var open = -1
        while index >= 0 {
            let byte = bytes[index]
            if byte == UInt8(ascii: ")") { depth += 1 }
            if byte == UInt8(ascii: "(") {
                depth -= 1
                if depth == 0 { open = index; break }
            }
            index -= 1
        }
        guard open > 0 else { return full }
        bytes = Array(bytes[0..<open])
        // A template function's return type comes first, separated by a top-level space.
        var angle = 0, paren = 0, lastSpace = -1
        for (position, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "<"): angle += 1
            case UInt8(ascii: ">"): angle -= 1
            case UInt8(ascii: "("), UInt8(ascii: "{"), UInt8(ascii: "["): paren += 1
            case UInt8(ascii: ")"), UInt8(ascii: "}"), UInt8(ascii: "]"): paren -= 1
            case UInt8(ascii: " ") where angle == 0 && paren == 0: lastSpace = position
            default: break
            }
        }
        if lastSpace > 0 {
            let prefix = String(decoding: bytes[0..<lastSpace], as: UTF8.self)
            if !prefix.hasSuffix("operator") && !prefix.contains("operator ") {
                bytes = Array(bytes[(lastSpace + 1)...])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
