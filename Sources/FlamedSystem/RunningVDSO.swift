import CFlamedShim

/// The vDSO the kernel maps into this process (found through AT_SYSINFO_EHDR).
public enum RunningVDSO {
    /// A copy of the first `count` bytes of this process's vDSO, or nil when it has none.
    /// `count` must not exceed the vDSO's size.
    public static func copy(count: Int) -> ByteView? {
        guard count >= 0, let base = UnsafeRawPointer(bitPattern: UInt(flamed_shim_vdso_base())) else { return nil }
        return ByteView(Array(UnsafeRawBufferPointer(start: base, count: count)))
    }
}
