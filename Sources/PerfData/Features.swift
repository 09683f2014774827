import FlamedSystem

/// A build id that perf recorded for a file it saw samples in.
public struct BuildIDEntry: Sendable, Equatable {
    public var pid: Int32
    public var buildID: [UInt8]
    public var filename: String
    /// Whether the entry is for kernel space (the kernel or a module).
    public var isKernel: Bool

    /// The build id as lowercase hex.
    public var hex: String { buildID.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
}

/// What the feature sections (or, in pipe mode, HEADER_FEATURE records) describe.
public struct PerfHeaderInfo: Sendable {
    public var hostname: String?
    public var osRelease: String?
    public var perfVersion: String?
    public var arch: String?
    public var cpusOnline: Int?
    public var cpusAvailable: Int?
    public var cpuDescription: String?
    public var cpuID: String?
    public var commandLine: [String]?
    public var buildIDs: [BuildIDEntry] = []
    public var firstSampleTime: UInt64?
    public var lastSampleTime: UInt64?
    /// Names by event index, from EVENT_DESC.
    public var eventNames: [(name: String, ids: [UInt64])] = []
    /// Feature sections that were present but could not be parsed, with the reason.
    public var warnings: [String] = []

    public init() {}

    /// Parses the body of feature `id` from `view` (a slice holding only that feature).
    mutating func parseFeature(_ id: Int, _ view: ByteView, fileOffset: Int) {
        var reader = FeatureReader(view: view)
        switch id {
        case FeatureID.hostname: hostname = reader.string()
        case FeatureID.osRelease: osRelease = reader.string()
        case FeatureID.version: perfVersion = reader.string()
        case FeatureID.arch: arch = reader.string()
        case FeatureID.cpuDesc: cpuDescription = reader.string()
        case FeatureID.cpuID: cpuID = reader.string()
        case FeatureID.nrCPUs:
            if let available = reader.u32(), let online = reader.u32() {
                cpusAvailable = Int(available)
                cpusOnline = Int(online)
            }
        case FeatureID.cmdline:
            if let count = reader.u32(), count <= 65536 {
                var words: [String] = []
                for _ in 0..<count {
                    guard let word = reader.string() else { break }
                    words.append(word)
                }
                commandLine = words
            }
        case FeatureID.sampleTime:
            if let first = reader.u64(), let last = reader.u64() {
                firstSampleTime = first
                lastSampleTime = last
            }
        case FeatureID.eventDesc:
            parseEventDesc(&reader)
        case FeatureID.buildID:
            buildIDs.append(contentsOf: Self.parseBuildIDs(view))
        default:
            break
        }
        if reader.failed {
            warnings.append("feature \(id) at offset 0x\(String(fileOffset, radix: 16)) is malformed; ignored")
        }
    }

    private mutating func parseEventDesc(_ reader: inout FeatureReader) {
        guard let count = reader.u32(), let attrSize = reader.u32(), count <= 65536,
              attrSize >= 64, attrSize <= 4096 else { reader.failed = true; return }
        var names: [(String, [UInt64])] = []
        for _ in 0..<count {
            guard reader.skip(Int(attrSize)), let idCount = reader.u32(), idCount <= 1 << 20,
                  let name = reader.string() else { reader.failed = true; return }
            var ids: [UInt64] = []
            for _ in 0..<idCount {
                guard let id = reader.u64() else { reader.failed = true; return }
                ids.append(id)
            }
            names.append((name, ids))
        }
        eventNames = names
    }

    /// Parses a run of build_id records (the BUILD_ID feature or HEADER_BUILD_ID records).
    static func parseBuildIDs(_ view: ByteView) -> [BuildIDEntry] {
        var entries: [BuildIDEntry] = []
        var offset = 0
        while let misc = view.u16(offset + 4), let size = view.u16(offset + 6) {
            let length = Int(size)
            guard length >= 8 + 4 + 24, let record = view.slice(offset, length) else { break }
            let pid = Int32(bitPattern: record.u32(8) ?? 0)
            var idLength = 20
            if misc & RecordMisc.buildIDSize != 0, let declared = record.u8(12 + 20) { idLength = min(Int(declared), 20) }
            let bytes = record.bytes(12, idLength) ?? []
            let filename = record.cString(36, maxLength: length - 36) ?? ""
            let cpumode = misc & RecordMisc.cpumodeMask
            entries.append(BuildIDEntry(pid: pid, buildID: bytes, filename: filename,
                                        isKernel: cpumode == RecordMisc.kernel || cpumode == RecordMisc.guestKernel))
            offset += length
        }
        return entries
    }
}

/// Sequential, bounds-checked reads of feature data.
struct FeatureReader {
    let view: ByteView
    var offset = 0
    var failed = false

    init(view: ByteView) { self.view = view }

    mutating func u32() -> UInt32? {
        guard let value = view.u32(offset) else { failed = true; return nil }
        offset += 4
        return value
    }

    mutating func u64() -> UInt64? {
        guard let value = view.u64(offset) else { failed = true; return nil }
        offset += 8
        return value
    }

    mutating func skip(_ count: Int) -> Bool {
        guard view.slice(offset, count) != nil else { failed = true; return false }
        offset += count
        return true
    }

    /// A `perf_header_string`: u32 length (padding included), then NUL-terminated bytes.
    mutating func string() -> String? {
        guard let length = u32() else { return nil }
        guard let text = view.cString(offset, maxLength: Int(length)) else { failed = true; return nil }
        offset += Int(length)
        return text
    }
}
