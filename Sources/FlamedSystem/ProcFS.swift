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

    /// The executable mappings of `pid` (kernel threads have none).
    public static func executableMappings(pid: Int32) -> [ProcMapping] {
        guard case .success(let bytes) = FileReader.map(path: "/proc/\(pid)/maps") else { return [] }
        return bytes.withUnsafeBytes { parseMaps($0) }
    }

    /// Parses `/proc/PID/maps` text, keeping executable mappings:
    /// `start-end perms offset major:minor inode   path`. Lines are looked at byte by byte,
    /// and only executable ones are taken apart (a process has hundreds of others).
    public static func parseMaps(_ text: UnsafeRawBufferPointer) -> [ProcMapping] {
        var mappings: [ProcMapping] = []
        let count = text.count
        var lineStart = 0
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && text[lineEnd] != 10 { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var cursor = lineStart
            func hex() -> UInt64? {
                var value: UInt64 = 0, digits = 0
                while cursor < lineEnd, let digit = hexDigit(text[cursor]) {
                    value = value &<< 4 | UInt64(digit)
                    cursor += 1
                    digits += 1
                }
                return digits > 0 && digits <= 16 ? value : nil
            }
            func skip(_ byte: UInt8) -> Bool {
                guard cursor < lineEnd, text[cursor] == byte else { return false }
                cursor += 1
                return true
            }
            func skipSpaces() { while cursor < lineEnd && text[cursor] == 32 { cursor += 1 } }
            guard let start = hex(), skip(45), let end = hex(), skip(32), cursor + 4 <= lineEnd,
                  text[cursor + 2] == UInt8(ascii: "x") else { continue }
            cursor += 4
            skipSpaces()
            guard let offset = hex() else { continue }
            skipSpaces()
            guard let major = hex(), skip(58), let minor = hex() else { continue }
            skipSpaces()
            var inode: UInt64 = 0
            while cursor < lineEnd, text[cursor] >= 48, text[cursor] <= 57 {
                inode = inode &* 10 &+ UInt64(text[cursor] - 48)
                cursor += 1
            }
            skipSpaces()
            var pathEnd = lineEnd
            while pathEnd > cursor && text[pathEnd - 1] == 32 { pathEnd -= 1 }
            let path = pathEnd > cursor ? String(decoding: UnsafeRawBufferPointer(rebasing: text[cursor..<pathEnd]), as: UTF8.self) : "//anon"
            let identity = inode != 0 && major <= UInt32.max && minor <= UInt32.max
                ? MappingIdentity(major: UInt32(major), minor: UInt32(minor), inode: inode) : nil
            mappings.append(ProcMapping(start: start, end: end, pageOffset: offset, path: path, identity: identity))
        }
        return mappings
    }

    /// Parses `/proc/PID/maps` text (see `parseMaps(_:)` for bytes).
    public static func parseMaps(_ text: String) -> [ProcMapping] {
        var text = text
        return text.withUTF8 { parseMaps(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 97...102: return byte - 87
        case 65...70: return byte - 55
        default: return nil
        }
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
