import FlamedSystem
import FlamedTestSupport
import Foundation
import Logging
import ObjectFile
import Testing
@testable import Symbolizer

/// Helpers for tests that load symbols from the programs and debug files `DebugBuilds` makes.
private enum Tools {
    /// The names in a loaded table.
    static func names(_ symbols: LoadedSymbols) -> Set<String> {
        Set((0..<symbols.table.count).map { symbols.table.name($0) })
    }

    static func load(_ path: String, cacheDirectory: String = "/nonexistent") -> LoadedSymbols {
        let dso = DSO(path: path, expectedBuildID: nil, cache: SymbolCache(capacity: 4))
        return dso.load(cacheDirectory: cacheDirectory, files: RecordingFiles(), logger: Logger(label: "test"))
    }

    /// Maps `binary`'s executable segment for process `pid` as the loader would, at `base`,
    /// and returns the address at which the function `name` of `reference` (an unstripped
    /// build of the same program) lies.
    static func mapText(_ symbolizer: Symbolizer, pid: Int32, binary: String, base: UInt64 = 0x5555_0000_0000,
                        function name: String, reference: String) throws -> UInt64 {
        let image = try ELFImage.open(path: binary).get()
        let text = try #require(image.segments.first { $0.executable })
        symbolizer.mmap(pid: pid, start: base + text.fileOffset, length: text.fileSize, pageOffset: text.fileOffset,
                        filename: binary, buildID: nil, isKernel: false)
        let full = try ELFImage.open(path: reference).get().functionSymbols(from: .symtab)
        let symbol = try #require(full.symbols.first { full.strings.string(at: Int($0.nameOffset), endingAt: { _ in false }) == name })
        return base + (symbol.start - text.virtualAddress + text.fileOffset)
    }
}

@Suite("CRC-32 of a whole debug file")
struct DebugFileCRCTests {
    @Test("a file's CRC, read through its mapping in steps, is the one objcopy --add-gnu-debuglink records", .requires(.gcc, .binutils, .xz))
    func matchesObjcopy() throws {
        let directory = Support.temporaryDirectory()
        try DebugBuilds.buildVariants(in: directory)
        let link = try #require(try ELFImage.open(path: directory.appendingPathComponent("linked").path).get().debugLink)
        let crc = try CRC32.checksum(ofFile: directory.appendingPathComponent("prog.debug").path).get()
        #expect(crc == link.crc)
    }
}

@Suite("Symbol sources: debug files, MiniDebugInfo, dynsym", .serialized)
struct SymbolSourceTests {
    @Test("each source supplies the static function; stripped binaries keep only .dynsym", .requires(.gcc, .binutils, .xz))
    func sources() throws {
        let directory = Support.temporaryDirectory()
        try DebugBuilds.buildVariants(in: directory)
        func load(_ name: String) -> LoadedSymbols { Tools.load(directory.appendingPathComponent(name).path) }

        let own = load("prog")
        #expect(own.origin.hasSuffix("prog .symtab"))
        #expect(Tools.names(own).isSuperset(of: ["unit_global", "unit_static", "main"]))

        for variant in ["next/prog-linked", "dot/prog-linked"] {
            let linked = load(variant)
            #expect(linked.origin.hasSuffix("prog.debug .symtab"), "\(variant): \(linked.origin)")
            #expect(Tools.names(linked).isSuperset(of: ["unit_global", "unit_static", "main"]), "\(variant)")
            #expect(!linked.segments.isEmpty, "addresses map through the binary's PT_LOAD")
        }
        for variant in ["wrongcrc/prog-linked", "otherbuild/prog-linked"] {
            let ignored = load(variant)
            #expect(ignored.origin.hasSuffix(".dynsym"), "\(variant): \(ignored.origin)")
            #expect(!Tools.names(ignored).contains("unit_static"), "\(variant)")
            #expect(Tools.names(ignored).contains("unit_global"), "\(variant): -rdynamic put it in .dynsym")
        }

        let mini = load("prog-mini")
        #expect(mini.origin.hasSuffix(".gnu_debugdata+.dynsym"), "\(mini.origin)")
        #expect(Tools.names(mini).isSuperset(of: ["unit_global", "unit_static", "main"]))

        let stripped = load("prog-stripped")
        #expect(stripped.origin.hasSuffix(".dynsym"))
        #expect(!Tools.names(stripped).contains("unit_static"))
    }

    @Test("a debuglink is searched next to the binary, in .debug/, then under /usr/lib/debug")
    func debugLinkOrder() {
        #expect(SymbolSources.debugLinkCandidates(binary: "/opt/app/bin/tool", name: "tool.debug", files: RecordingFiles())
                == ["/opt/app/bin/tool.debug", "/opt/app/bin/.debug/tool.debug", "/usr/lib/debug/opt/app/bin/tool.debug"])
        #expect(SymbolSources.debugLinkCandidates(binary: "/tool", name: "tool.debug", files: RecordingFiles())
                == ["/tool.debug", "/.debug/tool.debug", "/usr/lib/debug/tool.debug"])
        #expect(SymbolSources.debugLinkCandidates(binary: "/bin/tool", name: "../etc/passwd", files: RecordingFiles()).isEmpty, "names are file names only")
    }

    @Test("a debug file's symbols resolve at the stripped binary's addresses; [basename] and [unknown]", .requires(.gcc, .binutils, .xz))
    func resolveThroughDebugLink() throws {
        let directory = Support.temporaryDirectory()
        try DebugBuilds.buildVariants(in: directory)
        let reference = directory.appendingPathComponent("prog").path
        func symbolizer() -> Symbolizer {
            var configuration = SymbolizerConfiguration(buildIDCache: directory.path)
            configuration.symbolCache = SymbolCache(capacity: 8)
            return Symbolizer(configuration, logger: Logger(label: "test"))
        }
        // All variants have one build id: each gets a cache of its own here.
        for variant in ["next/prog-linked", "prog-mini", "wrongcrc/prog-linked", "prog-stripped"] {
            let binary = directory.appendingPathComponent(variant).path
            let fresh = symbolizer()
            let address = try Tools.mapText(fresh, pid: 1, binary: binary, function: "unit_static", reference: reference)
            let name = fresh.name(of: fresh.resolveUser(pid: 1, address: address + 4, isReturnAddress: false))
            let expected = variant.hasPrefix("next") || variant.hasPrefix("prog-mini") ? "unit_static" : "[\(URL(fileURLWithPath: binary).lastPathComponent)]"
            #expect(name == expected, "\(variant)")
        }
        // One cache: symbols found for a build id (here through the debuglink) serve every
        // copy of that build, stripped or not.
        let shared = symbolizer()
        for (pid, variant) in [(Int32(1), "next/prog-linked"), (2, "prog-stripped")] {
            let address = try Tools.mapText(shared, pid: pid, binary: directory.appendingPathComponent(variant).path,
                                            function: "unit_static", reference: reference)
            #expect(shared.name(of: shared.resolveUser(pid: pid, address: address + 4, isReturnAddress: false)) == "unit_static", "\(variant)")
        }
        #expect(shared.symbolCache.loadCount == 1)
        let symbolizer = shared
        // An address outside any mapping stays [unknown].
        #expect(symbolizer.name(of: symbolizer.resolveUser(pid: 1, address: 0x10, isReturnAddress: false)) == "[unknown]")
        #expect(symbolizer.name(of: symbolizer.resolveUser(pid: 99, address: 0x5555_0000_1000, isReturnAddress: true)) == "[unknown]")
    }
}

@Suite("The symbol table cache", .serialized)
struct SymbolCacheTests {
    static func table(_ key: String, symbols: Int = 1) -> LoadedSymbols {
        var strings: [UInt8] = [0]
        var entries: [ELFSymbol] = []
        for index in 0..<symbols {
            entries.append(ELFSymbol(start: UInt64(0x1000 + index * 16), size: 16, nameOffset: UInt32(strings.count), binding: 1))
            strings.append(contentsOf: Array("\(key)_\(index)".utf8) + [0])
        }
        let table = StringTable(ByteView(strings))
        return LoadedSymbols(key: key, path: "/\(key)", origin: "test", segments: [],
                             table: SymbolTable(symbols: entries, strings: table), strings: [table])
    }

    @Test("least recently used tables are evicted and released; hits do not load")
    func eviction() {
        let cache = SymbolCache(capacity: 2)
        weak var firstB: LoadedSymbols?
        do {
            _ = cache.symbols(forKey: "a") { Self.table("a") }
            let b = cache.symbols(forKey: "b") { Self.table("b") }
            firstB = b
            #expect(cache.loadCount == 2)
            let again = cache.symbols(forKey: "a") { Issue.record("a was cached"); return Self.table("a") }
            #expect(again.key == "a")
            #expect(cache.loadCount == 2, "a hit does not load")
            // "b" is now the least recently used: "c" evicts it, not "a".
            _ = cache.symbols(forKey: "c") { Self.table("c") }
        }
        #expect(cache.loadCount == 3)
        #expect(cache.count == 2)
        #expect(cache.contains("a") && cache.contains("c") && !cache.contains("b"))
        #expect(firstB == nil, "an evicted table nobody holds is released")
        let reloaded = cache.symbols(forKey: "b") { Self.table("b") }
        #expect(reloaded.table.name(0) == "b_0")
        #expect(cache.loadCount == 4, "an evicted table is loaded again when needed")
        #expect(!cache.contains("a"), "reloading b evicted a, then the least recent")
    }

    @Test("tables without symbols are not kept")
    func emptyTables() {
        let cache = SymbolCache(capacity: 4)
        for _ in 0..<3 {
            _ = cache.symbols(forKey: "empty") { LoadedSymbols(key: "empty", path: "/x", origin: "", segments: [], table: SymbolTable(), strings: []) }
        }
        #expect(cache.loadCount == 3)
        #expect(cache.count == 0)
    }

    @Test("a thousand processes running one binary, under twenty paths, load its symbols once", .requires(.gcc))
    func thousandProcesses() throws {
        let directory = Support.temporaryDirectory()
        let binary = try DebugBuilds.compile("int cache_probe(int x) { return x * 3; }\nint main(void) { return cache_probe(1); }\n",
                                      named: "prog", in: directory)
        var paths: [String] = []
        for index in 0..<20 {
            let link = directory.appendingPathComponent("link\(index)").path
            try FileManager.default.linkItem(atPath: binary, toPath: link)
            paths.append(link)
        }
        let cache = SymbolCache(capacity: 16)
        func run(_ symbolizer: Symbolizer) throws -> Set<Int32> {
            var frames = Set<Int32>()
            for pid in Int32(1)...1000 {
                let address = try Tools.mapText(symbolizer, pid: pid, binary: paths[Int(pid) % paths.count], function: "cache_probe", reference: binary)
                let frame = symbolizer.resolveUser(pid: pid, address: address + 2, isReturnAddress: false)
                #expect(symbolizer.name(of: frame) == "cache_probe")
                frames.insert(frame)
            }
            return frames
        }
        var configuration = SymbolizerConfiguration(buildIDCache: directory.path)
        configuration.symbolCache = cache
        let first = Symbolizer(configuration, logger: Logger(label: "test"))
        let frames = try run(first)
        #expect(cache.loadCount == 1, "one binary (one build id) is loaded once")
        #expect(frames.count == 1, "and its symbols have one frame id, whatever the path")
        // A new symbolizer (the daemon rebuilds its own) reuses the cached table.
        let second = Symbolizer(configuration, logger: Logger(label: "test"))
        _ = try run(second)
        #expect(cache.loadCount == 1)
    }

    @Test("without a build id, hard links share a table by device and inode; a copy does not", .requires(.gcc))
    func inodeKey() throws {
        let directory = Support.temporaryDirectory()
        let binary = try DebugBuilds.compile("int inode_probe(int x) { return x * 5; }\nint main(void) { return inode_probe(1); }\n",
                                      named: "prog", in: directory, buildID: nil)
        #expect(try ELFImage.open(path: binary).get().buildID == nil)
        let link = directory.appendingPathComponent("hardlink").path, copy = directory.appendingPathComponent("copy").path
        try FileManager.default.linkItem(atPath: binary, toPath: link)
        try FileManager.default.copyItem(atPath: binary, toPath: copy)
        let cache = SymbolCache(capacity: 16)
        var configuration = SymbolizerConfiguration(buildIDCache: directory.path)
        configuration.symbolCache = cache
        let symbolizer = Symbolizer(configuration, logger: Logger(label: "test"))
        for (pid, path) in [(Int32(1), binary), (2, link), (3, copy)] {
            let address = try Tools.mapText(symbolizer, pid: pid, binary: path, function: "inode_probe", reference: binary)
            #expect(symbolizer.name(of: symbolizer.resolveUser(pid: pid, address: address, isReturnAddress: false)) == "inode_probe")
            #expect(cache.loadCount == (pid < 3 ? 1 : 2), "after \(path)")
        }
    }

    @Test("frame ids handed out before an eviction still name their symbols", .requires(.gcc))
    func framesSurviveEviction() throws {
        let directory = Support.temporaryDirectory()
        let alpha = try DebugBuilds.compile("int alpha_probe(int x) { return x * 3; }\nint main(void) { return alpha_probe(1); }\n", named: "alpha", in: directory)
        let beta = try DebugBuilds.compile("int beta_probe(int x) { return x * 7; }\nint main(void) { return beta_probe(1); }\n", named: "beta", in: directory)
        let cache = SymbolCache(capacity: 1)
        var configuration = SymbolizerConfiguration(buildIDCache: directory.path)
        configuration.symbolCache = cache
        let symbolizer = Symbolizer(configuration, logger: Logger(label: "test"))
        let alphaAddress = try Tools.mapText(symbolizer, pid: 1, binary: alpha, function: "alpha_probe", reference: alpha)
        let betaAddress = try Tools.mapText(symbolizer, pid: 2, binary: beta, function: "beta_probe", reference: beta)
        let alphaFrame = symbolizer.resolveUser(pid: 1, address: alphaAddress, isReturnAddress: false)
        let betaFrame = symbolizer.resolveUser(pid: 2, address: betaAddress, isReturnAddress: false)
        #expect(cache.loadCount == 2)
        #expect(cache.count == 1, "beta evicted alpha")
        // alpha's frame was never named: its table is loaded again to name it.
        #expect(symbolizer.name(of: alphaFrame) == "alpha_probe")
        #expect(cache.loadCount == 3)
        #expect(symbolizer.name(of: betaFrame) == "beta_probe")
        // Reloaded tables keep their frame ids: the same symbol is the same frame.
        let alphaAgain = try Tools.mapText(symbolizer, pid: 4, binary: alpha, base: 0x6000_0000_0000, function: "alpha_probe", reference: alpha)
        #expect(symbolizer.resolveUser(pid: 4, address: alphaAgain, isReturnAddress: false) == alphaFrame)
    }
}
