import FlamedSystem
import Logging
import ObjectFile

/// Where a file's symbols come from, and in which order. The first source with symbols wins:
///
/// 1. the binary's own `.symtab` (the binary is the mapped file, or perf's build-id cache
///    copy `~/.debug/.build-id/xx/rest/elf` when the file changed since the recording);
/// 2. a separate debug file's `.symtab`: by build id (perf's cache
///    `~/.debug/.build-id/xx/rest/debug`, then `/usr/lib/debug/.build-id/xx/rest.debug`),
///    then through `.gnu_debuglink` (`DIR/NAME`, `DIR/.debug/NAME`,
///    `/usr/lib/debug/DIR/NAME`, with the CRC-32 checked);
/// 3. MiniDebugInfo: the xz-compressed ELF in `.gnu_debugdata`, whose `.symtab` (the local
///    functions) is merged with `.dynsym`;
/// 4. the binary's `.dynsym`.
///
/// A build id must match whenever both sides have one. Addresses are mapped through the
/// binary's PT_LOAD segments (a debug file's may be absent or describe NOBITS sections);
/// only when no binary is found are a debug file's used.
enum SymbolSources {
    /// MiniDebugInfo larger than this once decompressed is refused (it holds only a
    /// symbol table; a quarter of a gigabyte is far beyond any real one).
    static let miniDebugInfoLimit = 256 << 20

    /// Loads the symbols for a file mapped at `path`. `buildID` is the recorded build id, or
    /// the file's own when nothing was recorded; `image` the file when it was already
    /// opened. `runningVDSO` allows `[vdso]` to be read from this process's own vDSO.
    static func load(key: String, path: String, buildID: [UInt8]?, image: ELFImage?, cacheDirectory: String,
                     runningVDSO: Bool, files: SymbolFileProvider, logger: Logger) -> LoadedSymbols {
        let buildID = (buildID?.isEmpty ?? true) ? nil : buildID
        let hex = buildID.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        let cached = hex.map { "\(cacheDirectory)/.build-id/\($0.prefix(2))/\($0.dropFirst(2))" }
        func matches(_ candidate: ELFImage) -> Bool {
            guard let buildID, let actual = candidate.buildID, !actual.isEmpty else { return true }
            return actual == buildID
        }

        // The binary: the file itself or a copy of it, the first whose build id matches.
        var binary: ELFImage?
        if path == "[vdso]" {
            if let cached, files.isRegularFile("\(cached)/vdso"), case .success(let copy) = files.objectFile("\(cached)/vdso"), matches(copy) {
                binary = copy
            } else if runningVDSO || buildID != nil, case .success(let running) = files.runningVDSO(), matches(running) {
                binary = running
            }
        } else if !path.hasPrefix("[") {
            for candidate in [path] + (cached.map { ["\($0)/elf"] } ?? []) {
                let opened: ELFImage?
                if let image, candidate == path {
                    opened = image
                } else if files.isRegularFile(candidate) {
                    opened = try? files.objectFile(candidate).get()
                } else {
                    opened = nil
                }
                guard let opened else { continue }
                if matches(opened) {
                    binary = opened
                    break
                }
                logger.debug("build-id mismatch", metadata: ["file": "\(candidate)"])
            }
        }

        var symbols: ELFSymbolTable?
        var origin = ""
        var debugImage: ELFImage?
        func use(_ table: ELFSymbolTable, from file: String) -> Bool {
            guard !table.isEmpty else { return false }
            symbols = table
            origin = "\(file) \(table.source)"
            return true
        }
        // 1. The binary's own symbol table.
        if let binary { _ = use(binary.functionSymbols(from: .symtab), from: binary.path) }
        // 2. A separate debug file, by build id, then by debuglink.
        if symbols == nil, let hex, let cached, path != "[vdso]" {
            for candidate in ["\(cached)/debug", "/usr/lib/debug/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"]
            where files.isRegularFile(candidate) {
                guard let image = try? files.objectFile(candidate).get() else { continue }
                guard matches(image) else {
                    logger.debug("build-id mismatch", metadata: ["file": "\(candidate)"])
                    continue
                }
                if use(image.functionSymbols(from: .symtab), from: candidate) {
                    debugImage = image
                    break
                }
            }
        }
        if symbols == nil, let binary, let link = binary.debugLink {
            for candidate in debugLinkCandidates(binary: binary.path, name: link.name, files: files) where files.isRegularFile(candidate) {
                switch files.crc32(candidate) {
                case .success(let crc) where crc == link.crc:
                    break
                case .success(let crc):
                    logger.debug("debuglink CRC mismatch", metadata: [
                        "file": "\(candidate)", "expected": "\(String(link.crc, radix: 16))", "actual": "\(String(crc, radix: 16))"])
                    continue
                case .failure(let error):
                    logger.debug("cannot read debug file", metadata: ["error": "\(error)"])
                    continue
                }
                guard let image = try? files.objectFile(candidate).get() else { continue }
                guard matches(image), binary.buildID == nil || image.buildID == nil || binary.buildID == image.buildID else {
                    logger.debug("build-id mismatch", metadata: ["file": "\(candidate)"])
                    continue
                }
                if use(image.functionSymbols(from: .symtab), from: candidate) {
                    debugImage = image
                    break
                }
            }
        }
        // 3. MiniDebugInfo, merged with the dynamic symbols.
        if symbols == nil, let binary, let compressed = binary.sectionContents(named: ".gnu_debugdata") {
            switch XZDecompressor.decompress(compressed, limit: miniDebugInfoLimit) {
            case .success(let bytes):
                switch ELFImage.parse(ByteView(bytes), path: "\(binary.path) .gnu_debugdata") {
                case .success(let mini):
                    let local = mini.functionSymbols(from: .symtab)
                    if !local.isEmpty {
                        _ = use(binary.functionSymbols(from: .dynsym).merging(local, source: ".gnu_debugdata+.dynsym"), from: binary.path)
                    }
                case .failure(let error):
                    logger.debug("unreadable MiniDebugInfo", metadata: ["error": "\(error)"])
                }
            case .failure(let error):
                logger.debug("undecodable MiniDebugInfo", metadata: ["file": "\(binary.path)", "error": "\(error)"])
            }
        }
        // 4. The dynamic symbols.
        if symbols == nil, let binary { _ = use(binary.functionSymbols(from: .dynsym), from: binary.path) }

        let segments = binary.map(\.segments).flatMap { $0.isEmpty ? nil : $0 } ?? debugImage?.segments ?? []
        guard var found = symbols else {
            if binary != nil || debugImage != nil { logger.debug("no symbols", metadata: ["file": "\(path)"]) }
            return LoadedSymbols(key: key, path: path, origin: "", segments: segments, table: SymbolTable(), strings: [])
        }
        let plt = binary?.pltSymbols() ?? ELFSymbolTable(symbols: [], strings: StringTable(), source: "")
        // The only copy of the columns, so that the table builder can let go of each.
        symbols = nil
        let table = SymbolTable(columns: &found.columns, strings: found.strings, extra: plt.symbols, extraStrings: plt.strings)
        logger.debug("symbols loaded", metadata: ["file": "\(path)", "from": "\(origin)", "count": "\(table.count)", "key": "\(key)"])
        return LoadedSymbols(key: key, path: path, origin: origin, segments: segments, table: table, strings: [found.strings, plt.strings])
    }

    /// Where a `.gnu_debuglink` name is looked for, as gdb does: next to the binary, in
    /// `.debug/` beside it, and under `/usr/lib/debug` with the binary's directory (for the
    /// path as mapped and, when it differs, with symbolic links resolved).
    static func debugLinkCandidates(binary: String, name: String, files: SymbolFileProvider) -> [String] {
        guard !name.isEmpty, !name.contains("/") else { return [] }
        var directories = [directory(of: binary)]
        if let real = files.realPath(binary), directory(of: real) != directories[0] { directories.append(directory(of: real)) }
        var result: [String] = []
        for directory in directories {
            let base = directory == "/" ? "" : directory
            for candidate in ["\(base)/\(name)", "\(base)/.debug/\(name)", "/usr/lib/debug\(base)/\(name)"]
            where candidate != binary && !result.contains(candidate) {
                result.append(candidate)
            }
        }
        return result
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension ELFImage {
    /// Maps the file at `path` (copy-on-write) and parses it. Fails when it is missing, not
    /// a regular file or not ELF.
    static func open(path: String) -> Result<ELFImage, FileError> {
        switch FileReader.mapCopyOnWrite(path: path) {
        case .failure(let error): return .failure(error)
        case .success(let mapped): return parse(mapped.bytes, file: mapped.file, path: path)
        }
    }

    /// The vDSO the kernel maps into this process, copied out and parsed. It names `[vdso]`
    /// frames of recordings made on this kernel when the recording carries no build id for it.
    static func openRunningVDSO() -> Result<ELFImage, FileError> {
        let path = "[vdso]"
        guard let header = RunningVDSO.copy(count: 64) else { return .failure(FileError(path: path, reason: "no vDSO in this process")) }
        let size = endOfSectionHeaders(header) ?? 0
        guard size > 64, size <= 1 << 20, let bytes = RunningVDSO.copy(count: size) else {
            return .failure(FileError(path: path, reason: "implausible vDSO size \(size)"))
        }
        return parse(bytes, path: path)
    }
}

extension CRC32 {
    /// The CRC-32 of a whole file, read through a private mapping whose pages are dropped
    /// as they are checked (debug files can be hundreds of megabytes).
    static func checksum(ofFile path: String) -> Result<UInt32, FileError> {
        switch FileReader.map(path: path) {
        case .failure(let error):
            return .failure(error)
        case .success(let view):
            var crc: UInt32 = 0
            let step = 8 << 20
            var offset = 0
            while offset < view.count {
                let length = min(step, view.count - offset)
                guard let part = view.slice(offset, length) else { break }
                crc = part.withUnsafeBytes { update(crc, $0) }
                view.releaseResidentPages(offset, length)
                offset += length
            }
            return .success(crc)
        }
    }
}
