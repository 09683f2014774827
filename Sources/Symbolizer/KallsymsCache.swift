import FlamedSystem
import Logging

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
    /// The cache file's name in flamed's cache directory.
    public static let fileName = "kallsyms-v1"
    static let magic = Array("FLAMEDKS".utf8)
    static let version: UInt32 = 1

    /// The running kernel's symbols: from the cache in `directory` when it is still right,
    /// else parsed from /proc/kallsyms and, when the addresses are visible, saved there.
    /// `fresh` skips the cache (and rewrites it). Nil when /proc/kallsyms cannot be read.
    public static func runningKernel(directory: String?, fresh: Bool = false, logger: Logger) -> KernelSymbols? {
        let state = KernelState.current()
        let path = directory.map { "\($0)/\(fileName)" }
        if !fresh, let path, let state, let bytes = PrivateFiles.read(path) {
            if let parsed = decode(bytes, key: state.key) {
                logger.debug("kernel symbols from the cache", metadata: ["file": "\(path)", "count": "\(parsed.entries.count)"])
                return KernelSymbols(parsed, coverage: coverage(parsed, modules: state.modules))
            }
            logger.debug("kernel symbol cache is stale or unreadable", metadata: ["file": "\(path)"])
        }
        guard case .success(let text) = FileReader.map(path: "/proc/kallsyms") else { return nil }
        let parsed = KernelSymbols.Parsed(text)
        if let path, let state, parsed.anyAddress, !parsed.entries.isEmpty {
            if case .failure(let error) = PrivateFiles.write(encode(parsed, key: state.key), to: path) {
                logger.debug("cannot save kernel symbols", metadata: ["error": "\(error)"])
            }
        }
        return KernelSymbols(parsed)
    }

    /// Where a cached table is complete: the kernel image's text, and each loaded module.
    static func coverage(_ parsed: KernelSymbols.Parsed, modules: [Range<UInt64>]) -> [Range<UInt64>] {
        var ranges = modules
        if let core = parsed.coreText { ranges.append(core.low..<(core.high &+ 4096)) }
        return ranges
    }

    /// What the cached table depends on.
    struct KernelState {
        /// boot_id, the modules (name, size, address) and kptr_restrict, as text.
        var key: [UInt8]
        /// Each loaded module's memory.
        var modules: [Range<UInt64>]

        static func current() -> KernelState? {
            guard case .success(let boot) = FileReader.map(path: "/proc/sys/kernel/random/boot_id"),
                  case .success(let restrict) = FileReader.map(path: "/proc/sys/kernel/kptr_restrict") else { return nil }
            var key = boot.withUnsafeBytes { Array($0) } + restrict.withUnsafeBytes { Array($0) }
            var modules: [Range<UInt64>] = []
            if case .success(let list) = FileReader.map(path: "/proc/modules") {
                // "name size refcount users state address [taint]": refcount and users change
                // while the module stays where it is, so they are left out of the key.
                let text = list.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                for line in text.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    guard fields.count >= 6 else { continue }
                    key += Array("\(fields[0]) \(fields[1]) \(fields[5])\n".utf8)
                    if let size = UInt64(fields[1]), fields[5].hasPrefix("0x"), let address = UInt64(fields[5].dropFirst(2), radix: 16),
                       address != 0 {
                        modules.append(address..<(address &+ size))
                    }
                }
            }
            return KernelState(key: key, modules: modules)
        }
    }

    // MARK: File format
    // "FLAMEDKS", version u32, count u32, names length u32, key length u32, _text u64
    // (max: none), core text low and high u64 (max: none), then the key, `count` entries of
    // start u64 + name offset u32 + binding u8 + module u8 (sorted as the table sorts them),
    // the names, and a checksum u64 of everything before it. Native byte order: the file
    // never leaves the machine.

    static let headerSize = 48
    static let entrySize = 14

    static func encode(_ parsed: KernelSymbols.Parsed, key: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + key.count + parsed.entries.count * entrySize + parsed.names.count + 8)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value) { out.append(contentsOf: $0) } }
        out += magic
        put(version)
        put(UInt32(parsed.entries.count))
        put(UInt32(parsed.names.count))
        put(UInt32(key.count))
        put(parsed.text ?? .max)
        put(parsed.coreText?.low ?? .max)
        put(parsed.coreText?.high ?? .max)
        out += key
        let order = SymbolTable.sortOrder(parsed.entries)
        for rank in parsed.entries.indices {
            let index = order.map { Int($0[rank]) } ?? rank
            let entry = parsed.entries[index]
            put(entry.start)
            put(entry.nameOffset)
            put(entry.binding)
            put(UInt8(parsed.modules[index] ? 1 : 0))
        }
        out += parsed.names
        put(checksum(out))
        return out
    }

    /// The table saved in `bytes`, if it was saved under `key` and is whole; nil otherwise.
    static func decode(_ bytes: ByteView, key: [UInt8]) -> KernelSymbols.Parsed? {
        guard bytes.count >= headerSize + 8, bytes.bytes(0, 8) == magic, bytes.u32(8) == version,
              let count = bytes.u32(12).map(Int.init), let namesLength = bytes.u32(16).map(Int.init),
              let keyLength = bytes.u32(20).map(Int.init), let text = bytes.u64(24),
              let coreLow = bytes.u64(32), let coreHigh = bytes.u64(40) else { return nil }
        let entriesStart = headerSize + keyLength
        let namesStart = entriesStart + count * entrySize
        guard keyLength == key.count, bytes.count == namesStart + namesLength + 8,
              bytes.bytes(headerSize, keyLength) == key else { return nil }
        let stored = bytes.u64(namesStart + namesLength)
        guard stored == bytes.withUnsafeBytes({ checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(namesStart + namesLength)])) }) else {
            return nil
        }
        var parsed = KernelSymbols.Parsed()
        parsed.entries.reserveCapacity(count)
        parsed.modules.reserveCapacity(count)
        var valid = true
        bytes.withUnsafeBytes { raw in
            for index in 0..<count {
                let at = entriesStart + index * entrySize
                let start = raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                let nameOffset = raw.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
                guard Int(nameOffset) < namesLength else {
                    valid = false
                    return
                }
                if start != 0 { parsed.anyAddress = true }
                parsed.entries.append(ELFSymbol(start: start, size: 0, nameOffset: nameOffset, binding: raw[at + 12]))
                parsed.modules.append(raw[at + 13] != 0)
            }
            parsed.names = Array(raw[namesStart..<(namesStart + namesLength)])
        }
        guard valid else { return nil }
        parsed.text = text == .max ? nil : text
        parsed.coreText = coreLow == .max ? nil : (coreLow, coreHigh)
        return parsed
    }

    /// A fast checksum, eight bytes at a time: it catches a damaged file, not an attacker
    /// (the file is private to its user).
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
        var offset = 0
        while offset + 8 <= raw.count {
            hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            hash ^= hash >> 32
            offset += 8
        }
        while offset < raw.count {
            hash = (hash ^ UInt64(raw[offset])) &* 0xC4CE_B9FE_1A85_EC53
            offset += 1
        }
        return hash
    }
}
