import FlamedSystem
import FlamedTestSupport
import Foundation
import ObjectFile
import Testing
@testable import Symbolizer

/// Symbol tables whose names are read from their file with pread behave as those whose
/// names are in memory (ObjectFileTests checks the string tables themselves).
@Suite("Symbol tables over string tables read from the file")
struct FileStringTableTests {
    @Test("a symbol table names and chooses aliases the same from the file as from memory")
    func symbolTable() throws {
        var bytes: [UInt8] = [0]
        var symbols: [ELFSymbol] = []
        let names = ["__alias_b", "alias_a", "f_weak", "f_global", "plain", "sized_longer_name", "sized"]
        let starts: [UInt64] = [0x1000, 0x1000, 0x2000, 0x2000, 0x3000, 0x4000, 0x4000]
        for (name, start) in zip(names, starts) {
            symbols.append(ELFSymbol(start: start, size: 0x100, nameOffset: UInt32(bytes.count), binding: name.hasSuffix("weak") ? 2 : 1))
            bytes += Array(name.utf8) + [0]
        }
        let (file, memory, path) = try stringTables(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = SymbolTable(symbols: symbols, strings: file), fromMemory = SymbolTable(symbols: symbols, strings: memory)
        let found = [UInt64(0x1010), 0x2010, 0x3010, 0x4010].map { address in fromFile.find(address).map(fromFile.name) }
        #expect(found == ["alias_a", "f_global", "plain", "sized_longer_name"])
        #expect(found == [UInt64(0x1010), 0x2010, 0x3010, 0x4010].map { address in fromMemory.find(address).map(fromMemory.name) })
    }
}
