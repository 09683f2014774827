import Demangling
import FlamedSystem
import ObjectFile
import ProcText

/// Where the symbolizer's files come from: binaries and their debug files (by path, in
/// build-id directories, through debuglink), each mapping's file as its process sees it,
/// the running vDSO, and each JIT's perf map. The symbolizer and its symbol sources ask;
/// they never open a file themselves.
///
/// The file-system defaults read paths as they are; `RecordingFiles` uses them as perf does
/// at report time, live profiles also reach each process's files through its root and
/// `map_files`, and tests give them from memory.
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
    /// Whether a regular file is at `path` (a candidate worth opening).
    func isRegularFile(_ path: String) -> Bool
    /// What identifies the contents of the regular file at `path` without reading them.
    func stamp(_ path: String) -> FileStamp?
    /// The whole file at `path` (a perf map), or nil when it cannot be read.
    func contents(_ path: String) -> ByteView?
    /// The ELF file at `path`, parsed.
    func objectFile(_ path: String) -> Result<ELFImage, FileError>
    /// The vDSO the running kernel maps into this process, parsed.
    func runningVDSO() -> Result<ELFImage, FileError>
    /// The CRC-32 of the whole file at `path` (a `.gnu_debuglink` check).
    func crc32(_ path: String) -> Result<UInt32, FileError>
    /// `path` with symbolic links, `.` and `..` resolved, or nil when it does not exist.
    func realPath(_ path: String) -> String?
}

/// The file system as it is.
extension SymbolFileProvider {
    public func isRegularFile(_ path: String) -> Bool { FileReader.isRegularFile(path) }

    public func stamp(_ path: String) -> FileStamp? { FileStamp(path: path) }

    public func contents(_ path: String) -> ByteView? {
        guard case .success(let bytes) = FileReader.map(path: path) else { return nil }
        return bytes
    }

    public func objectFile(_ path: String) -> Result<ELFImage, FileError> { ELFImage.open(path: path) }

    public func runningVDSO() -> Result<ELFImage, FileError> { ELFImage.openRunningVDSO() }

    public func crc32(_ path: String) -> Result<UInt32, FileError> { CRC32.checksum(ofFile: path) }

    public func realPath(_ path: String) -> String? { FileStamp.realPath(path) }
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
