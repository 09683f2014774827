/// Parsers for the text the kernel writes in /proc and /sys: they take the bytes FlamedSystem
/// read and do no I/O.
public enum ProcText {
    /// Parses `/proc/PID/maps` text, keeping executable mappings:
    /// `start-end perms offset major:minor inode   path`. Lines are looked at byte by byte,
    /// and only executable ones are taken apart (a process has hundreds of others).
    public static func parseMaps(_ text: UnsafeRawBufferPointer) -> [ProcMapping] {
        var mappings: [ProcMapping] = []
        let count = text.count
        var lineStart = 0
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && text[lineEnd] != 10 { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var cursor = lineStart
            func hex() -> UInt64? {
                var value: UInt64 = 0, digits = 0
                while cursor < lineEnd, let digit = hexDigit(text[cursor]) {
                    value = value &<< 4 | UInt64(digit)
                    cursor += 1
                    digits += 1
                }
                return digits > 0 && digits <= 16 ? value : nil
            }
            func skip(_ byte: UInt8) -> Bool {
                guard cursor < lineEnd, text[cursor] == byte else { return false }
                cursor += 1
                return true
            }
            func skipSpaces() { while cursor < lineEnd && text[cursor] == 32 { cursor += 1 } }
            guard let start = hex(), skip(45), let end = hex(), skip(32), cursor + 4 <= lineEnd,
                  text[cursor + 2] == UInt8(ascii: "x") else { continue }
            cursor += 4
            skipSpaces()
            guard let offset = hex() else { continue }
            skipSpaces()
            guard let major = hex(), skip(58), let minor = hex() else { continue }
            skipSpaces()
            var inode: UInt64 = 0
            while cursor < lineEnd, text[cursor] >= 48, text[cursor] <= 57 {
                inode = inode &* 10 &+ UInt64(text[cursor] - 48)
                cursor += 1
            }
            skipSpaces()
            var pathEnd = lineEnd
            while pathEnd > cursor && text[pathEnd - 1] == 32 { pathEnd -= 1 }
            let path = pathEnd > cursor ? String(decoding: UnsafeRawBufferPointer(rebasing: text[cursor..<pathEnd]), as: UTF8.self) : "//anon"
            let identity = inode != 0 && major <= UInt32.max && minor <= UInt32.max
                ? MappingIdentity(major: UInt32(major), minor: UInt32(minor), inode: inode) : nil
            mappings.append(ProcMapping(start: start, end: end, pageOffset: offset, path: path, identity: identity))
        }
        return mappings
    }

    /// Parses `/proc/PID/maps` text (see `parseMaps(_:)` for bytes).
    public static func parseMaps(_ text: String) -> [ProcMapping] {
        var text = text
        return text.withUTF8 { parseMaps(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 97...102: return byte - 87
        case 65...70: return byte - 55
        default: return nil
        }
    }

    /// Parses a kernel CPU list such as "0-3,6".
    public static func parseCPUList(_ text: String) -> [Int32] {
        var cpus: [Int32] = []
        for part in text.trimmingCharacters(in: " \n").split(separator: ",") {
            let bounds = part.split(separator: "-")
            if bounds.count == 2, let low = Int32(bounds[0]), let high = Int32(bounds[1]), low <= high {
                cpus.append(contentsOf: low...high)
            } else if let single = Int32(part) {
                cpus.append(single)
            }
        }
        return cpus
    }

    /// The integer a sysctl file or other one-number file holds ("516\n").
    public static func integer(_ text: String) -> Int? {
        Int(text.trimmingCharacters(in: " \n"))
    }

    /// The pid inside its own pid namespace from `/proc/PID/status` text: the last NSpid field.
    public static func namespacePID(status text: String) -> Int32? {
        for line in text.split(separator: "\n") where line.hasPrefix("NSpid:") {
            return line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int32($0) }
        }
        return nil
    }

    /// The seccomp mode from `/proc/PID/status` text (0 none, 1 strict, 2 filter), or nil.
    public static func seccompMode(status text: String) -> Int? {
        text.split(separator: "\n")
            .first { $0.hasPrefix("Seccomp:") }
            .flatMap { Int(String($0.dropFirst("Seccomp:".count).filter { !$0.isWhitespace })) }
    }

    /// A kernel setting such as kernel.perf_event_paranoid: the file's text without whitespace, as an integer.
    public static func setting(_ text: String) -> Int? {
        Int(String(text.filter { !$0.isWhitespace }))
    }

    /// Field `index` (0: total size) of `/proc/PID/statm` text, in pages.
    public static func statmPages(_ bytes: UnsafeRawBufferPointer, field index: Int) -> Int? {
        let fields = bytes.split(separator: 32)
        guard index >= 0, fields.count > index else { return nil }
        return Int(String(decoding: fields[index], as: UTF8.self))
    }
}

extension StringProtocol {
    /// The text without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

