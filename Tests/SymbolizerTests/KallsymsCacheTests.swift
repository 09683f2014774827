import FlamedSystem
import Foundation
import Logging
import FlamedTestSupport
import ProcText
import Testing
@testable import Symbolizer

/// A small kallsyms with kernel text, one module and a BPF program outside the module.
private let kallsymsText = """
    ffffffff81000000 T _text
    ffffffff81000100 t helper
    ffffffff81000200 T after
    ffffffff82000000 D some_data
    ffffffffc0000000 t mod_func\t[mymod]
    ffffffffc0000100 t mod_other\t[mymod]
    ffffffffc0100000 t bpf_prog_6deef7357e7b4530_sd_fw_egress\t[bpf]

    """

/// Whether /proc/kallsyms shows addresses to this process (root, or kptr_restrict allows).
/// /proc/kallsyms shows this user the kernel's addresses.
private let kernelAddresses: Requirement = {
    let visible: Bool
    if case .success(let bytes) = FileReader.map(path: "/proc/kallsyms") { visible = !KernelSymbols(parsing: bytes).addressesHidden } else { visible = false }
    return Requirement(name: "kernel addresses", missingReason: visible ? nil
                       : "/proc/kallsyms shows no addresses to this user (kernel.kptr_restrict; run as root or with CAP_SYSLOG)")
}()

private func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/flamed-kallsyms-XXXXXX".utf8CString)
    let made = try #require(mkdtemp(&template))
    return String(cString: made)
}

@Suite("The per-boot kernel symbol cache")
struct KallsymsCacheTests {
    let parsed = KernelSymbols.Parsed(ByteView(Array(kallsymsText.utf8)))

    @Test("a saved table reads back with the same symbols, names and _text")
    func roundTrip() throws {
        let key = Array("boot-1\n0\n".utf8)
        let original = KernelSymbols(parsed)
        let restored = try #require(KallsymsCache.decode(ByteView(KallsymsCache.encode(original, key: key)), key: key, complete: true))
        #expect(restored.textAddress == 0xffffffff81000000)
        #expect(restored.table.count == original.table.count)
        for address: UInt64 in [0xffffffff81000104, 0xffffffff81000fff, 0xffffffffc0000004, 0xffffffffc0000180, 0xffffffffc0100010] {
            #expect(restored.table.find(address).map(restored.table.name) == original.table.find(address).map(original.table.name),
                    "address \(String(address, radix: 16))")
        }
        #expect(restored.coreText?.low == 0xffffffff81000000 && restored.coreText?.high == 0xffffffff81000200,
                "the kernel image's text runs from _text to the last text symbol (data and modules are not in it)")
    }

    @Test("a table saved under another boot or module list, truncated, or damaged in its structure is not used")
    func staleOrDamaged() {
        let key = Array("boot-1\n0\nmymod 4096 0xffffffffc0000000\n".utf8)
        let encoded = KallsymsCache.encode(KernelSymbols(parsed), key: key)
        #expect(KallsymsCache.decode(ByteView(encoded), key: key, complete: true) != nil)
        #expect(KallsymsCache.decode(ByteView(encoded), key: Array("boot-2\n0\nmymod 4096 0xffffffffc0000000\n".utf8), complete: true) == nil)
        #expect(KallsymsCache.decode(ByteView(encoded), key: Array("boot-1\n0\n".utf8), complete: true) == nil)
        for length in 0..<encoded.count {
            #expect(KallsymsCache.decode(ByteView(Array(encoded.prefix(length))), key: key, complete: true) == nil, "truncated to \(length) bytes")
        }
        // The names are outside the checksum (only the pages of names looked up are read);
        // everything before them is covered.
        let namesLength = Int(encoded[16]) | Int(encoded[17]) << 8 | Int(encoded[18]) << 16 | Int(encoded[19]) << 24
        for position in stride(from: 0, to: encoded.count - namesLength, by: 3) {
            var damaged = encoded
            damaged[position] ^= 0x40
            #expect(KallsymsCache.decode(ByteView(damaged), key: key, complete: true) == nil, "byte \(position) flipped")
        }
    }

    @Test("an address outside the kernel image and the modules makes the symbolizer read kallsyms again, once")
    func uncoveredAddressReloads() {
        let fresh = KernelSymbols(parsed)
        #expect(fresh.moduleText == [0xffffffffc0000000...0xffffffffc0000100], "mymod's text; [bpf] is no module")
        let cached = KernelSymbols(table: fresh.table, textAddress: fresh.textAddress, coreText: fresh.coreText, moduleText: fresh.moduleText,
                                   coverage: KallsymsCache.coverage(coreText: fresh.coreText, moduleText: fresh.moduleText))
        #expect(cached.covers(0xffffffff81000104) && cached.covers(0xffffffffc0000004) && cached.covers(0xffffffffc0000100))
        #expect(!cached.covers(0xffffffffc0000104), "past the start of a module's last symbol, other code may follow")
        #expect(!cached.covers(0xffffffffc0100010), "the BPF program is in neither the image nor a module")
        /// Reads the kernel's symbols afresh from the test's kallsyms text, counting the reads.
        final class FreshKallsyms: SymbolFileProvider, @unchecked Sendable {
            var reloads = 0
            func heldFile(pid: Int32, path: String, start: UInt64, end: UInt64, identity: MappingIdentity?) -> PinnedFile? { nil }
            func perfMapPath(pid: Int32) -> String? { nil }
            var rereadsPerfMaps: Bool { false }
            func freshKernelSymbols(logger: Logger) -> KernelSymbols? {
                reloads += 1
                return KernelSymbols(parsing: ByteView(Array(kallsymsText.utf8)))
            }
        }
        let files = FreshKallsyms()
        var configuration = SymbolizerConfiguration(buildIDCache: "/nonexistent", files: files)
        configuration.kernel = cached
        let symbolizer = Symbolizer(configuration, logger: Logger(label: "test"))
        let helper = symbolizer.resolveKernel(address: 0xffffffff81000104, isReturnAddress: false)
        let module = symbolizer.resolveKernel(address: 0xffffffffc0000008, isReturnAddress: true)
        #expect(files.reloads == 0, "covered addresses resolve from the cached table")
        let bpf = symbolizer.resolveKernel(address: 0xffffffffc0100010, isReturnAddress: true)
        #expect(files.reloads == 1)
        #expect(symbolizer.name(of: bpf) == "bpf_prog_6deef7357e7b4530_sd_fw_egress")
        #expect(symbolizer.name(of: helper) == "helper", "frames from the cached table keep their names")
        #expect(symbolizer.name(of: module) == "mod_func")
        _ = symbolizer.resolveKernel(address: 0xffffffffd0000000, isReturnAddress: false)
        #expect(files.reloads == 1, "kallsyms is read again at most once")
    }

    @Test("the running kernel's table is saved privately, then read back with the same names",
          .requires(kernelAddresses))
    func runningKernel() throws {
        let directory = try makeTemporaryDirectory() + "/cache"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let logger = Logger(label: "test")
        let fresh = try #require(KallsymsCache.runningKernel(directory: directory, logger: logger))
        #expect(fresh.coverage == nil, "a table read from /proc/kallsyms is complete")
        var info = stat()
        #expect(stat(directory, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(directory + "/" + KallsymsCache.fileName, &info) == 0 && info.st_mode & 0o777 == 0o600)

        let cached = try #require(KallsymsCache.runningKernel(directory: directory, logger: logger))
        #expect(cached.coverage != nil, "the second read comes from the cache")
        #expect(cached.table.count == fresh.table.count && cached.textAddress == fresh.textAddress)
        var checked = 0
        for address in stride(from: fresh.textAddress ?? 0, to: (fresh.textAddress ?? 0) &+ (16 << 20), by: 4099) {
            #expect(cached.table.find(address).map(cached.table.name) == fresh.table.find(address).map(fresh.table.name))
            checked += 1
        }
        #expect(checked > 4000)

        // A cache file another user could have written is ignored.
        chmod(directory + "/" + KallsymsCache.fileName, 0o666)
        #expect(KallsymsCache.runningKernel(directory: directory, logger: logger)?.coverage == nil)
    }

    @Test("a kallsyms file is cached until it changes; at most four such files are kept")
    func fileCache() throws {
        let base = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let directory = base + "/cache", logger = Logger(label: "test")
        let source = base + "/kallsyms"
        try kallsymsText.write(toFile: source, atomically: true, encoding: .utf8)
        let parsed = try #require(KallsymsCache.file(source, directory: directory, logger: logger))
        let cacheFiles = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(KallsymsCache.fileName + "-") }
        #expect(cacheFiles.count == 1)
        let cached = try #require(KallsymsCache.file(source, directory: directory, logger: logger))
        #expect(cached.table.count == parsed.table.count && cached.coverage == nil, "a file's table is complete")
        #expect(cached.table.find(0xffffffff81000104).map(cached.table.name) == "helper")

        // Changed (a different size): parsed again.
        try (kallsymsText + "ffffffffc0200000 t late_fn\t[late]\n").write(toFile: source, atomically: true, encoding: .utf8)
        let changed = try #require(KallsymsCache.file(source, directory: directory, logger: logger))
        #expect(changed.table.find(0xffffffffc0200004).map(changed.table.name) == "late_fn")

        for index in 0..<6 {
            let other = base + "/kallsyms-\(index)"
            try kallsymsText.write(toFile: other, atomically: true, encoding: .utf8)
            _ = KallsymsCache.file(other, directory: directory, logger: logger)
        }
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(KallsymsCache.fileName + "-") }
        #expect(kept.count == KallsymsCache.filesKept, "\(kept)")
    }

    @Test("a cache is neither written nor read below a directory others may write, nor from a file another user owns",
          .requires(.root))
    func unsafePlaces() throws {
        let base = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let open = base + "/open"
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let written: Void? = try? PrivateFiles.write([1, 2, 3], to: open + "/cache/file").get()
        #expect(written == nil && !FileManager.default.fileExists(atPath: open + "/cache/file"), "written below a directory anyone may write to")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: open + "/planted"))
        chmod(open + "/planted", 0o600)
        #expect(PrivateFiles.read(open + "/planted") == nil, "a directory anyone may write to is not safe")

        let safe = base + "/safe"
        #expect((try? PrivateFiles.write([1, 2, 3], to: safe + "/mine").get()) != nil)
        #expect(PrivateFiles.read(safe + "/mine")?.bytes(0, 3) == [1, 2, 3])
        #expect((try? PrivateFiles.write([4, 5], to: safe + "/other").get()) != nil)
        symlink(safe + "/other", safe + "/alias")
        #expect(PrivateFiles.read(safe + "/alias") == nil, "a symbolic link is not followed to the file")
        chown(safe + "/mine", 65534, 65534)
        #expect(PrivateFiles.read(safe + "/mine") == nil, "a file another user owns")
    }
}
