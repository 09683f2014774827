import Demangling
import FlamedSystem
import Logging
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
    /// Where parsed kernel symbols are kept between runs (`KallsymsCache`), or nil for none.
    var kallsymsCacheDirectory: String? { get }
    /// The kernel's symbols from the first of `paths` that lists any, the warning when none
    /// does, and whether any was read (see `KallsymsCache.firstListing`).
    func kernelSymbols(_ paths: [String], logger: Logger) -> (symbols: KernelSymbols?, warning: String?, readAny: Bool)
    /// The running kernel's symbols read afresh, not from the cache: for an address that a
    /// cached table does not cover (a module loaded since, a BPF program).
    func freshKernelSymbols(logger: Logger) -> KernelSymbols?
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

    public var kallsymsCacheDirectory: String? { nil }

    public func kernelSymbols(_ paths: [String], logger: Logger) -> (symbols: KernelSymbols?, warning: String?, readAny: Bool) {
        KallsymsCache.firstListing(paths, directory: kallsymsCacheDirectory, logger: logger)
    }

    public func freshKernelSymbols(logger: Logger) -> KernelSymbols? {
        KallsymsCache.runningKernel(directory: kallsymsCacheDirectory, fresh: true, logger: logger)
    }
}

/// The files of a recording, read by the paths its records name: binaries as they are
/// now, `/tmp/perf-PID.map` read once, kernel symbols kept in `kallsymsCacheDirectory`.
public final class RecordingFiles: SymbolFileProvider {
    public let kallsymsCacheDirectory: String?

    public init(kallsymsCacheDirectory: String? = nil) {
        self.kallsymsCacheDirectory = kallsymsCacheDirectory
    }

    public func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? { nil }

    public func perfMapPath(pid: Int32) -> String? { "/tmp/perf-\(pid).map" }

    public var rereadsPerfMaps: Bool { false }
}

/// How a symbolizer is set up; fixed for its life.
public struct SymbolizerConfiguration {
    /// The kernel's symbols (from kallsyms), if known. Where they came from a cache that
    /// may be stale (`KernelSymbols.coverage`), an address they do not cover has them read
    /// afresh through `files`, once.
    public var kernel: KernelSymbols?
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
