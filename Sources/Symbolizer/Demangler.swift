import FlamedSystem

/// Turns raw symbol names into the names perf prints.
public enum Demangler {
    /// C++ (Itanium) names are demangled without the top-level parameter list and return
    /// type, as perf prints them; other names are returned unchanged.
    public static func perfStyle(_ name: String) -> String {
        guard name.hasPrefix("_Z") else { return name }
        // LLVM's function merging appends "Tm" to the mangled name; perf still demangles it.
        guard let full = CxxABI.demangle(name) ?? (name.hasSuffix("Tm") ? CxxABI.demangle(String(name.dropLast(2))) : nil) else {
            return name
        }
        // Special names keep their full form in perf's output.
        for prefix in ["non-virtual thunk to ", "virtual thunk to ", "covariant return thunk to ", "vtable for ",
                       "typeinfo for ", "typeinfo name for ", "VTT for ", "construction vtable for ", "guard variable for "]
        where full.hasPrefix(prefix) {
            return full
        }
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
            case UInt8(ascii: " ") where angle == 0 && paren == 0:
                // "f(int) const::$_0::operator()" has a space that is not a return type's.
                let rest = bytes[(position + 1)...]
                if !rest.starts(with: Array("const".utf8)) && !rest.starts(with: Array("volatile".utf8))
                    && !rest.starts(with: Array("&".utf8)) && !rest.starts(with: Array("[clone".utf8)) {
                    lastSpace = position
                }
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
