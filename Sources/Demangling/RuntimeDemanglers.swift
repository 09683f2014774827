import CFlamedShim
#if canImport(Glibc)
import Glibc
#endif

/// Low-level access to the C++ ABI demangler.
public enum CxxABI {
    /// The full demangled form of an Itanium-mangled name, or nil if it is not one.
    public static func demangle(_ mangled: String) -> String? {
        guard let result = flamed_shim_cxa_demangle(mangled) else { return nil }
        defer { free(result) }
        return String(cString: result)
    }
}

/// Low-level access to the Swift runtime's demangler (`swift_demangle` in libswiftCore).
public enum SwiftRuntime {
    /// The runtime's full demangled form of a Swift symbol name (`$s…`, `$S…`, `_T0…`), for
    /// example `swiftprog.Hotspot.churnNumbers(Swift.Int) -> Swift.Int`, or nil if it is not one.
    public static func demangle(_ mangled: String) -> String? {
        let length = mangled.utf8.count
        guard length > 0, let result = flamed_shim_swift_demangle(mangled, length) else { return nil }
        defer { free(result) }
        return String(cString: result)
    }
}
