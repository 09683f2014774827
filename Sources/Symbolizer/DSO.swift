import FlamedSystem
import Logging
import Synchronization

/// A file that code was mapped from, with its symbols loaded on first use.
///
/// Loading may happen on a prefetch thread: `load` and `releaseResidentPages` hold
/// `lock`, and the other state is only read after `load` has returned.
final class DSO: @unchecked Sendable {
    private let lock = Mutex(())
    let path: String
    let expectedBuildID: [UInt8]?
    private var loaded = false
    private(set) var segments: [ELFSegment] = []
    private(set) var table = SymbolTable()
    /// Global frame id of this DSO's symbol 0; symbol i has frame id `frameBase + i`.
    var frameBase: Int32 = -1
    /// Where the symbols came from, for diagnostics.
    private(set) var origin = ""
    /// The string tables the symbol names are read from.
    private var strings: [ByteView] = []

    init(path: String, expectedBuildID: [UInt8]?) {
        self.path = path
        self.expectedBuildID = expectedBuildID
    }

    /// Loads segments and symbols once. Candidates are tried in perf's order: the build-id
    /// cache's debug file, the system debug directory, the cached copy, then the file itself.
    /// The first with a `.symtab` supplies symbols; otherwise the first with `.dynsym`.
    /// `runningVDSO` allows naming `[vdso]` frames from this process's own vDSO when the
    /// recording has no build id for it (pipe mode) and was made on the running kernel.
    func load(cacheDirectory: String, logger: Logger, runningVDSO: Bool = false) {
        lock.withLock { _ in loadLocked(cacheDirectory: cacheDirectory, logger: logger, runningVDSO: runningVDSO) }
    }

    private func loadLocked(cacheDirectory: String, logger: Logger, runningVDSO: Bool) {
        guard !loaded else { return }
        loaded = true
        var candidates: [String] = []
        // Without a recorded build id (perf lists only files that sample IPs hit), the
        // file's own id still finds its debug file, as perf does.
        var buildID = expectedBuildID
        var opened: [String: ELFImage] = [:]
        if buildID?.isEmpty ?? true, !path.hasPrefix("["), case .success(let image) = ELFImage.open(path: path) {
            buildID = image.buildID
            opened[path] = image
        }
        if let id = buildID, !id.isEmpty {
            let hex = id.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            let head = String(hex.prefix(2)), rest = String(hex.dropFirst(2))
            let cached = "\(cacheDirectory)/.build-id/\(head)/\(rest)"
            if path == "[vdso]" {
                candidates = ["\(cached)/vdso"]
            } else {
                candidates = ["\(cached)/debug", "/usr/lib/debug/.build-id/\(head)/\(rest).debug", "\(cached)/elf", path]
            }
        } else if !path.hasPrefix("[") {
            candidates = [path]
        }
        // Separate debug files keep the program headers but not always their file offsets,
        // so segments come from a real binary when there is one.
        if path == "[vdso]" && candidates.isEmpty && runningVDSO, case .success(let image) = ELFImage.openRunningVDSO() {
            opened[path] = image
            candidates = [path]
        }
        var runtime: ELFImage?
        var debugRuntime: ELFImage?
        var chosen: (ELFSymbolTable, String)?
        var fallback: (ELFSymbolTable, String)?
        for candidate in candidates where opened[candidate] != nil || FileReader.isRegularFile(candidate) {
            let isDebugFile = candidate.hasSuffix("/debug") || candidate.hasSuffix(".debug")
            guard let image = opened[candidate] ?? (try? ELFImage.open(path: candidate).get()) else { continue }
            if let expected = expectedBuildID, !expected.isEmpty, let actual = image.buildID, actual != expected {
                logger.debug("build-id mismatch", metadata: ["file": "\(candidate)"])
                continue
            }
            if !image.segments.isEmpty {
                if isDebugFile { debugRuntime = debugRuntime ?? image } else { runtime = runtime ?? image }
            }
            if chosen == nil {
                let symbols = image.functionSymbols()
                if symbols.source == ".symtab" {
                    chosen = (symbols, candidate)
                } else if fallback == nil && !symbols.symbols.isEmpty {
                    fallback = (symbols, candidate)
                }
            }
            if chosen != nil && runtime != nil { break }
        }
        segments = (runtime ?? debugRuntime)?.segments ?? []
        if let (symbols, file) = chosen ?? fallback {
            let plt = runtime?.pltSymbols() ?? ELFSymbolTable(symbols: [], strings: ByteView([]), source: "")
            table = SymbolTable(symbols: symbols.symbols, strings: symbols.strings, extra: plt.symbols, extraStrings: plt.strings)
            origin = file
            strings = [symbols.strings, plt.strings]
        } else if !candidates.isEmpty {
            logger.debug("no symbols", metadata: ["file": "\(path)"])
        }
    }

    /// Drops the resident pages of the mapped ELF files; names are read back on demand.
    func releaseResidentPages() {
        lock.withLock { _ in
            for view in strings { view.releaseResidentPages(0, view.count) }
        }
    }

    /// Converts a file offset to the ELF virtual address symbols use.
    func virtualAddress(fileOffset: UInt64) -> UInt64? {
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset < segment.fileOffset &+ max(segment.fileSize, segment.memorySize) {
            return fileOffset &- segment.fileOffset &+ segment.virtualAddress
        }
        return nil
    }
}
