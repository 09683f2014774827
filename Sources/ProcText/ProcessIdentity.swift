/// One executable mapping from `/proc/PID/maps`.
public struct ProcMapping: Sendable, Equatable {
    public var start: UInt64
    public var end: UInt64
    public var pageOffset: UInt64
    public var path: String
    /// The device and inode of the mapped file (nil for anonymous memory).
    public var identity: MappingIdentity? = nil
}

/// The device and inode a mapping was made from (MMAP2's maj/min/ino, or /proc/PID/maps).
public struct MappingIdentity: Hashable, Sendable, CustomStringConvertible {
    public var major: UInt32
    public var minor: UInt32
    public var inode: UInt64

    public init(major: UInt32, minor: UInt32, inode: UInt64) {
        self.major = major
        self.minor = minor
        self.inode = inode
    }

    /// The `st_dev` value of this device (glibc's makedev).
    public var device: UInt64 {
        let major = UInt64(self.major), minor = UInt64(self.minor)
        return (major & 0xffff_f000) << 32 | (major & 0xfff) << 8 | (minor & 0xffff_ff00) << 12 | (minor & 0xff)
    }

    public var description: String { "\(String(major, radix: 16)):\(String(minor, radix: 16)):\(inode)" }
}

/// The container a process runs in, from its cgroup path.
public struct ContainerID: Hashable, Sendable {
    /// The whole id (64 hex digits for docker, podman, containerd and CRI-O).
    public let full: String

    public init(_ full: String) { self.full = full.lowercased() }

    /// The id as `docker ps` shows it: its first 12 digits.
    public var short: String { String(full.prefix(12)) }

    /// Whether `wanted` (a short or full id, any case) names this container.
    public func matches(_ wanted: String) -> Bool {
        let text = wanted.lowercased()
        return !text.isEmpty && full.hasPrefix(text)
    }

    /// The container id in `/proc/PID/cgroup` text: the innermost cgroup path component that
    /// is a 64-digit hex id, bare (`/docker/<id>`, kubepods' `/pod<uid>/<id>`) or in a
    /// systemd scope (`docker-<id>.scope`, `libpod-<id>.scope`, `cri-containerd-<id>.scope`,
    /// `crio-<id>.scope`). The unified (v2) line is preferred; conmon's scope is not a container.
    public static func parse(cgroup text: String) -> ContainerID? {
        var fromV1: ContainerID?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            guard let id = parse(path: fields[2]) else { continue }
            if fields[0] == "0" && fields[1].isEmpty { return id }
            if fromV1 == nil { fromV1 = id }
        }
        return fromV1
    }

    /// The container id in one cgroup path, or nil.
    public static func parse<S: StringProtocol>(path: S) -> ContainerID? {
        for component in path.split(separator: "/").reversed() {
            var name = Substring(component)
            if name.hasSuffix(".scope") { name = name.dropLast(6) }
            if name.contains("conmon") { continue }
            if let dash = name.lastIndex(of: "-") { name = name[name.index(after: dash)...] }
            if name.count == 64, name.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }) {
                return ContainerID(String(name))
            }
        }
        return nil
    }
}
