import CLibElf
import FlamedSystem

/// A loadable segment (PT_LOAD) of an ELF file.
public struct ELFSegment: Sendable {
    public let fileOffset: UInt64
    public let virtualAddress: UInt64
    public let fileSize: UInt64
    public let memorySize: UInt64
    public let executable: Bool
}

/// A symbol read from `.symtab` or `.dynsym` (or synthesized for a PLT stub).
public struct ELFSymbol: Sendable {
    public init(start: UInt64, size: UInt64, nameOffset: UInt32, binding: UInt8) {
        self.start = start
        self.size = size
        self.nameOffset = nameOffset
        self.binding = binding
    }

    /// Virtual address of the symbol (st_value).
    public var start: UInt64
    /// st_size; zero when the table does not say.
    public var size: UInt64
    /// Offset of the NUL-terminated name in the table's string bytes.
    public var nameOffset: UInt32
    /// STB_LOCAL (0), STB_GLOBAL (1) or STB_WEAK (2).
    public var binding: UInt8
}

/// Symbols as columns: 17 bytes a symbol where `ELFSymbol`s take 24, and each column can
/// be let go of on its own once used (a large binary has hundreds of thousands).
public struct SymbolColumns: Sendable {
    public var starts: [UInt64] = []
    /// st_size, saturated at 4 GiB (far beyond any function).
    public var sizes: [UInt32] = []
    public var nameOffsets: [UInt32] = []
    public var bindings: [UInt8] = []

    public init() {}

    /// Columns of one length.
    public init(starts: [UInt64], sizes: [UInt32], nameOffsets: [UInt32], bindings: [UInt8]) {
        precondition(sizes.count == starts.count && nameOffsets.count == starts.count && bindings.count == starts.count)
        self.starts = starts
        self.sizes = sizes
        self.nameOffsets = nameOffsets
        self.bindings = bindings
    }

    public init(_ symbols: [ELFSymbol]) {
        reserveCapacity(symbols.count)
        for symbol in symbols { append(symbol) }
    }

    public var count: Int { starts.count }

    public mutating func reserveCapacity(_ capacity: Int) {
        starts.reserveCapacity(capacity)
        sizes.reserveCapacity(capacity)
        nameOffsets.reserveCapacity(capacity)
        bindings.reserveCapacity(capacity)
    }

    public mutating func append(_ symbol: ELFSymbol) {
        starts.append(symbol.start)
        sizes.append(UInt32(truncatingIfNeeded: min(symbol.size, UInt64(UInt32.max))))
        nameOffsets.append(symbol.nameOffset)
        bindings.append(symbol.binding)
    }

    /// The symbols as structs (sizes as saturated).
    public var symbols: [ELFSymbol] {
        (0..<count).map { ELFSymbol(start: starts[$0], size: UInt64(sizes[$0]), nameOffset: nameOffsets[$0], binding: bindings[$0]) }
    }
}

/// The function symbols of one ELF file and the string bytes their names point into.
public struct ELFSymbolTable: Sendable {
    public var columns: SymbolColumns
    /// The string table: read from the file as names are needed, or held in memory.
    public var strings: StringTable
    /// Which section they came from: ".symtab", ".dynsym" or "" when there were none.
    public var source: String

    public init(columns: SymbolColumns, strings: StringTable, source: String) {
        self.columns = columns
        self.strings = strings
        self.source = source
    }

    public init(symbols: [ELFSymbol], strings: StringTable, source: String) {
        self.init(columns: SymbolColumns(symbols), strings: strings, source: source)
    }

    /// The symbols as structs.
    public var symbols: [ELFSymbol] { columns.symbols }
    public var isEmpty: Bool { columns.count == 0 }

    /// This table and `other`'s symbols in one, their string tables copied side by side
    /// (as gdb and perf combine MiniDebugInfo's `.symtab` with `.dynsym`). A symbol of
    /// `other` with the same start and name as one of these is dropped.
    public func merging(_ other: ELFSymbolTable, source: String) -> ELFSymbolTable {
        guard !other.isEmpty else { return ELFSymbolTable(columns: columns, strings: strings, source: source) }
        var bytes = strings.allBytes() ?? []
        let shift = UInt64(bytes.count)
        bytes.append(contentsOf: other.strings.allBytes() ?? [])
        func name(_ table: StringTable, _ offset: UInt32) -> String? {
            table.string(at: Int(offset), endingAt: { _ in false })
        }
        var existing: [UInt64: [UInt32]] = [:]
        for symbol in symbols { existing[symbol.start, default: []].append(symbol.nameOffset) }
        var merged = symbols
        for symbol in other.symbols {
            if let offsets = existing[symbol.start], let own = name(other.strings, symbol.nameOffset),
               offsets.contains(where: { name(strings, $0) == own }) { continue }
            let offset = UInt64(symbol.nameOffset) + shift
            guard offset < UInt64(UInt32.max >> 1) else { continue }
            merged.append(ELFSymbol(start: symbol.start, size: symbol.size, nameOffset: UInt32(offset), binding: symbol.binding))
        }
        return ELFSymbolTable(symbols: merged, strings: StringTable(ByteView(bytes)), source: source)
    }
}

/// The `.gnu_debuglink` section of a stripped binary: the separate debug file's name and
/// the CRC-32 of its contents.
public struct DebugLink: Sendable, Equatable {
    public let name: String
    public let crc: UInt32
}

/// Which symbol table of an ELF file to read.
public enum SymbolTableKind: String, Sendable {
    case symtab = ".symtab"
    case dynsym = ".dynsym"
}

/// One ELF image parsed through libelf from bytes it is given: a file's mapping, or bytes
/// held in memory (decompressed MiniDebugInfo, a copy of the vDSO). It reads no file
/// itself; the libelf handle is released in `deinit`.
public final class ELFImage {
    public let path: String
    public let segments: [ELFSegment]
    public let buildID: [UInt8]?
    private let elf: OpaquePointer
    /// The image's bytes, which libelf reads in place: they live as long as the image.
    private let bytes: ByteView
    /// The same bytes as a range of their file, when they are a file's mapping: symbol and
    /// string tables are read from it on demand, so that none of them stays resident.
    private let file: FileRange?

    private static let versionReady: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

    private init(path: String, elf: OpaquePointer, bytes: ByteView, file: FileRange?, segments: [ELFSegment], buildID: [UInt8]?) {
        self.path = path
        self.elf = elf
        self.bytes = bytes
        self.file = file
        self.segments = segments
        self.buildID = buildID
    }

    deinit { elf_end(elf) }

    /// Parses the ELF image in `bytes`; `path` names it in errors. When the bytes are a
    /// file's mapping, `file` is that file (the same bytes, read on demand). libelf may
    /// write to the memory it is given (never the file, for a copy-on-write mapping).
    public static func parse(_ bytes: ByteView, file: FileRange? = nil, path: String) -> Result<ELFImage, FileError> {
        guard versionReady else { return .failure(FileError(path: path, reason: "libelf version mismatch")) }
        guard bytes.count >= 64, let base = bytes.stableBaseAddress else {
            return .failure(FileError(path: path, reason: "too short for an ELF file"))
        }
        guard let elf = elf_memory(UnsafeMutableRawPointer(mutating: base).assumingMemoryBound(to: CChar.self), bytes.count) else {
            return .failure(FileError(path: path, reason: "libelf: \(String(cString: elf_errmsg(-1)))"))
        }
        guard elf_kind(elf) == ELF_K_ELF else {
            elf_end(elf)
            return .failure(FileError(path: path, reason: "not an ELF file"))
        }
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else {
            elf_end(elf)
            return .failure(FileError(path: path, reason: "bad ELF header"))
        }
        var segments: [ELFSegment] = []
        var count = 0
        if elf_getphdrnum(elf, &count) == 0 {
            for index in 0..<count {
                var program = GElf_Phdr()
                guard gelf_getphdr(elf, Int32(index), &program) != nil else { continue }
                if program.p_type == UInt32(PT_LOAD) {
                    segments.append(ELFSegment(
                        fileOffset: program.p_offset, virtualAddress: program.p_vaddr,
                        fileSize: program.p_filesz, memorySize: program.p_memsz,
                        executable: program.p_flags & UInt32(PF_X) != 0))
                }
            }
        }
        let buildID = Self.readBuildID(elf)
        return .success(ELFImage(path: path, elf: elf, bytes: bytes, file: file, segments: segments, buildID: buildID))
    }

    /// Where the section headers of a native 64-bit ELF image end (`e_shoff` plus
    /// `e_shentsize` times `e_shnum`), from its first 64 bytes: the size of an image whose
    /// section headers come last, such as the vDSO. Nil when the header is shorter.
    public static func endOfSectionHeaders(_ header: ByteView) -> Int? {
        guard let offset = header.u64(0x28), let entrySize = header.u16(0x3A), let entries = header.u16(0x3C),
              offset <= UInt64(Int.max / 2) else { return nil }
        return Int(offset) + Int(entrySize) * Int(entries)
    }

    private static func sectionBytes(_ section: OpaquePointer) -> UnsafeRawBufferPointer? {
        guard let data = elf_getdata(section, nil), let buffer = data.pointee.d_buf else { return nil }
        return UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size)
    }

    /// One section: its libelf handle, header and name ("" when names are unavailable).
    private struct Section {
        let handle: OpaquePointer
        let header: GElf_Shdr
        let name: String
    }

    private static func sections(of elf: OpaquePointer) -> [Section] {
        var names = 0
        let haveNames = elf_getshdrstrndx(elf, &names) == 0
        var result: [Section] = []
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil else { continue }
            let name = haveNames ? elf_strptr(elf, names, Int(header.sh_name)).map { String(cString: $0) } ?? "" : ""
            result.append(Section(handle: current, header: header, name: name))
        }
        return result
    }

    /// The file's sections, read once.
    private lazy var sections: [Section] = Self.sections(of: elf)

    private static func readBuildID(_ elf: OpaquePointer) -> [UInt8]? {
        for section in sections(of: elf) where section.header.sh_type == UInt32(SHT_NOTE) {
            guard let bytes = sectionBytes(section.handle) else { continue }
            var offset = 0
            while offset + 12 <= bytes.count {
                let nameSize = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                let descSize = Int(bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                let type = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                let nameStart = offset + 12
                let descStart = nameStart + ((nameSize + 3) & ~3)
                let next = descStart + ((descSize + 3) & ~3)
                guard nameSize >= 0, descSize >= 0, next <= bytes.count, next > offset else { break }
                if type == 3, nameSize == 4, bytes[nameStart] == 0x47, bytes[nameStart + 1] == 0x4e, bytes[nameStart + 2] == 0x55 {
                    return Array(bytes[descStart..<(descStart + descSize)])
                }
                offset = next
            }
        }
        return nil
    }

    /// Reads the symbols perf keeps: functions, objects and labels in text sections, from
    /// `.symtab` when present, else `.dynsym`. Undefined and unnamed symbols are skipped.
    public func functionSymbols() -> ELFSymbolTable {
        let symtab = sections.last { $0.header.sh_type == UInt32(SHT_SYMTAB) }?.handle
        let dynsym = sections.last { $0.header.sh_type == UInt32(SHT_DYNSYM) }?.handle
        if let symtab {
            let table = readSymbols(symtab)
            if table.symbols.count > 0 { return ELFSymbolTable(columns: table.symbols, strings: table.strings, source: ".symtab") }
        }
        if let dynsym {
            let table = readSymbols(dynsym)
            return ELFSymbolTable(columns: table.symbols, strings: table.strings, source: ".dynsym")
        }
        return ELFSymbolTable(symbols: [], strings: StringTable(), source: "")
    }

    /// The function symbols of one symbol table only: `.symtab` or `.dynsym` (empty, with
    /// source "", when the file has no such table).
    public func functionSymbols(from table: SymbolTableKind) -> ELFSymbolTable {
        let type = table == .symtab ? UInt32(SHT_SYMTAB) : UInt32(SHT_DYNSYM)
        guard let section = sections.last(where: { $0.header.sh_type == type })?.handle else {
            return ELFSymbolTable(symbols: [], strings: StringTable(), source: "")
        }
        let read = readSymbols(section)
        return ELFSymbolTable(columns: read.symbols, strings: read.strings, source: table.rawValue)
    }

    /// The bytes of the first section named `name` that has contents in the file, or nil.
    /// Views into a file's image share its mapping; in-memory images are copied.
    public func sectionContents(named name: String) -> ByteView? {
        guard let section = sections.first(where: { $0.name == name && $0.header.sh_type != UInt32(SHT_NOBITS) }) else { return nil }
        if let view = fileRange(of: section.handle) { return view }
        return Self.sectionBytes(section.handle).map { ByteView(Array($0)) }
    }

    /// The `.gnu_debuglink` section: a NUL-terminated file name, padding to four bytes,
    /// then the debug file's CRC-32 in the file's byte order.
    public var debugLink: DebugLink? {
        guard let bytes = sectionContents(named: ".gnu_debuglink"), bytes.count >= 8,
              let end = (0..<bytes.count).first(where: { bytes.u8($0) == 0 }), end > 0 else { return nil }
        let crcOffset = (end + 1 + 3) & ~3
        guard let raw = bytes.u32(crcOffset), let name = bytes.string(0, end) else { return nil }
        let bigEndian = elf_getident(elf, nil).map { $0[Int(EI_DATA)] == ELFDATA2MSB } ?? false
        return DebugLink(name: name, crc: bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw))
    }

    /// Synthesizes `name@plt` symbols for the `.plt` stubs, one per `.rela.plt` (or
    /// `.rel.plt`) entry in order after the header stub, as perf does for x86-64.
    public func pltSymbols() -> ELFSymbolTable {
        let plt = sections.last { $0.name == ".plt" }?.header
        let relocations = (sections.last { $0.name == ".rela.plt" && $0.header.sh_type == UInt32(SHT_RELA) }
            ?? sections.first { $0.name == ".rel.plt" && $0.header.sh_type == UInt32(SHT_REL) }).map { ($0.handle, $0.header) }
        guard let plt, plt.sh_entsize > 0, let (relocationSection, relocationHeader) = relocations,
              let dynamicSymbols = elf_getscn(elf, Int(relocationHeader.sh_link)),
              let symbolData = elf_getdata(dynamicSymbols, nil),
              let relocationData = elf_getdata(relocationSection, nil) else {
            return ELFSymbolTable(symbols: [], strings: StringTable(), source: "")
        }
        var symbolHeader = GElf_Shdr()
        guard gelf_getshdr(dynamicSymbols, &symbolHeader) != nil,
              let stringSection = elf_getscn(elf, Int(symbolHeader.sh_link)),
              let stringBytes = Self.sectionBytes(stringSection) else {
            return ELFSymbolTable(symbols: [], strings: StringTable(), source: "")
        }
        let isRela = relocationHeader.sh_type == UInt32(SHT_RELA)
        let entrySize = relocationHeader.sh_entsize > 0 ? Int(relocationHeader.sh_entsize) : (isRela ? 24 : 16)
        let count = Int(relocationData.pointee.d_size) / entrySize
        var address = plt.sh_addr &+ plt.sh_entsize
        var symbols: [ELFSymbol] = []
        var strings: [UInt8] = []
        for index in 0..<count {
            var info: UInt64 = 0
            if isRela {
                var relocation = GElf_Rela()
                guard gelf_getrela(relocationData, Int32(index), &relocation) != nil else { break }
                info = relocation.r_info
            } else {
                var relocation = GElf_Rel()
                guard gelf_getrel(relocationData, Int32(index), &relocation) != nil else { break }
                info = relocation.r_info
            }
            var symbol = GElf_Sym()
            var name: [UInt8] = []
            if gelf_getsym(symbolData, Int32(truncatingIfNeeded: info >> 32), &symbol) != nil, Int(symbol.st_name) < stringBytes.count {
                var cursor = Int(symbol.st_name)
                while cursor < stringBytes.count && stringBytes[cursor] != 0 {
                    name.append(stringBytes[cursor])
                    cursor += 1
                }
            }
            symbols.append(ELFSymbol(start: address, size: plt.sh_entsize, nameOffset: UInt32(strings.count), binding: 1))
            strings.append(contentsOf: name)
            strings.append(contentsOf: Array("@plt".utf8))
            strings.append(0)
            address &+= plt.sh_entsize
        }
        return ELFSymbolTable(symbols: symbols, strings: StringTable(ByteView(strings)), source: ".plt")
    }

    /// The string table as one that outlives this image: read from the file's own range
    /// when the file is on disk (nothing of it stays resident), else a copy.
    private func stringTable(_ section: OpaquePointer, bytes: UnsafeRawBufferPointer) -> StringTable {
        guard let range = fileBytes(of: section) else { return StringTable(ByteView(Array(bytes))) }
        return StringTable(file: range)
    }

    /// A section's bytes in the file, read on demand through a descriptor of their own;
    /// nil for in-memory images and sections not stored in the file.
    private func fileBytes(of section: OpaquePointer) -> FileRange? {
        var header = GElf_Shdr()
        guard let file, gelf_getshdr(section, &header) != nil, header.sh_type != UInt32(SHT_NOBITS),
              header.sh_offset <= UInt64(Int.max / 2), header.sh_size <= UInt64(Int.max / 2) else { return nil }
        return file.slice(Int(header.sh_offset), Int(header.sh_size))
    }

    /// A section's bytes in the file's mapping, when the image is a file's and the section is
    /// stored in it: views that outlive libelf's handle, whose pages can be dropped.
    private func fileRange(of section: OpaquePointer) -> ByteView? {
        var header = GElf_Shdr()
        guard file != nil, gelf_getshdr(section, &header) != nil, header.sh_type != UInt32(SHT_NOBITS),
              header.sh_offset <= UInt64(Int.max), header.sh_size <= UInt64(Int.max) else { return nil }
        return bytes.slice(Int(header.sh_offset), Int(header.sh_size))
    }

    /// The kept entries of a native 64-bit little-endian symbol table, read from the file a
    /// chunk at a time straight into columns; nil when a read fails.
    private static func readNativeSymbols(_ table: FileRange, keep: (UInt8, UInt8, UInt16, UInt32) -> Bool) -> SymbolColumns? {
        let total = table.count / 24
        var kept = 0, complete = true
        var sizes: [UInt32] = [], nameOffsets: [UInt32] = [], bindings: [UInt8] = []
        let starts = [UInt64](unsafeUninitializedCapacity: total) { startsOut, startsCount in
            sizes = [UInt32](unsafeUninitializedCapacity: total) { sizesOut, sizesCount in
                nameOffsets = [UInt32](unsafeUninitializedCapacity: total) { namesOut, namesCount in
                    bindings = [UInt8](unsafeUninitializedCapacity: total) { bindingsOut, bindingsCount in
                        complete = table.forEachChunk(24 << 13) { _, bytes in
                            for at in stride(from: 0, to: bytes.count - 23, by: 24) where kept < total {
                                let info = bytes[at + 4], other = bytes[at + 5]
                                let nameOffset = bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                                let sectionIndex = bytes.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self)
                                guard keep(info & 0xf, other & 0x3, sectionIndex, nameOffset) else { continue }
                                let size = bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self)
                                startsOut[kept] = bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)
                                sizesOut[kept] = UInt32(truncatingIfNeeded: min(size, UInt64(UInt32.max)))
                                namesOut[kept] = nameOffset
                                bindingsOut[kept] = info >> 4
                                kept += 1
                            }
                        }
                        bindingsCount = kept
                    }
                    namesCount = kept
                }
                sizesCount = kept
            }
            startsCount = kept
        }
        guard complete else { return nil }
        return SymbolColumns(starts: starts, sizes: sizes, nameOffsets: nameOffsets, bindings: bindings)
    }

    private func readSymbols(_ section: OpaquePointer) -> (symbols: SymbolColumns, strings: StringTable) {
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil,
              let stringSection = elf_getscn(elf, Int(header.sh_link)),
              let stringBytes = Self.sectionBytes(stringSection) else { return (SymbolColumns(), StringTable()) }
        let entrySize = header.sh_entsize == 0 ? 24 : Int(header.sh_entsize)
        // perf also keeps labels (untyped symbols) that lie in text sections, such as _start.
        let textSections = Set(sections.filter { $0.name.contains("text") }.map { UInt16(truncatingIfNeeded: elf_ndxscn($0.handle)) })
        func keep(type: UInt8, visibility: UInt8, section: UInt16, name: UInt32) -> Bool {
            let isLabel = type == UInt8(STT_NOTYPE) && section != UInt16(SHN_ABS)
                && visibility != UInt8(STV_HIDDEN) && visibility != UInt8(STV_INTERNAL) && textSections.contains(section)
            guard type == UInt8(STT_FUNC) || type == UInt8(STT_GNU_IFUNC) || type == UInt8(STT_OBJECT) || isLabel else { return false }
            return name != 0 && section != UInt16(SHN_UNDEF) && Int(name) < stringBytes.count
        }
        let isNative64 = elf_getident(elf, nil).map { $0[Int(EI_CLASS)] == ELFCLASS64 && $0[Int(EI_DATA)] == ELFDATA2LSB } ?? false
        // Native 64-bit little-endian tables are read from the file a chunk at a time: no
        // converted copy, and none of the file stays resident.
        if isNative64, entrySize == 24, let table = fileBytes(of: section),
           let read = Self.readNativeSymbols(table, keep: keep) {
            return (read, stringTable(stringSection, bytes: stringBytes))
        }
        // Reserved only here: the columns of the native path above are its own.
        var symbols = SymbolColumns()
        symbols.reserveCapacity(Int(header.sh_size) / entrySize)
        func add(_ bytes: UnsafeRawBufferPointer) {
            for index in 0..<(bytes.count / 24) {
                let at = index * 24
                let info = bytes[at + 4], other = bytes[at + 5]
                let nameOffset = bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                let sectionIndex = bytes.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self)
                guard keep(type: info & 0xf, visibility: other & 0x3, section: sectionIndex, name: nameOffset) else { continue }
                symbols.append(ELFSymbol(start: bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self),
                                         size: bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self),
                                         nameOffset: nameOffset, binding: info >> 4))
            }
        }
        if isNative64, entrySize == 24, let table = fileRange(of: section) {
            table.withUnsafeBytes { add($0) }
            table.releaseResidentPages(0, table.count)
        } else if let data = elf_getdata(section, nil) {
            var symbol = GElf_Sym()
            for index in 0..<(Int(data.pointee.d_size) / entrySize) {
                guard gelf_getsym(data, Int32(index), &symbol) != nil else { continue }
                guard keep(type: symbol.st_info & 0xf, visibility: symbol.st_other & 0x3, section: symbol.st_shndx, name: symbol.st_name) else { continue }
                symbols.append(ELFSymbol(start: symbol.st_value, size: symbol.st_size,
                                         nameOffset: symbol.st_name, binding: symbol.st_info >> 4))
            }
        }
        return (symbols, stringTable(stringSection, bytes: stringBytes))
    }
}
