import FlamedSystem

/// Kernel symbols parsed from a `/proc/kallsyms`-format file.
public struct KernelSymbols: Sendable {
    public let table: SymbolTable
    /// The address of `_text`, used to relocate when the file is from another boot.
    public let textAddress: UInt64?

    /// Parses kallsyms text. Only text, weak, data and bss symbols are kept (perf's filter),
    /// and a `\t[module]` suffix is removed from the name.
    public init(parsing view: ByteView) {
        var entries: [SymbolTable.Entry] = []
        var strings: [UInt8] = []
        var text: UInt64?
        view.withUnsafeBytes { bytes in
            entries.reserveCapacity(bytes.count / 40)
            strings.reserveCapacity(bytes.count / 2)
            var index = 0
            let count = bytes.count
            while index < count {
                var lineEnd = index
                while lineEnd < count && bytes[lineEnd] != 10 { lineEnd += 1 }
                defer { index = lineEnd + 1 }
                var cursor = index
                var address: UInt64 = 0
                var digits = 0
                while cursor < lineEnd, let digit = Self.hexValue(bytes[cursor]) {
                    address = address &<< 4 | UInt64(digit)
                    cursor += 1
                    digits += 1
                }
                guard digits > 0, cursor + 2 < lineEnd, bytes[cursor] == 32 else { continue }
                let type = bytes[cursor + 1] | 0x20
                guard bytes[cursor + 2] == 32 else { continue }
                guard type == UInt8(ascii: "t") || type == UInt8(ascii: "w") || type == UInt8(ascii: "d") || type == UInt8(ascii: "b") else { continue }
                let upper = bytes[cursor + 1] < 0x60
                let nameStart = cursor + 3
                var nameEnd = nameStart
                while nameEnd < lineEnd && bytes[nameEnd] != 9 && bytes[nameEnd] != 32 { nameEnd += 1 }
                guard nameEnd > nameStart else { continue }
                let isModule = nameEnd < lineEnd
                let offset = UInt32(strings.count)
                strings.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd]))
                let binding: UInt8 = type == UInt8(ascii: "w") ? 2 : (upper ? 1 : 0)
                let length = UInt32(nameEnd - nameStart)
                if text == nil, length == 5, bytes[nameStart] == UInt8(ascii: "_"), bytes[nameStart + 1] == UInt8(ascii: "t"),
                   bytes[nameStart + 2] == UInt8(ascii: "e"), bytes[nameStart + 3] == UInt8(ascii: "x"), bytes[nameStart + 4] == UInt8(ascii: "t") {
                    text = address
                }
                entries.append(SymbolTable.Entry(start: address, size: 0, nameOffset: offset, nameLength: length,
                                                 binding: binding, isModule: isModule, comparedLength: UInt32(lineEnd - nameStart)))
            }
        }
        table = SymbolTable(entries: entries, strings: strings, isKallsyms: true)
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
