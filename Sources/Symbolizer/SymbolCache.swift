import FlamedSystem
import ObjectFile
import Synchronization

/// The symbols and layout of one object file, loaded from the best source found for it
/// (see `SymbolSources`). Immutable, and shared through `SymbolCache` by every mapping of
/// the same file, whatever path or process it was mapped by.
public final class LoadedSymbols: Sendable {
    /// The cache key: `build-id:…`, `inode:…` or `path:…`.
    public let key: String
    /// Where the symbols came from (file and section), for diagnostics; "" when none.
    public let origin: String
    /// The path the load was made for.
    public let path: String
    /// The PT_LOAD segments that map file offsets to the addresses symbols use.
    let segments: [ELFSegment]
    let table: SymbolTable
    /// The string tables the names are read from (their pages can be dropped).
    private let strings: [StringTable]

    init(key: String, path: String, origin: String, segments: [ELFSegment], table: SymbolTable, strings: [StringTable]) {
        self.key = key
        self.path = path
        self.origin = origin
        self.segments = segments
        self.table = table
        self.strings = strings
        identity = "\(key)\u{0}\(origin)\u{0}\(table.count)"
    }

    /// Number of symbols.
    public var count: Int { table.count }

    /// Two loads of the same file from the same source give the same table, so frame ids
    /// handed out for one stay valid for the other; a different identity means different
    /// symbol indices.
    let identity: String

    /// The index of the symbol containing `address` (see `SymbolTable.find`), without
    /// copying the table.
    func find(_ address: UInt64) -> Int? {
        table.find(address)
    }

    /// The raw name of symbol `index`, without copying the table.
    func name(_ index: Int) -> String {
        table.name(index)
    }

    /// Converts a file offset to the ELF virtual address symbols use.
    func virtualAddress(fileOffset: UInt64) -> UInt64? {
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset < segment.fileOffset &+ max(segment.fileSize, segment.memorySize) {
            return fileOffset &- segment.fileOffset &+ segment.virtualAddress
        }
        return nil
    }

    /// Drops the resident pages of the mapped string tables; names are read back on demand.
    func releaseResidentPages() {
        for table in strings { table.releaseResidentPages() }
    }
}

/// Loaded symbol tables by file identity (build id, else device and inode, else path), in
/// a bounded least-recently-used cache: a thousand processes running one binary, or one
/// binary under a thousand paths (containers), load its symbols once.
///
/// The cache holds the only strong references to tables with symbols; `DSO`s hold them
/// weakly, so an evicted table is released and loaded again if it is needed again (from
/// the same files, giving the same table). Tables without any symbols are not cached:
/// another path to the same identity may find symbols where this one found none.
/// Thread-safe; a key is loaded by one thread at a time.
public final class SymbolCache: Sendable {
    /// The cache the symbolizers of this process share (the daemon rebuilds its symbolizer
    /// from time to time; the tables survive it).
    public static let shared = SymbolCache(capacity: 256)

    /// Tables kept at most.
    public let capacity: Int

    private final class Slot: Sendable {
        let value = Mutex<LoadedSymbols?>(nil)
    }

    private struct State {
        var slots: [String: (slot: Slot, lastUse: UInt64)] = [:]
        var clock: UInt64 = 0
        /// Symbols held per cached key, and their sum.
        var sizes: [String: Int] = [:]
        var totalSymbols = 0
        /// Most symbols held in all (about 17 bytes each); past it the least recently used go.
        var symbolBudget = Int.max
    }

    private let state = Mutex(State())
    private let loads = Atomic<Int>(0)

    /// Bounds the symbols the cache holds in all (a long-running daemon sets this; a
    /// one-shot report keeps every table it loads).
    public func limit(symbols budget: Int) {
        state.withLock { $0.symbolBudget = max(budget, 1) }
    }

    /// Symbols held in all.
    public var totalSymbols: Int { state.withLock { $0.totalSymbols } }

    private static func evict(_ key: String, from state: inout State) {
        state.slots[key] = nil
        if let size = state.sizes.removeValue(forKey: key) { state.totalSymbols -= size }
    }

    public init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// How many tables were loaded (cache misses) since this cache was made.
    public var loadCount: Int { loads.load(ordering: .relaxed) }

    /// How many keys the cache holds.
    public var count: Int { state.withLock { $0.slots.count } }

    /// Whether `key` has a table in the cache now.
    func contains(_ key: String) -> Bool {
        let slot = state.withLock { $0.slots[key]?.slot }
        return slot?.value.withLock { $0 != nil } ?? false
    }

    /// The table for `key`: the cached one, or what `load` returns (cached when it has
    /// symbols). The least recently used key is evicted past `capacity`.
    func symbols(forKey key: String, load: () -> LoadedSymbols) -> LoadedSymbols {
        let slot = state.withLock { state -> Slot in
            state.clock &+= 1
            if let existing = state.slots[key] {
                state.slots[key] = (existing.slot, state.clock)
                return existing.slot
            }
            let created = Slot()
            state.slots[key] = (created, state.clock)
            while state.slots.count > capacity {
                guard let oldest = state.slots.min(by: { $0.value.lastUse < $1.value.lastUse })?.key, oldest != key else { break }
                Self.evict(oldest, from: &state)
            }
            return created
        }
        let (result, cached) = slot.value.withLock { value -> (LoadedSymbols, Bool) in
            if let existing = value { return (existing, true) }
            let loaded = load()
            loads.add(1, ordering: .relaxed)
            if loaded.count > 0 { value = loaded }
            return (loaded, loaded.count > 0)
        }
        state.withLock { state in
            guard let current = state.slots[key], current.slot === slot else { return }
            if !cached {
                state.slots[key] = nil
                return
            }
            if state.sizes[key] == nil {
                state.sizes[key] = result.count
                state.totalSymbols += result.count
            }
            while state.totalSymbols > state.symbolBudget {
                guard let oldest = state.slots.filter({ $0.key != key && state.sizes[$0.key] != nil })
                    .min(by: { $0.value.lastUse < $1.value.lastUse })?.key else { break }
                Self.evict(oldest, from: &state)
            }
        }
        return result
    }

    /// Forgets every table (DSOs holding one keep it until they let go).
    public func removeAll() {
        state.withLock {
            $0.slots.removeAll()
            $0.sizes.removeAll()
            $0.totalSymbols = 0
        }
    }
}
