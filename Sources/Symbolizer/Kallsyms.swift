import FlamedSystem
import ObjectFile

/// Kernel symbols parsed from a `/proc/kallsyms`-format file.
public struct KernelSymbols: Sendable {
    public private(set) var table: SymbolTable
    /// The address of `_text`, used to relocate when the file is from another boot.
    public let textAddress: UInt64?
    /// The file lists symbols but every address is 0: kernel.kptr_restrict (or a reader
    /// without CAP_SYSLOG) hides them. The table is then empty.
    public let addressesHidden: Bool

    /// Address ranges this table is known to describe fully, when it came from a cache: the
    /// kernel image and the modules loaded now. An address outside them may be code the
    /// cache cannot know (a BPF program, an ftrace trampoline): read kallsyms afresh. Nil for
    /// a table read from kallsyms itself, which is complete.
    public private(set) var coverage: [Range<UInt64>]?

    /// Parses kallsyms text. Only text, weak, data and bss symbols are kept (perf's filter).
    /// Their names (with any `\t[module]` suffix, which perf compares) are copied into a
    /// compact string table, so the addresses and types of /proc/kallsyms's several MiB of
    /// text are not kept.
    public init(parsing view: ByteView) {
        self.init(Parsed(view))
    }

    init(_ parsed: Parsed) {
        addressesHidden = !parsed.entries.isEmpty && !parsed.anyAddress
        table = addressesHidden ? SymbolTable()
            : SymbolTable(symbols: parsed.entries, strings: StringTable(ByteView(storage: ByteStorage(copying: parsed.names))), moduleFlags: parsed.modules)
        textAddress = addressesHidden ? nil : parsed.text
        coreText = addressesHidden ? nil : parsed.coreText
        moduleText = addressesHidden ? [] : parsed.moduleText.values.map { $0.low...$0.high }.sorted { $0.lowerBound < $1.lowerBound }
        coverage = nil
    }

    /// A table read back from a cache, complete only within `coverage` (nil: everywhere).
    init(table: SymbolTable, textAddress: UInt64?, coreText: (low: UInt64, high: UInt64)?, moduleText: [ClosedRange<UInt64>],
         coverage: [Range<UInt64>]?) {
        self.table = table
        self.textAddress = textAddress
        self.coreText = coreText
        self.moduleText = moduleText
        self.coverage = coverage
        addressesHidden = false
    }

    /// The lowest and highest kernel-image (not module) text symbol addresses.
    let coreText: (low: UInt64, high: UInt64)?
    /// For each module, from its first text symbol to its last one's start.
    let moduleText: [ClosedRange<UInt64>]

    /// Whether `address` lies where this table is complete (see `coverage`).
    @inline(__always)
    public func covers(_ address: UInt64) -> Bool {
        guard let coverage else { return true }
        return coverage.contains { $0.contains(address) }
    }

    /// The kept lines of a kallsyms file: symbols in file order, their names (each ended by a
    /// newline), whether each is a module's, and `_text`'s address.
    struct Parsed {
        var entries: [ELFSymbol] = []
        var names: [UInt8] = []
        var modules: [Bool] = []
        var text: UInt64?
        var anyAddress = false
        /// The lowest and highest kernel-image (not module) text symbol addresses.
        var coreText: (low: UInt64, high: UInt64)?
        /// The same for each module, by its `[name]`.
        var moduleText: [[UInt8]: (low: UInt64, high: UInt64)] = [:]

        init() {}

        init(_ view: ByteView) {
            view.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
                let count = bytes.count
                entries.reserveCapacity(count / 40)
                names.reserveCapacity(count / 2)
                modules.reserveCapacity(count / 40)
                var index = 0
                while index < count {
                    var cursor = index
                    var address: UInt64 = 0
                    var digits = 0
                    while cursor < count, let digit = KernelSymbols.hexValue(base[cursor]) {
                        address = address &<< 4 | UInt64(digit)
                        cursor += 1
                        digits += 1
                    }
                    // "<hex> <type> <name>[\t[module]]\n"
                    var lineEnd = cursor
                    while lineEnd < count && base[lineEnd] != 10 { lineEnd += 1 }
                    defer { index = lineEnd + 1 }
                    guard digits > 0, cursor + 3 < lineEnd, base[cursor] == 32, base[cursor + 2] == 32 else { continue }
                    let rawType = base[cursor + 1]
                    let type = rawType | 0x20
                    guard type == UInt8(ascii: "t") || type == UInt8(ascii: "w") || type == UInt8(ascii: "d") || type == UInt8(ascii: "b") else { continue }
                    let nameStart = cursor + 3
                    var nameEnd = nameStart
                    while nameEnd < lineEnd && base[nameEnd] != 9 { nameEnd += 1 }
                    let binding: UInt8 = type == UInt8(ascii: "w") ? 2 : (rawType < 0x60 ? 1 : 0)
                    if text == nil, nameEnd - nameStart == 5, base[nameStart] == 95, base[nameStart + 1] == 116,
                       base[nameStart + 2] == 101, base[nameStart + 3] == 120, base[nameStart + 4] == 116 {
                        text = address
                    }
                    if address != 0 { anyAddress = true }
                    if type == UInt8(ascii: "t"), address != 0 {
                        if nameEnd == lineEnd {
                            coreText = (min(coreText?.low ?? address, address), max(coreText?.high ?? address, address))
                        } else if !KernelSymbols.isRuntimeCode(UnsafeBufferPointer(start: base + nameEnd + 1, count: lineEnd - nameEnd - 1)) {
                            let module = Array(UnsafeBufferPointer(start: base + nameEnd + 1, count: lineEnd - nameEnd - 1))
                            let known = moduleText[module]
                            moduleText[module] = (min(known?.low ?? address, address), max(known?.high ?? address, address))
                        }
                    }
                    entries.append(ELFSymbol(start: address, size: 0, nameOffset: UInt32(truncatingIfNeeded: names.count), binding: binding))
                    names.append(contentsOf: UnsafeBufferPointer(start: base + nameStart, count: lineEnd - nameStart))
                    names.append(10)
                    modules.append(nameEnd < lineEnd)
                }
            }
        }
    }

    /// Whether a kallsyms `[module]` suffix names code the kernel makes at run time (BPF
    /// programs, ftrace and kprobe trampolines) rather than a module.
    static func isRuntimeCode(_ suffix: UnsafeBufferPointer<UInt8>) -> Bool {
        suffix.starts(with: Array("[bpf]".utf8)) || suffix.starts(with: Array("[__builtin__".utf8))
    }

    /// The one warning for a kallsyms file whose addresses are all 0. For /proc/kallsyms it
    /// says why (kernel.kptr_restrict, CAP_SYSLOG) and what would show them.
    public static func hiddenAddressesWarning(path: String) -> String {
        guard path == "/proc/kallsyms" else {
            return "\(path) has only zero addresses (written under kernel.kptr_restrict without CAP_SYSLOG): kernel frames are [unknown]"
        }
        let restrict = ProcFS.integer("kernel/kptr_restrict")
        let paranoid = ProcFS.integer("kernel/perf_event_paranoid")
        let why: String
        switch restrict {
        case 2?:
            why = "kernel.kptr_restrict is 2, which hides them from everyone (set it to 0, or to 1 and give flamed CAP_SYSLOG)"
        case 0?:
            why = "kernel.kptr_restrict is 0 but kernel.perf_event_paranoid is \(paranoid.map(String.init) ?? "?") and flamed lacks CAP_SYSLOG (give it CAP_SYSLOG, or set perf_event_paranoid <= 1)"
        default:
            why = "kernel.kptr_restrict is \(restrict.map(String.init) ?? "set") and flamed lacks CAP_SYSLOG (give it CAP_SYSLOG, or set kernel.kptr_restrict=0)"
        }
        return "/proc/kallsyms shows no kernel addresses: \(why); kernel frames are [unknown]"
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
