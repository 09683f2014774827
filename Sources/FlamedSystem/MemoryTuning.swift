#if canImport(Glibc)
import Glibc
#endif
import CFlamedShim

/// Heap settings: for a long-running process (the daemon), and for bounded peaks in reports.
public enum HeapTuning {
    /// Allocations of at least `bytes` get mappings of their own, which go back to the
    /// kernel when freed, instead of glibc's threshold that rises after each such free.
    public static func fixMmapThreshold(_ bytes: Int32) { flamed_shim_malloc_fix_mmap_threshold(bytes) }

    /// Fewer malloc arenas: less free memory held per thread. Call before threads start.
    public static func limitArenas(_ count: Int32) { flamed_shim_malloc_limit_arenas(count) }

    /// Gives free heap pages back to the kernel (after dropping large tables).
    public static func releaseFreeMemory() { flamed_shim_malloc_trim() }
}

/// UTC time stamps through the C library (no locale or ICU data involved).
public enum UTCTime {
    /// `seconds` since the epoch formatted with strftime `pattern` in UTC.
    public static func format(_ seconds: Int, pattern: String) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Now, as seconds and milliseconds since the epoch.
    public static var now: (seconds: Int, milliseconds: Int) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int(spec.tv_sec), Int(spec.tv_nsec / 1_000_000))
    }
}
