/// A sorted, compact table of function symbols for one object (an ELF file or the kernel).
///
/// Built the way perf builds its tables so names match perf's: when several symbols share
/// an address the best one is kept (sized over unsized, global over weak over local, fewer
/// leading underscores, then the longer name), and a symbol without a size ends where the
/// next one starts.
public struct SymbolTable: Sendable {
    /// Start addresses, ascending.
    public private(set) var starts: [UInt64] = []
    /// End addresses (exclusive).
    public private(set) var ends: [UInt64] = []
    private var nameOffsets: [UInt32] = []
    private var nameLengths: [UInt32] = []
    private var strings: [UInt8] = []

    /// Number of symbols.
    public var count: Int { starts.count }

    /// A symbol before de-duplication.
    public struct Entry: Sendable {
        public var start: UInt64
        public var size: UInt64
        public var nameOffset: UInt32
        public var nameLength: UInt32
        /// 0 local, 1 global, 2 weak (ELF binding values).
        public var binding: UInt8
        /// Kernel module symbol (kallsyms lines with a `[module]` suffix).
        public var isModule: Bool
        /// Name length perf compares (for kallsyms, including the module suffix).
        public var comparedLength: UInt32

        public init(start: UInt64, size: UInt64, nameOffset: UInt32, nameLength: UInt32, binding: UInt8, isModule: Bool = false, comparedLength: UInt32? = nil) {
            self.start = start
            self.size = size
            self.nameOffset = nameOffset
            self.nameLength = nameLength
            self.binding = binding
            self.isModule = isModule
            self.comparedLength = comparedLength ?? nameLength
        }
    }

    public init() {}

    /// Builds a table from `entries`, whose names point into `strings`, in perf's order of
    /// steps: ends are fixed up first (so among unsized aliases only the last keeps a
    /// length), then duplicates are resolved, then `extra` symbols (synthesized PLT stubs,
    /// always sized) are merged in. `isKallsyms` selects perf's kallsyms rule for the gap
    /// between kernel and module symbols.
    public init(entries unsorted: [Entry], strings: [UInt8], isKallsyms: Bool, extra: [Entry] = []) {
        self.strings = strings
        var entries = unsorted
        // Stable: aliases keep their file order, as perf's tree inserts equal keys rightwards.
        entries = entries.enumerated().sorted { $0.element.start != $1.element.start ? $0.element.start < $1.element.start : $0.offset < $1.offset }.map(\.element)
        for index in entries.indices where entries[index].size == 0 {
            let start = entries[index].start
            var end: UInt64
            if index + 1 < entries.count {
                let next = entries[index + 1]
                if isKallsyms && entries[index].isModule != next.isModule {
                    end = (start &+ 4096 &+ 4095) & ~UInt64(4095)
                } else {
                    end = next.start
                }
            } else {
                end = (start & ~UInt64(4095)) &+ 4096
            }
            entries[index].size = end &- start
        }
        var kept: [Entry] = []
        kept.reserveCapacity(entries.count + extra.count)
        for entry in entries {
            if let last = kept.last, last.start == entry.start {
                if Self.prefer(entry, over: last, strings: strings) { kept[kept.count - 1] = entry }
                continue
            }
            kept.append(entry)
        }
        if !extra.isEmpty {
            kept.append(contentsOf: extra)
            kept = kept.enumerated().sorted { $0.element.start != $1.element.start ? $0.element.start < $1.element.start : $0.offset < $1.offset }.map(\.element)
        }
        starts.reserveCapacity(kept.count)
        ends.reserveCapacity(kept.count)
        nameOffsets.reserveCapacity(kept.count)
        nameLengths.reserveCapacity(kept.count)
        for entry in kept {
            starts.append(entry.start)
            ends.append(entry.start &+ entry.size)
            nameOffsets.append(entry.nameOffset)
            nameLengths.append(entry.nameLength)
        }
    }

    /// perf's `choose_best_symbol`: whether `a` should replace `b` at the same address.
    static func prefer(_ a: Entry, over b: Entry, strings: [UInt8]) -> Bool {
        if (a.size > 0) != (b.size > 0) { return a.size > 0 }
        let aWeak = a.binding == 2, bWeak = b.binding == 2
        if aWeak != bWeak { return !aWeak }
        let aGlobal = a.binding == 1, bGlobal = b.binding == 1
        if aGlobal != bGlobal { return aGlobal }
        let aUnderscores = underscores(a, strings), bUnderscores = underscores(b, strings)
        if aUnderscores != bUnderscores { return aUnderscores < bUnderscores }
        if a.comparedLength != b.comparedLength { return a.comparedLength > b.comparedLength }
        return false
    }

    private static func underscores(_ entry: Entry, _ strings: [UInt8]) -> Int {
        var count = 0
        var index = Int(entry.nameOffset)
        let end = index + Int(entry.nameLength)
        while index < end && strings[index] == UInt8(ascii: "_") {
            count += 1
            index += 1
        }
        return count
    }

    /// The index of the symbol containing `address`, or nil.
    @inlinable
    public func find(_ address: UInt64) -> Int? {
        var low = 0
        var high = starts.count
        while low < high {
            let mid = (low &+ high) >> 1
            if starts[mid] <= address { low = mid &+ 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let index = low - 1
        return address < ends[index] ? index : nil
    }

    /// The raw (not demangled) name of symbol `index`.
    public func name(_ index: Int) -> String {
        let start = Int(nameOffsets[index])
        let length = Int(nameLengths[index])
        return strings.withUnsafeBufferPointer { buffer in
            String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<(start + length)]), as: UTF8.self)
        }
    }
}
