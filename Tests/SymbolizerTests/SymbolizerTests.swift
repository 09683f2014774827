import FlamedSystem
import FlamedTestSupport
import Foundation
import Logging
import ObjectFile
import Testing
@testable import Symbolizer

/// Strings laid out as an ELF string table, with the offset of each name.
private func stringTable(_ names: [String]) -> (StringTable, [UInt32]) {
    var bytes: [UInt8] = [0]
    var offsets: [UInt32] = []
    for name in names {
        offsets.append(UInt32(bytes.count))
        bytes.append(contentsOf: Array(name.utf8))
        bytes.append(0)
    }
    return (StringTable(ByteView(bytes)), offsets)
}

@Suite("Symbol tables follow perf's rules")
struct SymbolTableTests {
    @Test("unsized symbols end at the next symbol; sized ones at their size; gaps are unknown")
    func ends() {
        let (strings, names) = stringTable(["sized", "unsized", "last"])
        let table = SymbolTable(symbols: [
            ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[0], binding: 1),
            ELFSymbol(start: 0x2000, size: 0, nameOffset: names[1], binding: 1),
            ELFSymbol(start: 0x3000, size: 0, nameOffset: names[2], binding: 1),
        ], strings: strings)
        #expect(table.find(0x1000).map(table.name) == "sized")
        #expect(table.find(0x100f).map(table.name) == "sized")
        #expect(table.find(0x1010) == nil, "past a sized symbol's end")
        #expect(table.find(0x2fff).map(table.name) == "unsized")
        #expect(table.find(0x3fff).map(table.name) == "last", "the last unsized symbol runs to the next page")
        #expect(table.find(0x4000) == nil)
        #expect(table.find(0xfff) == nil)
    }

    @Test("among aliases: sized over unsized, non-weak over weak, global over local, fewer underscores, longer name")
    func aliases() {
        let (strings, names) = stringTable(["__local", "weak_one", "global_a", "_global_b", "global_longer", "x"])
        func best(_ symbols: [ELFSymbol]) -> String? {
            let table = SymbolTable(symbols: symbols + [ELFSymbol(start: 0x9000, size: 0, nameOffset: names[5], binding: 1)], strings: strings)
            return table.find(0x1004).map(table.name)
        }
        #expect(best([ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[0], binding: 0),
                      ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[1], binding: 2)]) == "__local")
        #expect(best([ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[1], binding: 2),
                      ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[2], binding: 1)]) == "global_a")
        #expect(best([ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[3], binding: 1),
                      ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[2], binding: 1)]) == "global_a")
        #expect(best([ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[2], binding: 1),
                      ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[4], binding: 1)]) == "global_longer")
        // Unsized aliases: only the last keeps a length after the end fixup, so it wins.
        #expect(best([ELFSymbol(start: 0x1000, size: 0, nameOffset: names[4], binding: 1),
                      ELFSymbol(start: 0x1000, size: 0, nameOffset: names[0], binding: 0)]) == "__local")
    }

    @Test("synthesized PLT stubs are merged after the end fixup")
    func pltAfterFixup() {
        let (strings, names) = stringTable(["_init", "main"])
        let (pltStrings, pltNames) = stringTable(["puts@plt"])
        let table = SymbolTable(symbols: [
            ELFSymbol(start: 0x1000, size: 0, nameOffset: names[0], binding: 0),
            ELFSymbol(start: 0x2000, size: 0x40, nameOffset: names[1], binding: 1),
        ], strings: strings, extra: [ELFSymbol(start: 0x1020, size: 0x10, nameOffset: pltNames[0], binding: 1)], extraStrings: pltStrings)
        #expect(table.find(0x1024).map(table.name) == "puts@plt")
        #expect(table.find(0x1030) == nil, "past the stub, _init's fixed-up range is hidden as in perf")
        #expect(table.find(0x1008).map(table.name) == "_init")
    }

    @Test("sorting: unsorted input is ordered, aliases keep their file order")
    func sorting() {
        let (strings, names) = stringTable(["c", "a", "b", "a2"])
        let table = SymbolTable(symbols: [
            ELFSymbol(start: 0x3000, size: 0x10, nameOffset: names[0], binding: 1),
            ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[1], binding: 1),
            ELFSymbol(start: 0x2000, size: 0x10, nameOffset: names[2], binding: 1),
            ELFSymbol(start: 0x1000, size: 0x10, nameOffset: names[3], binding: 1),
        ], strings: strings)
        #expect(table.find(0x3008).map(table.name) == "c")
        #expect(table.find(0x2008).map(table.name) == "b")
        #expect(table.find(0x1008).map(table.name) == "a2", "equal rank: the longer name")
        var keys: [UInt64] = (0..<5000).map { UInt64(($0 * 7919) % 5003) << 20 | UInt64($0) }
        SymbolTable.radixSort(&keys)
        #expect(keys == keys.sorted())
        // Keys spanning few and many bits, sorted on their high part only: stable.
        var generator = SystemRandomNumberGenerator()
        for span in [3, 14, 15, 28, 29, 44, 63] {
            let high = (0..<3000).map { _ in UInt64.random(in: 0...(UInt64.max >> (64 - span)), using: &generator) & ~0xF }
            var packed = high.enumerated().map { $0.element | UInt64($0.offset & 0xF) }
            let expected = packed.enumerated().sorted { ($0.element >> 4, $0.offset) < ($1.element >> 4, $1.offset) }.map(\.element)
            SymbolTable.radixSort(&packed, fromBit: 4)
            #expect(packed == expected, "span \(span)")
        }
    }
}

@Suite("Kernel symbols from kallsyms")
struct KallsymsTests {
    @Test("text, weak, data and bss are kept; module suffixes are dropped; _text is found")
    func parse() {
        let text = """
            ffffffff81000000 T _text
            ffffffff81000100 t helper
            ffffffff81000200 W weak_thing
            ffffffff81000300 r rodata_thing
            ffffffff81000400 T after
            ffffffffc0000000 t mod_func\t[mymod]
            ffffffffc0000100 t mod_other\t[mymod]
            garbage line
            """
        let symbols = KernelSymbols(parsing: ByteView(Array(text.utf8)))
        #expect(symbols.textAddress == 0xffffffff81000000)
        let table = symbols.table
        #expect(table.count == 6, "the r (read-only data) line and the garbage line are skipped")
        #expect(table.find(0xffffffff81000104).map(table.name) == "helper")
        #expect(table.find(0xffffffff81000304).map(table.name) == "weak_thing", "rodata is not a symbol, so weak_thing runs on")
        #expect(table.find(0xffffffffc0000004).map(table.name) == "mod_func")
        // The last kernel symbol before the modules ends a page on, not at the first module.
        #expect(table.find(0xffffffff81001010).map(table.name) == "after")
        #expect(table.find(0xffffffff81002010) == nil)
    }
}

@Suite("ELF files and build ids", .serialized)
struct ELFTests {
    @Test("a mapped executable's symbols resolve; a wrong recorded build id leaves frames named by the file only", .requires(.gcc))
    func buildIDCheck() throws {
        let directory = Support.temporaryDirectory()
        let binary = try DebugBuilds.compile("int flamed_probe(int x) { return x * 3; }\nint main(void) { return flamed_probe(1); }\n",
                                             named: "prog", in: directory)
        let image = try ELFImage.open(path: binary).get()
        let buildID = try #require(image.buildID)
        let symbols = image.functionSymbols()
        #expect(symbols.source == ".symtab")
        let probe = try #require(symbols.symbols.first { symbols.strings.string(at: Int($0.nameOffset), endingAt: { _ in false }) == "flamed_probe" })
        let text = try #require(image.segments.first { $0.executable })
        // Map the text segment as a process would: address = file offset + 0x400000.
        let fileOffset = probe.start - text.virtualAddress + text.fileOffset
        for (recorded, expected) in [(buildID, "flamed_probe"), ([UInt8](repeating: 0xab, count: 20), "[prog]")] {
            var configuration = SymbolizerConfiguration(buildIDCache: directory.path)
            configuration.buildIDs = [binary: recorded]
            let symbolizer = Symbolizer(configuration, logger: Logger(label: "test"))
            symbolizer.mmap(pid: 42, start: 0x400000 + text.fileOffset, length: text.fileSize, pageOffset: text.fileOffset,
                            filename: binary, buildID: nil, isKernel: false)
            let frame = symbolizer.resolveUser(pid: 42, address: 0x400000 + fileOffset + 2, isReturnAddress: false)
            #expect(symbolizer.name(of: frame) == expected)
        }
    }
}
