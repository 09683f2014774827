import FlamedSystem

/// Kernel symbols parsed from a `/proc/kallsyms`-format file.
public struct KernelSymbols: Sendable {
    public let table: SymbolTable
    /// The address of `_text`, used to relocate when the file is from another boot.
    public let textAddress: UInt64?

    /// Parses kallsyms text. Only text, weak, data and bss symbols are kept (perf's filter);
    /// names are read in place, without their `\t[module]` suffix.
    public init(parsing view: ByteView) {
        var entries: [ELFSymbol] = []
        var modules: [Bool] = []
        var text: UInt64?
        view.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let count = bytes.count
            entries.reserveCapacity(count / 40)
            modules.reserveCapacity(count / 40)
            var index = 0
            while index < count {
                var cursor = index
                var address: UInt64 = 0
                var digits = 0
                while cursor < count, let digit = Self.hexValue(base[cursor]) {
                    address = address &<< 4 | UInt64(digit)
                    cursor += 1
                    digits += 1
                }
                // "<hex> <type> <name>[\t[module]]\n"
                var lineEnd = cursor
                while lineEnd < count && base[lineEnd] != 10 { lineEnd += 1 }
                defer { index = lineEnd + 1 }
                guard digits > 0, cursor + 3 < lineEnd, base[cursor] == 32, base[cursor + 2] == 32 else { continue }
                let rawType = base[cursor + 1]
                let type = rawType | 0x20
                guard type == UInt8(ascii: "t") || type == UInt8(ascii: "w") || type == UInt8(ascii: "d") || type == UInt8(ascii: "b") else { continue }
                let nameStart = cursor + 3
                var nameEnd = nameStart
                while nameEnd < lineEnd && base[nameEnd] != 9 { nameEnd += 1 }
                let binding: UInt8 = type == UInt8(ascii: "w") ? 2 : (rawType < 0x60 ? 1 : 0)
                if text == nil, nameEnd - nameStart == 5, base[nameStart] == 95, base[nameStart + 1] == 116,
                   base[nameStart + 2] == 101, base[nameStart + 3] == 120, base[nameStart + 4] == 116 {
                    text = address
                }
                entries.append(ELFSymbol(start: address, size: 0, nameOffset: UInt32(truncatingIfNeeded: nameStart), binding: binding))
                modules.append(nameEnd < lineEnd)
            }
        }
        table = SymbolTable(symbols: entries, strings: view, moduleFlags: modules)
        textAddress = text
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 97...102: return byte - 87
        case 65...70: return byte - 55
        default: return nil
        }
    }
}
