import FlamedTestSupport
import Foundation
import ObjectFile
import Testing

@Suite("ELF images built by gcc")
struct ELFImageTests {
    @Test("the build id given to the linker, the function in .symtab and the executable segment are read", .requires(.gcc))
    func buildIDSymbolsSegments() throws {
        let directory = Support.temporaryDirectory()
        let buildID = DebugBuilds.uniqueBuildID()
        let binary = try DebugBuilds.compile("int flamed_probe(int x) { return x * 3; }\nint main(void) { return flamed_probe(1); }\n",
                                             named: "prog", in: directory, buildID: buildID)
        let image = try parseELF(at: binary)
        #expect(image.buildID == bytes(ofHex: buildID))
        let symbols = image.functionSymbols()
        #expect(symbols.source == ".symtab")
        let probe = try #require(symbols.symbols.first { symbols.strings.string(at: Int($0.nameOffset), endingAt: { _ in false }) == "flamed_probe" })
        let text = try #require(image.segments.first { $0.executable })
        #expect(probe.start >= text.virtualAddress && probe.start < text.virtualAddress + text.memorySize, "flamed_probe lies in the executable segment")
    }
}
