import FlamedSystem

/// A sorted, compact table of function symbols for one object (an ELF file or the kernel).
///
/// Names stay where they are (in the mapped string table or kallsyms text) and are only
/// read for symbols that are looked up. Built the way perf builds its tables so names
/// match perf's: symbol ends are fixed up first (a symbol without a size ends where the
/// next one starts), then among symbols at one address the best is kept (one with a
/// length over one without, global over weak over local, fewer leading underscores, then
/// the longer name), then synthesized PLT stubs are merged in.
public struct SymbolTable: Sendable {
    /// Start addresses, ascending.
    public private(set) var starts: [UInt64] = []
    /// End addresses (exclusive).
    public private(set) var ends: [UInt64] = []
    private var nameOffsets: [UInt32] = []
    private var strings: ByteView
    private var extraStrings: ByteView

    /// Name offsets with this bit set point into the extra strings.
    static let extraBit: UInt32 = 1 << 31

    /// Number of symbols.
    public var count: Int { starts.count }

    /// A symbol before ends and duplicates are fixed up.
    public struct Entry: Sendable {
        public var start: UInt64
        public var size: UInt64
        /// Offset of the name in the table's strings (with `extraBit` for the extra strings).
        public var nameOffset: UInt32
        /// 0 local, 1 global, 2 weak (ELF binding values).
        public var binding: UInt8
        /// Kernel module symbol (kallsyms lines with a `[module]` suffix).
        public var isModule: Bool

        public init(start: UInt64, size: UInt64, nameOffset: UInt32, binding: UInt8, isModule: Bool = false) {
            self.start = start
            self.size = size
            self.nameOffset = nameOffset
            self.binding = binding
            self.isModule = isModule
        }
    }

    public init() {
        strings = ByteView([])
        extraStrings = strings
    }

    /// Builds a table from `entries`, whose names point into `strings` (NUL-, tab- or
    /// newline-terminated). `extra` entries (always sized) name into `extraStrings`.
    /// `isKallsyms` selects perf's kallsyms rule for the gap between kernel and modules.
    public init(entries unsorted: [Entry], strings: ByteView, isKallsyms: Bool,
                extra: [Entry] = [], extraStrings: ByteView = ByteView([])) {
        self.strings = strings
        self.extraStrings = extraStrings
        var entries = Self.sortedStably(unsorted)
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
                if prefer(entry, over: last) { kept[kept.count - 1] = entry }
                continue
            }
            kept.append(entry)
        }
        if !extra.isEmpty {
            kept = Self.sortedStably(kept + extra.map { var e = $0; e.nameOffset |= Self.extraBit; return e })
        }
        starts.reserveCapacity(kept.count)
        ends.reserveCapacity(kept.count)
        nameOffsets.reserveCapacity(kept.count)
        for entry in kept {
            starts.append(entry.start)
            ends.append(entry.start &+ entry.size)
            nameOffsets.append(entry.nameOffset)
        }
    }

    /// Sorts by start, keeping the input order among equal starts (perf's tree inserts
    /// equal keys to the right). Input that is already sorted is returned as is.
    static func sortedStably(_ entries: [Entry]) -> [Entry] {
        var sorted = true
        var index = 1
        while index < entries.count {
            if entries[index].start < entries[index - 1].start { sorted = false; break }
            index += 1
        }
        if sorted { return entries }
        var order = Array(0..<entries.count)
        order.sort { entries[$0].start != entries[$1].start ? entries[$0].start < entries[$1].start : $0 < $1 }
        return order.map { entries[$0] }
    }

    /// perf's `choose_best_symbol`: whether `a` should replace `b` at the same address.
    func prefer(_ a: Entry, over b: Entry) -> Bool {
        if (a.size > 0) != (b.size > 0) { return a.size > 0 }
        let aWeak = a.binding == 2, bWeak = b.binding == 2
        if aWeak != bWeak { return !aWeak }
        let aGlobal = a.binding == 1, bGlobal = b.binding == 1
        if aGlobal != bGlobal { return aGlobal }
        let aUnderscores = underscores(a.nameOffset), bUnderscores = underscores(b.nameOffset)
        if aUnderscores != bUnderscores { return aUnderscores < bUnderscores }
        let aLength = fullLength(a.nameOffset), bLength = fullLength(b.nameOffset)
        return aLength > bLength
    }

    private func source(_ offset: UInt32) -> (ByteView, Int) {
        offset & Self.extraBit != 0 ? (extraStrings, Int(offset & ~Self.extraBit)) : (strings, Int(offset))
    }

    private func underscores(_ offset: UInt32) -> Int {
        let (bytes, start) = source(offset)
        var count = 0
        while bytes.u8(start + count) == UInt8(ascii: "_") { count += 1 }
        return count
    }

    /// Length up to the end of the line or NUL (for kallsyms, the module suffix included,
    /// which is what perf compares).
    private func fullLength(_ offset: UInt32) -> Int {
        let (bytes, start) = source(offset)
        var length = 0
        while let byte = bytes.u8(start + length), byte != 0, byte != 10 { length += 1 }
        return length
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
        let (bytes, start) = source(nameOffsets[index])
        var length = 0
        while let byte = bytes.u8(start + length), byte != 0, byte != 9, byte != 10 { length += 1 }
        return bytes.string(start, length) ?? ""
    }
}
