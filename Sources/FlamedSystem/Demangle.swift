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
