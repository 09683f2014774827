/// How frame names are demangled (`--demangle`).
public enum DemangleStyle: String, Sendable, CaseIterable {
    /// Readable names, as perf prints them:
    /// - C++ (Itanium): without the top-level parameter list and return type
    ///   (`ns::K::spin<long>`); thunks and other special names keep their full form;
    /// - Rust: legacy names without the `::h<hash>` element, v0 names without `[hash]` crate
    ///   disambiguators or constant type suffixes (rustc-demangle's `{:#}`, as perf);
    /// - Swift: the toolchain's simplified form (`swift-demangle -simplified`): no module names,
    ///   argument labels instead of types (`Hotspot.churnNumbers(_:)`, `foo(bar:baz:)`),
    ///   `closure #1 in Hotspot.run()`, `specialized …`.
    case perf
    /// Everything the demanglers give: C++ with its parameter list, Rust with its hashes,
    /// Swift as the runtime prints it (`swiftprog.Hotspot.churnNumbers(Swift.Int) -> Swift.Int`).
    case full
    /// Names as they are in the symbol table.
    case none
}

/// Turns raw symbol names into display names: C++, Rust (legacy and v0) and Swift.
/// Names that are none of these, or that do not demangle, are returned unchanged.
public enum Demangler {
    /// `name` demangled in `style`. A synthesized PLT name (`…@plt`) is demangled before its
    /// suffix, as perf does.
    public static func demangle(_ name: String, style: DemangleStyle) -> String {
        guard style != .none else { return name }
        if name.hasSuffix("@plt") {
            return demangleSymbol(String(name.dropLast(4)), style: style) + "@plt"
        }
        return demangleSymbol(name, style: style)
    }

    /// `demangle(name, style: .perf)`.
    public static func perfStyle(_ name: String) -> String {
        demangle(name, style: .perf)
    }

    private static func demangleSymbol(_ name: String, style: DemangleStyle) -> String {
        // Rust first: a legacy Rust name (`_ZN…17h<hash>E`) is also a valid Itanium name.
        if name.hasPrefix("_R") || name.hasPrefix("_ZN") || name.hasPrefix("__R") || name.hasPrefix("__ZN") {
            if let rust = RustDemangler.demangle(name, verbose: style == .full) { return rust }
        }
        if isSwiftSymbol(name) {
            guard let full = SwiftRuntime.demangle(name) else { return name }
            return style == .full ? full : simplifiedSwift(full)
        }
        if name.hasPrefix("_Z") {
            return cxx(name, style: style)
        }
        return name
    }

    /// The prefixes of Swift manglings: Swift 5+ (`$s`, with `_` on Darwin), 4.2 (`$S`),
    /// 4.0 (`_T0`) and Embedded Swift (`$e`).
    static func isSwiftSymbol(_ name: String) -> Bool {
        name.hasPrefix("$s") || name.hasPrefix("$S") || name.hasPrefix("_T0") || name.hasPrefix("$e")
            || name.hasPrefix("_$s") || name.hasPrefix("_$S") || name.hasPrefix("_$e")
    }

    /// Demanglings longer than this keep the runtime's form: the simplifier is not linear.
    static let simplifyLimit = 1 << 15

    static func simplifiedSwift(_ full: String) -> String {
        guard full.utf8.count <= simplifyLimit else { return full }
        let simplified = SwiftNameSimplifier.simplify(full)
        return simplified.isEmpty ? full : simplified
    }

    private static func cxx(_ name: String, style: DemangleStyle) -> String {
        // LLVM's function merging appends "Tm" to the mangled name; perf still demangles it.
        guard let full = CxxABI.demangle(name) ?? (name.hasSuffix("Tm") ? CxxABI.demangle(String(name.dropLast(2))) : nil) else {
            return name
        }
        if style == .full { return full }
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
        for q in Signature.qualifiers {
            while end >= q.count && bytes[(end - q.count)..<end].elementsEqual(q) { end -= q.count }
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
                if !Signature.notReturnTypeSpace.contains(where: { rest.starts(with: $0) }) {
                    lastSpace = position
                }
            default: break
            }
        }
        if lastSpace > 0 {
            let prefix = bytes[0..<lastSpace]
            if !prefix.elementsEqualSuffix(Signature.operatorWord) && !prefix.containsBytes(Signature.operatorWordSpace) {
                bytes = Array(bytes[(lastSpace + 1)...])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The byte strings `stripSignature` looks for, made once.
    private enum Signature {
        static let qualifiers = [" const", " volatile", " &&", " &"].map { Array($0.utf8) }
        /// What may follow a top-level space that does not end a return type.
        static let notReturnTypeSpace = ["const", "volatile", "&", "[clone"].map { Array($0.utf8) }
        static let operatorWord = Array("operator".utf8)
        static let operatorWordSpace = Array("operator ".utf8)
    }
}

extension ArraySlice<UInt8> {
    /// Whether the slice ends with `suffix`.
    fileprivate func elementsEqualSuffix(_ suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(endIndex - suffix.count)...].elementsEqual(suffix)
    }

    /// Whether `needle` occurs in the slice.
    fileprivate func containsBytes(_ needle: [UInt8]) -> Bool {
        guard let first = needle.first, count >= needle.count else { return false }
        var index = startIndex
        while index <= endIndex - needle.count {
            if self[index] == first && self[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
