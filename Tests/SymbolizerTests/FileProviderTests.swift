import FlamedSystem
import FlamedTestSupport
import Foundation
import Logging
import ObjectFile
import ProcText
import Testing
@testable import Symbolizer

/// Files served from memory: nothing is read from the file system, so a symbolizer that
/// resolves through it got every byte from its provider.
final class MemoryFiles: SymbolFileProvider, @unchecked Sendable {
    let files: [String: [UInt8]]
    init(_ files: [String: [UInt8]]) { self.files = files }

    func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? { nil }
    func perfMapPath(pid: Int32) -> String? { "/tmp/perf-\(pid).map" }
    var rereadsPerfMaps: Bool { false }
    func isRegularFile(_ path: String) -> Bool { files[path] != nil }
    func stamp(_ path: String) -> FileStamp? {
        files[path].map { FileStamp(device: 1, inode: UInt64(abs(path.hashValue) % 100_000), size: Int64($0.count), modified: 1) }
    }
    func contents(_ path: String) -> ByteView? { files[path].map { ByteView($0) } }
    func objectFile(_ path: String) -> Result<ELFImage, FileError> {
        guard let bytes = files[path] else { return .failure(FileError(path: path, reason: "not in memory")) }
        return ELFImage.parse(ByteView(bytes), path: path)
    }
    func runningVDSO() -> Result<ELFImage, FileError> { .failure(FileError(path: "[vdso]", reason: "not in memory")) }
    func crc32(_ path: String) -> Result<UInt32, FileError> {
        guard let bytes = files[path] else { return .failure(FileError(path: path, reason: "not in memory")) }
        return .success(bytes.withUnsafeBytes { CRC32.update(0, $0) })
    }
    func realPath(_ path: String) -> String? { files[path] != nil ? path : nil }
}

@Suite("The symbolizer reads its files through its provider")
struct FileProviderTests {
    @Test("a binary and a perf map that exist only in memory resolve", .requires(.gcc))
    func inMemory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flamed-provider-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("prog.c")
        try "int memory_probe(int x) { return x * 7; }\nint main(void) { return memory_probe(1); }\n".write(to: source, atomically: true, encoding: .utf8)
        let binary = directory.appendingPathComponent("prog")
        let gcc = Process()
        gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        gcc.arguments = ["-O0", "-o", binary.path, source.path]
        try gcc.run()
        gcc.waitUntilExit()
        try #require(gcc.terminationStatus == 0, "gcc failed")
        let bytes = [UInt8](try Data(contentsOf: binary))

        let path = "/nonexistent/in-memory/prog"
        let files = MemoryFiles([path: bytes, "/tmp/perf-77.map": Array("7f0000001000 40 memory_jit_fn\n".utf8)])
        let symbolizer = Symbolizer(SymbolizerConfiguration(buildIDCache: "/nonexistent", files: files), logger: Logger(label: "test"))

        let image = try ELFImage.parse(ByteView(bytes), path: path).get()
        let text = try #require(image.segments.first { $0.executable })
        let symbols = image.functionSymbols(from: .symtab)
        let probe = try #require(symbols.symbols.first { symbols.strings.string(at: Int($0.nameOffset), endingAt: { _ in false }) == "memory_probe" })
        let base: UInt64 = 0x5555_0000_0000
        symbolizer.mmap(pid: 42, start: base + text.fileOffset, length: text.fileSize, pageOffset: text.fileOffset,
                        filename: path, buildID: nil, isKernel: false)
        let address = base + (probe.start - text.virtualAddress + text.fileOffset)
        #expect(symbolizer.name(of: symbolizer.resolveUser(pid: 42, address: address + 2, isReturnAddress: false)) == "memory_probe")

        symbolizer.mmap(pid: 77, start: 0x7f00_0000_0000, length: 0x10000, pageOffset: 0, filename: "//anon", buildID: nil, isKernel: false)
        let jit = symbolizer.resolveUser(pid: 77, address: 0x7f00_0000_1010, isReturnAddress: false)
        #expect(symbolizer.name(of: jit) == "memory_jit_fn" && symbolizer.isJIT(jit))

        // What the provider does not have is not read from disk, even where a file exists.
        symbolizer.mmap(pid: 43, start: base, length: 0x1000, pageOffset: 0, filename: binary.path, buildID: nil, isKernel: false)
        #expect(symbolizer.name(of: symbolizer.resolveUser(pid: 43, address: base + 0x10, isReturnAddress: false)) == "[prog]")
    }
}
