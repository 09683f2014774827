import FlamedSystem
import Logging
import ObjectFile

/// The running kernel's symbols, kept between runs: reading /proc/kallsyms costs tens of
/// milliseconds of kernel time (it formats every symbol), more than the rest of a short
/// `flamed record`. The parsed table is saved in flamed's private cache directory and used
/// again while it is still right: the same boot (`boot_id`, hence the same KASLR offset),
/// the same modules at the same addresses, and the same `kernel.kptr_restrict`.
///
/// Code the kernel makes at run time (BPF programs, ftrace trampolines) changes without any
/// of that changing, so a cached table only answers for addresses in the kernel image or in
/// a loaded module (`KernelSymbols.coverage`); any other kernel address makes the
/// symbolizer read /proc/kallsyms afresh, as it would have without the cache.
public enum KallsymsCache {
    /// The cache file's name in flamed's cache directory (`kallsyms-HASH` for other files).
    public static let fileName = "kallsyms"
    /// How many kallsyms files other than the running kernel's are kept.
    static let filesKept = 4
    static let magic = Array("FLAMEDKS".utf8)
    static let version: UInt32 = 4

    /// The kernel's symbols from the first of `paths` that lists any (`/proc/kallsyms` is the
    /// running kernel's, through the per-boot cache in `directory`; other files are cached
    /// while unchanged), and, when none does, one warning that names the file and why: an
    /// unusable file's over an unreadable one's; `readAny` tells whether any file was read.
    public static func firstListing(_ paths: [String], directory: String?, logger: Logger)
        -> (symbols: KernelSymbols?, warning: String?, readAny: Bool) {
        var unusable: String?, unreadable: String?
        for path in paths {
            let loaded = path == "/proc/kallsyms" ? runningKernel(directory: directory, logger: logger)
                : file(path, directory: directory, logger: logger)
            guard let symbols = loaded else {
                unreadable = unreadable ?? "\(path) is not readable: kernel frames are [unknown]"
                continue
            }
            guard symbols.table.count > 0 else {
                unusable = unusable ?? (symbols.addressesHidden ? KernelSymbols.hiddenAddressesWarning(path: path)
                                        : "\(path) lists no kernel symbols: kernel frames are [unknown]")
                continue
            }
            logger.debug("kernel symbols", metadata: ["file": "\(path)", "count": "\(symbols.table.count)"])
            return (symbols, nil, true)
        }
        return (nil, unusable ?? unreadable, unusable != nil)
    }

    /// The running kernel's symbols: from the cache in `directory` when it is still right,
    /// else parsed from /proc/kallsyms and, when the addresses are visible, saved there.
    /// `fresh` skips the cache (and rewrites it). Nil when /proc/kallsyms cannot be read.
    public static func runningKernel(directory: String?, fresh: Bool = false, logger: Logger) -> KernelSymbols? {
        let state = KernelState.current()
        let path = directory.map { "\($0)/\(fileName)" }
        if !fresh, let path, let state, addressesVisible(), let (bytes, file) = PrivateFiles.readMapped(path) {
            if let cached = decode(bytes, file: file, key: state.key, complete: false) {
                logger.debug("kernel symbols from the cache", metadata: ["file": "\(path)", "count": "\(cached.table.count)"])
                return cached
            }
            logger.debug("kernel symbol cache is stale or unreadable", metadata: ["file": "\(path)"])
        }
        guard case .success(let text) = FileReader.map(path: "/proc/kallsyms") else { return nil }
        let symbols = KernelSymbols(KernelSymbols.Parsed(text))
        if let path, let state { save(symbols, key: state.key, to: path, logger: logger) }
        return symbols
    }

    /// The symbols of a kallsyms-format file (perf's build-id cache copy, `--kallsyms`):
    /// from the cache in `directory` while the file is unchanged (path, device, inode, size
    /// and modification time), else parsed and saved there. Nil when it cannot be read.
    public static func file(_ path: String, directory: String?, logger: Logger) -> KernelSymbols? {
        // A /proc file (size 0, the same stamp all boot long) is read every time.
        let stamp = FileStamp(path: path).flatMap { $0.size > 0 && FileStamp.realPath(path) != "/proc/kallsyms" ? $0 : nil }
        let key = stamp.map { Array("file\n\(path)\n\($0)\n".utf8) }
        let cachePath = directory.map { "\($0)/\(fileName)-\(String(checksum(Array(path.utf8)), radix: 16))" }
        if let key, let cachePath, let (bytes, file) = PrivateFiles.readMapped(cachePath),
           let cached = decode(bytes, file: file, key: key, complete: true) {
            logger.debug("kernel symbols from the cache", metadata: ["file": "\(cachePath)", "source": "\(path)"])
            return cached
        }
        guard case .success(let text) = FileReader.map(path: path) else { return nil }
        let symbols = KernelSymbols(parsing: text)
        if let key, let cachePath, let directory {
            save(symbols, key: key, to: cachePath, logger: logger)
            PrivateFiles.prune(directory, prefix: "\(fileName)-", keep: filesKept)
        }
        return symbols
    }

    private static func save(_ symbols: KernelSymbols, key: [UInt8], to path: String, logger: Logger) {
        guard !symbols.addressesHidden, symbols.table.count > 0 else { return }
        if case .failure(let error) = PrivateFiles.write(encode(symbols, key: key), to: path) {
            logger.debug("cannot save kernel symbols", metadata: ["error": "\(error)"])
        }
    }

    /// Whether this process may see kernel addresses now: the first lines of /proc/kallsyms
    /// show a non-zero one. A process without CAP_SYSLOG (where kptr_restrict or
    /// perf_event_paranoid ask for it) sees zeros, and must not get them from a cache that a
    /// more privileged run of the same user wrote.
    static func addressesVisible() -> Bool {
        guard case .success(let head) = FileReader.prefix(path: "/proc/kallsyms", limit: 4096) else { return false }
        return head.split(separator: 10).contains { line in
            line.prefix { $0 != 32 }.contains { $0 != UInt8(ascii: "0") }
        }
    }

    /// Where a cached table is complete: the kernel image's text, and each module's text
    /// from its first symbol to the start of its last (an address past that may be code
    /// placed after the module, so it makes kallsyms be read again).
    static func coverage(coreText: (low: UInt64, high: UInt64)?, moduleText: [ClosedRange<UInt64>]) -> [Range<UInt64>] {
        var ranges = moduleText.map { $0.lowerBound..<($0.upperBound &+ 1) }
        if let core = coreText { ranges.append(core.low..<(core.high &+ 4096)) }
        return ranges
    }

    /// What the cached table depends on.
    struct KernelState {
        /// boot_id, the modules (name, size, address) and kptr_restrict, as text.
        var key: [UInt8]

        static func current() -> KernelState? {
            guard case .success(let boot) = FileReader.map(path: "/proc/sys/kernel/random/boot_id"),
                  case .success(let restrict) = FileReader.map(path: "/proc/sys/kernel/kptr_restrict") else { return nil }
            var key = boot.withUnsafeBytes { Array($0) } + restrict.withUnsafeBytes { Array($0) }
            if case .success(let list) = FileReader.map(path: "/proc/modules") {
                // "name size refcount users state address [taint]": refcount and users change
                // while the module stays where it is, so they are left out of the key.
                let text = list.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                for line in text.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    guard fields.count >= 6 else { continue }
                    key += Array("\(fields[0]) \(fields[1]) \(fields[5])\n".utf8)
                }
            }
            return KernelState(key: key)
        }
    }

    // MARK: File format
    // "FLAMEDKS", version u32, count u32, names length u32, key length u32, _text u64
    // (max: none), core text low and high u64 (max: none), module count u32, 4 bytes of 0;
    // the key, padded to 8 bytes; each module's text range (low, high u64); the table as it
    // is in memory: starts u64[count], sizes u32[count], name offsets u32[count], bindings
    // u8[count], padded to 8; a checksum u64 of everything before it; the names.
    // Native byte order: the file never leaves the machine. Reading it back is a few copies,
    // and the names are used where they lie in the mapped file, so only the pages of names
    // that are looked up are read (names are outside the checksum for that reason; every
    // read of them is bounds-checked).

    static let headerSize = 56

    private static func padded(_ count: Int) -> Int { (count + 7) & ~7 }

    static func encode(_ symbols: KernelSymbols, key: [UInt8]) -> [UInt8] {
        let parts = symbols.table.parts
        let count = parts.starts.count
        let names = parts.strings.withUnsafeBytes { Array($0) }
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + padded(key.count) + symbols.moduleText.count * 16 + padded(count * 17) + names.count + 8)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value) { out.append(contentsOf: $0) } }
        func putArray<T>(_ values: [T]) { values.withUnsafeBytes { out.append(contentsOf: $0) } }
        func pad() { out.append(contentsOf: repeatElement(0, count: padded(out.count) - out.count)) }
        out += magic
        put(version)
        put(UInt32(count))
        put(UInt32(names.count))
        put(UInt32(key.count))
        put(symbols.textAddress ?? .max)
        put(symbols.coreText?.low ?? .max)
        put(symbols.coreText?.high ?? .max)
        put(UInt32(symbols.moduleText.count))
        put(UInt32(0))
        out += key
        pad()
        for range in symbols.moduleText {
            put(range.lowerBound)
            put(range.upperBound)
        }
        putArray(parts.starts)
        putArray(parts.sizes)
        putArray(parts.nameOffsets)
        putArray(parts.bindings)
        pad()
        put(checksum(out))
        out += names
        return out
    }

    /// The table saved in `bytes`, if it was saved under `key` and is whole; nil otherwise.
    /// A table of the running kernel is not `complete`: it answers only within its coverage.
    /// With `file` (the same bytes, read on demand) names are read from the file one at a
    /// time and none of the mapping stays resident.
    static func decode(_ bytes: ByteView, file: FileRange? = nil, key: [UInt8], complete: Bool) -> KernelSymbols? {
        guard bytes.count >= headerSize + 8, bytes.bytes(0, 8) == magic, bytes.u32(8) == version,
              let count = bytes.u32(12).map(Int.init), let namesLength = bytes.u32(16).map(Int.init),
              let keyLength = bytes.u32(20).map(Int.init), let text = bytes.u64(24),
              let coreLow = bytes.u64(32), let coreHigh = bytes.u64(40), let moduleCount = bytes.u32(48).map(Int.init) else { return nil }
        let modulesAt = headerSize + padded(keyLength)
        let startsAt = modulesAt + moduleCount * 16
        let sizesAt = startsAt + count * 8, offsetsAt = sizesAt + count * 4, bindingsAt = offsetsAt + count * 4
        let checksumAt = padded(bindingsAt + count), namesAt = checksumAt + 8
        guard keyLength == key.count, bytes.count == namesAt + namesLength,
              bytes.bytes(headerSize, keyLength) == key, let names = bytes.slice(namesAt, namesLength) else { return nil }
        let stored = bytes.u64(checksumAt)
        guard stored == bytes.withUnsafeBytes({ checksum(UnsafeRawBufferPointer(rebasing: $0[0..<checksumAt])) }) else {
            return nil
        }
        guard coreLow == .max || (coreLow <= coreHigh && coreHigh <= .max - 4096) else { return nil }
        var moduleText: [ClosedRange<UInt64>] = []
        for index in 0..<moduleCount {
            guard let low = bytes.u64(modulesAt + index * 16), let high = bytes.u64(modulesAt + index * 16 + 8), low <= high,
                  high < .max else { return nil }
            moduleText.append(low...high)
        }
        func array<T>(_ offset: Int, _ type: T.Type) -> [T] {
            bytes.withUnsafeBytes { raw in
                [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count * MemoryLayout<T>.stride)]))
                    initialized = count
                }
            }
        }
        let starts = array(startsAt, UInt64.self), sizes = array(sizesAt, UInt32.self)
        let nameOffsets = array(offsetsAt, UInt32.self), bindings = array(bindingsAt, UInt8.self)
        // The arrays are copied: their pages are not needed again. Names are read one at a
        // time, from the file when it is open, else from the mapping.
        let nameFile = file.flatMap { $0.count == bytes.count ? $0.slice(namesAt, namesLength) : nil }
        bytes.releaseResidentPages(0, nameFile == nil ? namesAt : bytes.count)
        guard nameOffsets.allSatisfy({ Int($0) < namesLength }), zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
        let coreText = coreLow == .max ? nil : (low: coreLow, high: coreHigh)
        let table = SymbolTable(starts: starts, sizes: sizes, nameOffsets: nameOffsets, bindings: bindings, strings: nameFile.map { StringTable(file: $0) } ?? StringTable(names))
        return KernelSymbols(table: table, textAddress: text == .max ? nil : text, coreText: coreText, moduleText: moduleText,
                             coverage: complete ? nil : coverage(coreText: coreText, moduleText: moduleText))
    }

    /// A fast checksum, eight bytes at a time: it catches a damaged file, not an attacker
    /// (the file is private to its user).
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        // Four independent lanes of 8 bytes keep the multiplier busy.
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count), 1, 2, 3)
        @inline(__always) func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
            let mixed = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
            return mixed ^ (mixed >> 32)
        }
        var offset = 0
        while offset + 32 <= raw.count {
            lanes.0 = mix(lanes.0, raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            lanes.1 = mix(lanes.1, raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            lanes.2 = mix(lanes.2, raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
            lanes.3 = mix(lanes.3, raw.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
            offset += 32
        }
        var hash = mix(mix(mix(lanes.0, lanes.1), lanes.2), lanes.3)
        while offset < raw.count {
            hash = mix(hash, UInt64(raw[offset]))
            offset += 1
        }
        return hash
    }
}
