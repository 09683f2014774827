#if canImport(Glibc)
import Glibc
#endif
import ProcText

/// Reads the process table from /proc, the way perf synthesizes records for processes
/// that were running before sampling started.
public enum ProcFS {
    /// The numeric entries of `/proc` (processes) or `/proc/PID/task` (threads).
    public static func ids(in directory: String = "/proc") -> [Int32] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var ids: [Int32] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let id = Int32(name), id > 0 { ids.append(id) }
        }
        return ids.sorted()
    }

    /// The threads of `pid`.
    public static func threads(of pid: Int32) -> [Int32] { ids(in: "/proc/\(pid)/task") }

    /// A thread's name (`comm`), or nil when it is gone.
    public static func comm(pid: Int32, tid: Int32) -> String? {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(pid)/task/\(tid)/comm") else { return nil }
        let text = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// The executable mappings of `pid` (kernel threads have none).
    public static func executableMappings(pid: Int32) -> [ProcMapping] {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(pid)/maps") else { return [] }
        return bytes.withUnsafeBytes { ProcText.parseMaps($0) }
    }

    /// The ids of the online CPUs, from `/sys/devices/system/cpu/online` ("0-3,6").
    public static func onlineCPUs() -> [Int32] {
        guard case .success(let bytes) = FileReader.map(path: "/sys/devices/system/cpu/online") else {
            return (0..<Int32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))).map { $0 }
        }
        return ProcText.parseCPUList(bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    /// An integer sysctl from /proc/sys (for example `kernel/perf_event_mlock_kb`).
    public static func integer(_ path: String) -> Int? {
        guard case .success(let bytes) = FileReader.map(path: "/proc/sys/\(path)") else { return nil }
        return ProcText.integer(bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }
}

/// This machine's name, kernel release and architecture (uname), for context headers.
public struct HostInfo: Sendable {
    public let hostname: String
    public let osRelease: String
    public let arch: String

    /// The running system's, or nil when uname fails.
    public static func current() -> HostInfo? {
        var names = utsname()
        guard uname(&names) == 0 else { return nil }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return HostInfo(hostname: text(names.nodename), osRelease: text(names.release), arch: text(names.machine))
    }
}
