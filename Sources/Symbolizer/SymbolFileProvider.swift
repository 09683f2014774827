import Demangling
import FlamedSystem

/// Where the symbolizer's files come from: the file each mapping was made from, and each
/// JIT's perf map. The symbolizer asks; it never decides by itself how a process's files
/// are reached.
///
/// `RecordingFiles` reads them by the paths a recording names, as perf does at report time;
/// live profiles reach them as each process sees them (its root, `map_files`), and tests
/// give them from memory.
public protocol SymbolFileProvider: AnyObject, Sendable {
    /// The file a mapping of process `pid` (at `start..<end`, from `path`, device and inode
    /// `identity`) was made from, opened and held so that it resolves after the process
    /// exits or the file is deleted or replaced; nil to read `path` itself.
    func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile?
    /// Where process `pid`'s perf map is, or nil when it has none.
    func perfMapPath(pid: Int32) -> String?
    /// Whether a perf map is read again as it grows (live profiles) or once, when first
    /// needed (reports, as perf reads them).
    var rereadsPerfMaps: Bool { get }
    /// The identity of the perf map at `path` now, or nil when there is none.
    func perfMapStamp(_ path: String) -> FileStamp?
    /// The contents of the perf map at `path`, or nil when it cannot be read.
    func perfMapContents(_ path: String) -> ByteView?
}

extension SymbolFileProvider {
    public func perfMapStamp(_ path: String) -> FileStamp? { FileStamp(path: path) }

    public func perfMapContents(_ path: String) -> ByteView? {
        guard case .success(let bytes) = FileReader.map(path: path) else { return nil }
        return bytes
    }
}

/// The files of a recording, read by the paths its records name: binaries as they are
/// now, `/tmp/perf-PID.map` read once.
public final class RecordingFiles: SymbolFileProvider {
    public init() {}

    public func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? { nil }

    public func perfMapPath(pid: Int32) -> String? { "/tmp/perf-\(pid).map" }

    public var rereadsPerfMaps: Bool { false }
}

/// How a symbolizer is set up; fixed for its life.
public struct SymbolizerConfiguration {
    /// The kernel's symbols (from kallsyms), if known.
    public var kernel: KernelSymbols?
    /// Reads the kernel's symbols afresh, for an address that `kernel` does not cover (see
    /// `KernelSymbols.coverage`); used at most once.
    public var kernelReloader: (() -> KernelSymbols?)?
    /// Build ids the recording gives for paths (its BUILD_ID feature).
    public var buildIDs: [String: [UInt8]] = [:]
    /// perf's build-id cache directory (`~/.debug`).
    public var buildIDCache: String
    /// Where the files come from.
    public var files: SymbolFileProvider
    /// Where loaded symbol tables are kept (shared by symbolizers).
    public var symbolCache = SymbolCache.shared
    /// How user-space names are demangled (`--demangle`).
    public var demangle = DemangleStyle.perf

    public init(buildIDCache: String, files: SymbolFileProvider = RecordingFiles()) {
        self.buildIDCache = buildIDCache
        self.files = files
    }
}
