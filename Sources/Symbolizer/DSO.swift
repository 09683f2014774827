import FlamedSystem
import Logging
import ObjectFile
import Synchronization

/// A file that code was mapped from: a path and the build id recorded for it.
///
/// Its symbols are loaded on first use through a `SymbolCache` (see `SymbolSources` for
/// where they come from), keyed by build id, else device and inode, else path, and so
/// shared with every other DSO of the same file. A table with symbols is held weakly: the
/// cache decides how long it lives, and after an eviction it is loaded again on demand.
///
/// Loading may happen on a prefetch thread: the loaded state is behind `state`; the frame
/// fields are used by the symbolizer's thread only.
final class DSO: @unchecked Sendable {
    let path: String
    let expectedBuildID: [UInt8]?
    let cache: SymbolCache

    private struct State {
        /// The cache key, worked out on first load.
        var key: String?
        /// The build id symbols must match: the recorded one, else the file's own.
        var buildID: [UInt8]?
        weak var shared: LoadedSymbols?
        /// A table without symbols, which the cache does not keep.
        var own: LoadedSymbols?
    }

    private let state = Mutex(State())

    /// Frame id of this file's `[basename]` frame (addresses in it that no symbol covers),
    /// or -1 until one is needed.
    var moduleFrame: Int32 = -1
    /// Global frame id of symbol 0 of the table `frameIdentity` names: symbol i has frame id
    /// `frameBase + i`. A remembered answer of the symbolizer's, which owns the ids.
    var frameBase: Int32 = -1
    var frameIdentity = ""

    /// Live modes: the mapped file itself, held open, so that it is read even after it was
    /// deleted or replaced, or through the root of a process in another mount namespace.
    let pinned: PinnedFile?
    /// The path the file is opened through: the held file, else `path`.
    var openPath: String { pinned?.path ?? path }

    init(path: String, expectedBuildID: [UInt8]?, cache: SymbolCache = .shared, pinned: PinnedFile? = nil) {
        self.pinned = pinned
        self.path = path
        self.expectedBuildID = expectedBuildID
        self.cache = cache
    }

    /// The file's symbols, loaded (or taken from the cache) on first use.
    /// `runningVDSO` allows naming `[vdso]` frames from this process's own vDSO when the
    /// recording has no build id for it (pipe mode) and was made on the running kernel.
    @discardableResult
    func load(cacheDirectory: String, files: SymbolFileProvider, logger: Logger, runningVDSO: Bool = false) -> LoadedSymbols {
        state.withLock { state in
            if let current = state.shared ?? state.own { return current }
            var image: ELFImage?
            let key: String
            if let known = state.key {
                key = known
            } else {
                let identified = Self.identify(path: openPath, recordedBuildID: expectedBuildID, runningVDSO: runningVDSO, files: files)
                key = identified.key
                image = identified.image
                state.key = key
                state.buildID = identified.buildID
            }
            let buildID = state.buildID, path = self.openPath
            let loaded = cache.symbols(forKey: key) {
                SymbolSources.load(key: key, path: path, buildID: buildID, image: image, cacheDirectory: cacheDirectory,
                                   runningVDSO: runningVDSO, files: files, logger: logger)
            }
            if loaded.count > 0 { state.shared = loaded } else { state.own = loaded }
            return loaded
        }
    }

    /// The cache key of a file: its build id (the recorded one, else the file's own, which
    /// opens the file), else its device, inode, size and time, else its path.
    static func identify(path: String, recordedBuildID: [UInt8]?, runningVDSO: Bool, files: SymbolFileProvider)
        -> (key: String, buildID: [UInt8]?, image: ELFImage?) {
        func hex(_ id: [UInt8]) -> String { id.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        if let id = recordedBuildID, !id.isEmpty { return ("build-id:" + hex(id), id, nil) }
        if path.hasPrefix("[") { return (path == "[vdso]" && runningVDSO ? "vdso:running" : "path:" + path, nil, nil) }
        let image = try? files.objectFile(path).get()
        if let id = image?.buildID, !id.isEmpty { return ("build-id:" + hex(id), id, image) }
        if let identity = files.stamp(path) { return ("inode:\(identity)", nil, image) }
        return ("path:" + path, nil, image)
    }

    /// The name of frames in this file that no symbol covers, as stackcollapse-perf names
    /// them: the file's base name in brackets (`[libc.so.6]`; `[vdso]` as it is).
    var moduleName: String {
        if path.hasPrefix("[") && path.hasSuffix("]") { return path }
        let base = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
        return "[\(base)]"
    }

    /// Drops the resident pages of the mapped symbol names; they are read back on demand.
    func releaseResidentPages() {
        state.withLock { ($0.shared ?? $0.own)?.releaseResidentPages() }
    }
}
