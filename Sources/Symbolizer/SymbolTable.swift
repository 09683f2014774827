import FlamedSystem
import ObjectFile

/// A sorted, compact table of function symbols for one object (an ELF file or the kernel).
///
/// Names stay where they are (in the mapped string table or kallsyms text) and are only
/// read for symbols that are looked up. Built the way perf builds its tables so names
/// match perf's: symbol ends are fixed up first (a symbol without a size ends where the
/// next one starts), aliases at one address are resolved as perf's duplicate fixup does
/// (one with a length over one without, global over weak over local, fewer leading
/// underscores, then the longer name), and synthesized PLT stubs are merged in afterwards.
public struct SymbolTable: Sendable {
    /// Start addresses, ascending.
    private var starts = StartAddresses()
    /// Sizes after perf's end fixup (saturated at 4 GiB, far beyond any function).
    private var sizes: [UInt32] = []
    private var nameOffsets: [UInt32] = []
    /// ELF binding of each symbol, kept to choose among aliases when one is looked up.
    private var bindings: [UInt8] = []
    private var strings: StringTable
    private var extraStrings: StringTable

    /// Name offsets with this bit set point into the extra strings.
    static let extraBit: UInt32 = 1 << 31

    /// Number of symbols.
    public var count: Int { starts.count }

    public init() {
        strings = StringTable()
        extraStrings = strings
    }

    /// Builds a table from `symbols`, whose names point into `strings` (NUL-, tab- or
    /// newline-terminated). `extra` symbols (sorted, always sized) name into
    /// `extraStrings`. `moduleFlags`, for kallsyms, marks module symbols so that the gap
    /// between kernel and modules is not filled, as perf does.
    public init(symbols: [ELFSymbol], strings: StringTable, moduleFlags: [Bool]? = nil,
                extra: [ELFSymbol] = [], extraStrings: StringTable = StringTable()) {
        self.strings = strings
        self.extraStrings = extraStrings
        let order = Self.sortOrder(symbols)
        let total = symbols.count + extra.count
        var lowest = UInt64.max, highest = UInt64.min
        if let first = order.map({ Int($0[0]) }) ?? (symbols.isEmpty ? nil : 0), let last = order.map({ Int($0[$0.count - 1]) }) ?? symbols.indices.last {
            lowest = symbols[first].start
            highest = symbols[last].start
        }
        if let first = extra.first, let last = extra.last {
            lowest = min(lowest, first.start)
            highest = max(highest, last.start)
        }
        starts = StartAddresses(lowest: lowest, highest: highest)
        starts.reserveCapacity(total)
        sizes.reserveCapacity(total)
        nameOffsets.reserveCapacity(total)
        bindings.reserveCapacity(total)
        // Merge the sorted own symbols with the extra ones (own first on equal starts).
        // An own symbol without a size ends where the next own symbol starts: perf fixes
        // ends up before the PLT stubs exist.
        var rank = 0, extraIndex = 0
        var openUnsized: (index: Int, symbol: Int)? = nil
        while rank < symbols.count || extraIndex < extra.count {
            let takeOwn: Bool
            if rank < symbols.count && extraIndex < extra.count {
                takeOwn = symbols[order.map { Int($0[rank]) } ?? rank].start <= extra[extraIndex].start
            } else {
                takeOwn = rank < symbols.count
            }
            if takeOwn {
                let position = order.map { Int($0[rank]) } ?? rank
                let symbol = symbols[position]
                if let open = openUnsized {
                    let previous = symbols[open.symbol]
                    var end = symbol.start
                    if let moduleFlags, moduleFlags[open.symbol] != moduleFlags[position] {
                        end = (previous.start &+ 4096 &+ 4095) & ~UInt64(4095)
                    }
                    sizes[open.index] = Self.saturated(end &- previous.start)
                    openUnsized = nil
                }
                if symbol.size == 0 { openUnsized = (starts.count, position) }
                append(start: symbol.start, size: symbol.size, name: symbol.nameOffset, binding: symbol.binding)
                rank += 1
            } else {
                let symbol = extra[extraIndex]
                append(start: symbol.start, size: symbol.size, name: symbol.nameOffset | Self.extraBit, binding: symbol.binding)
                extraIndex += 1
            }
        }
        if let open = openUnsized {
            let start = symbols[open.symbol].start
            sizes[open.index] = Self.saturated(((start & ~UInt64(4095)) &+ 4096) &- start)
        }
    }

    /// A table built from `columns` as the `symbols:` initializer builds it, letting go of
    /// each column as soon as it is used (`columns` is left empty): a large binary's table is
    /// built in about 25 bytes a symbol at most, instead of 41.
    public init(columns: inout SymbolColumns, strings: StringTable, extra: [ELFSymbol] = [],
                extraStrings: StringTable = StringTable()) {
        let count = columns.count
        guard count > 0, count < 1 << 20, columns.starts.allSatisfy({ $0 < 1 << 44 }) else {
            let symbols = columns.symbols
            columns = SymbolColumns()
            self.init(symbols: symbols, strings: strings, extra: extra, extraStrings: extraStrings)
            return
        }
        self.init()
        self.strings = strings
        self.extraStrings = extraStrings
        // Sorted (start, position) keys; the start column is not needed again.
        var packed = [UInt64]()
        packed.reserveCapacity(count)
        for (position, start) in columns.starts.enumerated() { packed.append(start << 20 | UInt64(position)) }
        columns.starts = []
        Self.radixSort(&packed, fromBit: 20)
        let lowest = min(packed[0] >> 20, extra.first?.start ?? .max)
        let highest = max(packed[count - 1] >> 20, extra.last?.start ?? 0)
        // The merged order (own symbols first on equal starts): own positions, and extra
        // symbols as -(index + 1).
        let total = count + extra.count
        var sequence = [Int32]()
        sequence.reserveCapacity(total)
        starts = StartAddresses(lowest: lowest, highest: highest)
        starts.reserveCapacity(total)
        var rank = 0, extraIndex = 0
        while rank < count || extraIndex < extra.count {
            if rank < count && (extraIndex >= extra.count || packed[rank] >> 20 <= extra[extraIndex].start) {
                starts.append(packed[rank] >> 20)
                sequence.append(Int32(truncatingIfNeeded: packed[rank] & 0xFFFFF))
                rank += 1
            } else {
                starts.append(extra[extraIndex].start)
                sequence.append(-Int32(extraIndex) - 1)
                extraIndex += 1
            }
        }
        packed = []
        // Sizes, with perf's end fixup: an own symbol without a size ends where the next own
        // symbol starts (the PLT stubs are merged in after the fixup).
        sizes = [UInt32](repeating: 0, count: total)
        var openUnsized: Int? = nil
        for index in 0..<total {
            let position = Int(sequence[index])
            guard position >= 0 else {
                sizes[index] = Self.saturated(extra[-position - 1].size)
                continue
            }
            if let open = openUnsized {
                sizes[open] = Self.saturated(starts[index] &- starts[open])
                openUnsized = nil
            }
            sizes[index] = columns.sizes[position]
            if sizes[index] == 0 { openUnsized = index }
        }
        if let open = openUnsized {
            let start = starts[open]
            sizes[open] = Self.saturated(((start & ~UInt64(4095)) &+ 4096) &- start)
        }
        columns.sizes = []
        nameOffsets = sequence.map { $0 >= 0 ? columns.nameOffsets[Int($0)] : extra[Int(-$0 - 1)].nameOffset | Self.extraBit }
        columns.nameOffsets = []
        bindings = sequence.map { $0 >= 0 ? columns.bindings[Int($0)] : extra[Int(-$0 - 1)].binding }
        columns.bindings = []
    }

    /// A table made of the arrays `parts` gave (a saved table, see `KallsymsCache`).
    init(starts: [UInt64], sizes: [UInt32], nameOffsets: [UInt32], bindings: [UInt8], strings: StringTable) {
        self.starts = StartAddresses(starts)
        self.sizes = sizes
        self.nameOffsets = nameOffsets
        self.bindings = bindings
        self.strings = strings
        extraStrings = StringTable()
    }

    /// The table's arrays and names, to save it. Only for tables without extra strings,
    /// whose names are in memory.
    var parts: (starts: [UInt64], sizes: [UInt32], nameOffsets: [UInt32], bindings: [UInt8], strings: ByteView) {
        (starts.all, sizes, nameOffsets, bindings, strings.memory ?? ByteView([]))
    }

    private static func saturated(_ size: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: min(size, UInt64(UInt32.max)))
    }

    private mutating func append(start: UInt64, size: UInt64, name: UInt32, binding: UInt8) {
        starts.append(start)
        sizes.append(Self.saturated(size))
        nameOffsets.append(name)
        bindings.append(binding)
    }

    @inline(__always)
    private func end(_ index: Int) -> UInt64 { starts[index] &+ UInt64(sizes[index]) }

    /// A key that orders symbols by start and then by input position, which makes the
    /// sort stable: aliases keep their file order, as perf's tree inserts equal keys
    /// rightwards.
    struct SortKey: Comparable {
        var start: UInt64
        var index: Int

        static func < (a: SortKey, b: SortKey) -> Bool {
            a.start != b.start ? a.start < b.start : a.index < b.index
        }
    }

    /// The sorted order of `symbols`, or nil when they are sorted already.
    static func sortOrder(_ symbols: [ELFSymbol]) -> [UInt32]? {
        var index = 1
        while index < symbols.count {
            if symbols[index].start < symbols[index - 1].start { break }
            index += 1
        }
        if index >= symbols.count { return nil }
        // Usually starts fit in 44 bits and positions in 20: sort plain packed integers.
        if symbols.count < 1 << 20, symbols.allSatisfy({ $0.start < 1 << 44 }) {
            var packed = [UInt64]()
            packed.reserveCapacity(symbols.count)
            for (position, symbol) in symbols.enumerated() { packed.append(symbol.start << 20 | UInt64(position)) }
            // The sort is stable and the keys are in position order: the position bits
            // need no passes of their own.
            radixSort(&packed, fromBit: 20)
            return packed.map { UInt32(truncatingIfNeeded: $0 & 0xFFFFF) }
        }
        var keys = [SortKey]()
        keys.reserveCapacity(symbols.count)
        for (position, symbol) in symbols.enumerated() { keys.append(SortKey(start: symbol.start, index: position)) }
        keys.sort()
        return keys.map { UInt32(truncatingIfNeeded: $0.index) }
    }

    /// Sorts unsigned integers in place by their bits from `fromBit` up (stably: keys equal
    /// there keep their order), least significant digit first. Only the bits that differ
    /// between keys are sorted on, in as few passes as digits of at most 14 bits allow
    /// (16k buckets stay in the L2 cache): linear time for the hundreds of thousands of
    /// symbols of a large binary, two passes for addresses within 256 MiB of each other.
    static func radixSort(_ keys: inout [UInt64], fromBit: UInt64 = 0) {
        guard keys.count > 1 else { return }
        let all = keys.reduce(0 as UInt64) { $0 | $1 }, common = keys.reduce(UInt64.max) { $0 & $1 }
        let varying = fromBit >= 64 ? 0 : ((all ^ common) >> fromBit) << fromBit
        guard varying != 0 else { return }
        let low = varying.trailingZeroBitCount, span = 64 - varying.leadingZeroBitCount - low
        let passes = (span + 13) / 14, width = (span + passes - 1) / passes
        let buckets = 1 << width, mask = UInt64(buckets - 1)
        var buffer = [UInt64](repeating: 0, count: keys.count)
        var counts = [Int](repeating: 0, count: buckets)
        for pass in 0..<passes {
            let shift = UInt64(low + pass * width)
            guard (varying >> shift) & mask != 0 else { continue }
            keys.withUnsafeBufferPointer { source in
                buffer.withUnsafeMutableBufferPointer { target in
                    counts.withUnsafeMutableBufferPointer { counts in
                        for index in 0..<buckets { counts[index] = 0 }
                        for key in source { counts[Int((key >> shift) & mask)] += 1 }
                        var total = 0
                        for index in 0..<buckets {
                            let count = counts[index]
                            counts[index] = total
                            total += count
                        }
                        for key in source {
                            let digit = Int((key >> shift) & mask)
                            target[counts[digit]] = key
                            counts[digit] += 1
                        }
                    }
                }
            }
            swap(&keys, &buffer)
        }
    }

    /// perf's `choose_best_symbol`: whether symbol `a` should replace `b` at one address.
    func prefer(_ a: Int, over b: Int) -> Bool {
        let aSized = sizes[a] > 0, bSized = sizes[b] > 0
        if aSized != bSized { return aSized }
        let aWeak = bindings[a] == 2, bWeak = bindings[b] == 2
        if aWeak != bWeak { return !aWeak }
        let aGlobal = bindings[a] == 1, bGlobal = bindings[b] == 1
        if aGlobal != bGlobal { return aGlobal }
        let aUnderscores = underscores(nameOffsets[a]), bUnderscores = underscores(nameOffsets[b])
        if aUnderscores != bUnderscores { return aUnderscores < bUnderscores }
        return fullLength(nameOffsets[a]) > fullLength(nameOffsets[b])
    }

    private func source(_ offset: UInt32) -> (StringTable, Int) {
        offset & Self.extraBit != 0 ? (extraStrings, Int(offset & ~Self.extraBit)) : (strings, Int(offset))
    }

    private func underscores(_ offset: UInt32) -> Int {
        let (table, start) = source(offset)
        return table.withName(at: start, endingAt: { $0 != UInt8(ascii: "_") }) { $0.count } ?? 0
    }

    /// Length up to the end of the line or NUL (for kallsyms, the module suffix included,
    /// which is what perf compares).
    private func fullLength(_ offset: UInt32) -> Int {
        let (table, start) = source(offset)
        return table.withName(at: start, endingAt: { $0 == 10 }) { $0.count } ?? 0
    }

    /// The index of the symbol containing `address`, or nil. Among aliases the one perf
    /// keeps is returned.
    public func find(_ address: UInt64) -> Int? {
        let low = starts.upperBound(address)
        guard low > 0 else { return nil }
        var best = low - 1
        let start = starts[best]
        if best > 0 && starts[best - 1] == start {
            // Fold from the first alias, as perf's duplicate fixup walks them in order.
            var first = best - 1
            while first > 0 && starts[first - 1] == start { first -= 1 }
            best = first
            var next = first + 1
            while next < starts.count && starts[next] == start {
                if prefer(next, over: best) { best = next }
                next += 1
            }
        }
        return address < end(best) ? best : nil
    }

    /// The raw (not demangled) name of symbol `index`.
    public func name(_ index: Int) -> String {
        let (table, start) = source(nameOffsets[index])
        return table.string(at: start, endingAt: { $0 == 9 || $0 == 10 }) ?? ""
    }
}

/// Ascending start addresses: as 32-bit offsets from the lowest when they span less than
/// 4 GiB (4 bytes a symbol instead of 8: a large binary has hundreds of thousands), else
/// as they are.
struct StartAddresses: Sendable {
    private var base: UInt64 = 0
    private var offsets: [UInt32] = []
    private var wide: [UInt64] = []
    private let isCompact: Bool

    /// Empty, for addresses from `lowest` to `highest`.
    init(lowest: UInt64 = 0, highest: UInt64 = 0) {
        isCompact = lowest <= highest && highest - lowest <= UInt64(UInt32.max)
        base = isCompact ? lowest : 0
    }

    /// These ascending addresses.
    init(_ sorted: [UInt64]) {
        self.init(lowest: sorted.first ?? 0, highest: sorted.last ?? 0)
        if isCompact {
            offsets = sorted.map { UInt32(truncatingIfNeeded: $0 &- base) }
        } else {
            wide = sorted
        }
    }

    var count: Int { isCompact ? offsets.count : wide.count }

    /// Every address, widened.
    var all: [UInt64] { isCompact ? offsets.map { base &+ UInt64($0) } : wide }

    mutating func reserveCapacity(_ capacity: Int) {
        if isCompact { offsets.reserveCapacity(capacity) } else { wide.reserveCapacity(capacity) }
    }

    /// Appends `address`, which must lie within the range the addresses were made for and
    /// not below the last one.
    mutating func append(_ address: UInt64) {
        if isCompact { offsets.append(UInt32(truncatingIfNeeded: address &- base)) } else { wide.append(address) }
    }

    @inline(__always)
    subscript(index: Int) -> UInt64 {
        isCompact ? base &+ UInt64(offsets[index]) : wide[index]
    }

    /// How many addresses are at most `address` (the index of the first one above it).
    func upperBound(_ address: UInt64) -> Int {
        if isCompact {
            guard address >= base else { return 0 }
            let key = UInt32(truncatingIfNeeded: min(address &- base, UInt64(UInt32.max)))
            return offsets.withUnsafeBufferPointer { Self.upperBound(key, in: $0) }
        }
        return wide.withUnsafeBufferPointer { Self.upperBound(address, in: $0) }
    }

    @inline(__always)
    private static func upperBound<T: FixedWidthInteger>(_ key: T, in values: UnsafeBufferPointer<T>) -> Int {
        var low = 0, high = values.count
        while low < high {
            let mid = (low &+ high) >> 1
            if values[mid] <= key { low = mid &+ 1 } else { high = mid }
        }
        return low
    }
}
