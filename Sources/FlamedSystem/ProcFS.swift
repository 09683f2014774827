#if canImport(Glibc)
import Glibc
#endif

/// One executable mapping from `/proc/PID/maps`.
public struct ProcMapping: Sendable, Equatable {
    public var start: UInt64
    public var end: UInt64
    public var pageOffset: UInt64
    public var path: String
    /// The device and inode of the mapped file (nil for anonymous memory).
    public var identity: MappingIdentity? = nil
}

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

    /// The thread-group id (process id) of thread `tid`, from its status file.
    public static func processID(ofThread tid: Int32) -> Int32? {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(tid)/status") else { return nil }
        let text = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        for line in text.split(separator: "\n") where line.hasPrefix("Tgid:") {
            return Int32(line.dropFirst(5).trimmingCharacters(in: " \t"))
        }
        return nil
    }

    /// The executable mappings of `pid` (kernel threads have none).
    public static func executableMappings(pid: Int32) -> [ProcMapping] {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(pid)/maps") else { return [] }
        return bytes.withUnsafeBytes { parseMaps(String(decoding: $0, as: UTF8.self)) }
    }

    /// Parses `/proc/PID/maps` text, keeping executable mappings.
    public static func parseMaps(_ text: String) -> [ProcMapping] {
        var mappings: [ProcMapping] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[1].count >= 3, Array(fields[1])[2] == "x" else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                  let offset = UInt64(fields[2], radix: 16) else { continue }
            let path = fields.count > 5 ? fields[5].trimmingCharacters(in: " ") : "//anon"
            var identity: MappingIdentity?
            let device = fields[3].split(separator: ":")
            if device.count == 2, let major = UInt32(device[0], radix: 16), let minor = UInt32(device[1], radix: 16),
               let inode = UInt64(fields[4]), inode != 0 {
                identity = MappingIdentity(major: major, minor: minor, inode: inode)
            }
            mappings.append(ProcMapping(start: start, end: end, pageOffset: offset, path: path, identity: identity))
        }
        return mappings
    }

    /// The ids of the online CPUs, from `/sys/devices/system/cpu/online` ("0-3,6").
    public static func onlineCPUs() -> [Int32] {
        guard case .success(let bytes) = FileReader.map(path: "/sys/devices/system/cpu/online") else {
            return (0..<Int32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))).map { $0 }
        }
        return parseCPUList(bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    /// Parses a kernel CPU list such as "0-3,6".
    public static func parseCPUList(_ text: String) -> [Int32] {
        var cpus: [Int32] = []
        for part in text.trimmingCharacters(in: " \n").split(separator: ",") {
            let bounds = part.split(separator: "-")
            if bounds.count == 2, let low = Int32(bounds[0]), let high = Int32(bounds[1]), low <= high {
                cpus.append(contentsOf: low...high)
            } else if let single = Int32(part) {
                cpus.append(single)
            }
        }
        return cpus
    }

    /// An integer sysctl from /proc/sys (for example `kernel/perf_event_mlock_kb`).
    public static func integer(_ path: String) -> Int? {
        guard case .success(let bytes) = FileReader.map(path: "/proc/sys/\(path)") else { return nil }
        return Int(bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }.trimmingCharacters(in: " \n"))
    }
}

extension StringProtocol {
    /// The text without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
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
