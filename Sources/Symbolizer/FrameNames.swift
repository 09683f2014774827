import Demangling
import FlamedCollections

/// Frame ids and their names. Ids are small integers handed out as frames are met: a range
/// per symbol table (symbol i of a table is its base + i; one table, whatever the paths of
/// its file, has one range), one id per `[basename]` frame (an address in a file that no
/// symbol covers), per JIT symbol and per run-time kernel symbol. Id 0 is an unresolved user
/// frame and id 1 an unresolved kernel frame, both `[unknown]`. Names are read and demangled
/// when first asked for, and kept.
final class FrameNames {
    /// How many ids were handed out.
    private(set) var count = 2
    /// The first id of each range, and the file whose table it names (nil: a single named id).
    private var owners: [(base: Int32, dso: DSO?)] = []
    /// Every kernel table ids were taken from, by first id: the one in use is last.
    private var kernelTables: [(base: Int32, table: SymbolTable)] = []
    /// The first id of each symbol table's range, by `LoadedSymbols.identity`.
    private var tableBases: [String: Int32] = [:]
    /// The identity of the table whose range starts at `base`, by base.
    private var tableIdentities: [Int32: String] = [:]
    /// `[basename]` frames.
    private var moduleFrames = IntMap()
    /// JIT frames, by name and as a set.
    private var jitFrames: [String: Int32] = [:]
    private var jitFrameIDs = Set<Int32>()
    /// Names known or worked out so far.
    private var names: [Int32: String] = [:]
    private let demangle: DemangleStyle

    init(demangle: DemangleStyle) {
        self.demangle = demangle
    }

    /// Hands out `size` ids for `dso` (nil: named ones) and returns the first.
    private func allocate(_ size: Int, for dso: DSO?) -> Int32 {
        let base = Int32(count)
        count += max(size, 1)
        owners.append((base, dso))
        return base
    }

    /// The id of symbol 0 of `symbols`, the table of `dso`, given on first use.
    func base(of symbols: LoadedSymbols, in dso: DSO) -> Int32 {
        let identity = symbols.identity
        if dso.frameBase >= 0 && dso.frameIdentity == identity { return dso.frameBase }
        let base: Int32
        if let existing = tableBases[identity] {
            base = existing
        } else {
            base = allocate(symbols.count, for: dso)
            tableBases[identity] = base
            tableIdentities[base] = identity
        }
        dso.frameBase = base
        dso.frameIdentity = identity
        return base
    }

    /// The id of symbol 0 of a kernel symbol table: ids handed out from an earlier table keep
    /// their names.
    func base(ofKernelTable table: SymbolTable) -> Int32 {
        let base = Int32(count)
        count += table.count
        kernelTables.append((base, table))
        return base
    }

    /// The `[basename]` frame of a file, for its addresses that no symbol covers.
    func moduleFrame(of dso: DSO) -> Int32 {
        if dso.moduleFrame >= 0 { return dso.moduleFrame }
        let frame = named(dso.moduleName)
        moduleFrames.set(UInt64(frame), 1)
        dso.moduleFrame = frame
        return frame
    }

    /// Whether `frame` is a `[basename]` frame.
    func isModuleFrame(_ frame: Int32) -> Bool { moduleFrames[UInt64(frame)] != nil }

    /// A new id named `name` (a run-time kernel symbol).
    func named(_ name: String) -> Int32 {
        let frame = allocate(1, for: nil)
        names[frame] = name
        return frame
    }

    /// The id of a JIT symbol name, given on first use.
    func jitFrame(named name: String) -> Int32 {
        if let existing = jitFrames[name] { return existing }
        let frame = named(name)
        jitFrames[name] = frame
        jitFrameIDs.insert(frame)
        return frame
    }

    /// Whether `frame` is JIT code named from a perf map.
    func isJIT(_ frame: Int32) -> Bool { !jitFrameIDs.isEmpty && jitFrameIDs.contains(frame) }

    /// The display name of `frame`, kept once worked out; `load` gives a file's symbols.
    func name(of frame: Int32, load: (DSO) -> LoadedSymbols) -> String {
        if let cached = names[frame] { return cached }
        let result: String
        switch deferredName(of: frame, load: load) {
        case .known(let name): result = name
        case .pending(let pending): result = pending.resolve()
        }
        if frame != Symbolizer.unknownUser && frame != Symbolizer.unknownKernel { names[frame] = result }
        return result
    }

    /// The name of `frame`, or the symbol whose name is still to be read and demangled.
    func deferredName(of frame: Int32, load: (DSO) -> LoadedSymbols) -> FrameName {
        if frame == Symbolizer.unknownUser || frame == Symbolizer.unknownKernel { return .known("[unknown]") }
        if let cached = names[frame] { return .known(cached) }
        if let position = kernelTables.lastIndex(where: { frame >= $0.base && frame < $0.base + Int32($0.table.count) }) {
            return .known(kernelTables[position].table.name(Int(frame - kernelTables[position].base)))
        }
        if let owner = owners.last(where: { $0.base <= frame }), let dso = owner.dso {
            let index = Int(frame - owner.base)
            // The table may have been evicted and loaded again since: the same identity
            // means the same symbols at the same indices.
            let symbols = load(dso)
            if index < symbols.table.count, tableIdentities[owner.base] == symbols.identity {
                return .pending(PendingName(symbols: symbols, index: index, style: demangle))
            }
        }
        return .known("[unknown]")
    }
}

/// A frame's name as `Symbolizer.deferredName(of:)` gives it.
public enum FrameName: Sendable {
    case known(String)
    case pending(PendingName)
}

/// A symbol's display name still to be read from its table and demangled; thread-safe.
public struct PendingName: Sendable {
    let symbols: LoadedSymbols
    let index: Int
    let style: DemangleStyle

    /// Equal for pending names of the same symbol in the same style, from whichever
    /// symbolizer: such names need resolving once.
    public struct Key: Hashable, Sendable {
        let symbols: ObjectIdentifier
        let index: Int
        let style: DemangleStyle
    }

    public var key: Key { Key(symbols: ObjectIdentifier(symbols), index: index, style: style) }

    /// The name, demangled.
    public func resolve() -> String {
        Demangler.demangle(symbols.name(index), style: style)
    }
}
