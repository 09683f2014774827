import FlamedSystem

/// A JIT's perf map (`/tmp/perf-PID.map`): one `START SIZE name` line per piece of generated
/// code, START and SIZE in hex (with or without `0x`), the name running to the end of the line.
///
/// It is read when an address in anonymous executable memory (or in no mapping) needs a name,
/// and read again, from where it stopped, when it has grown (at most every `checkInterval`).
/// What was read is kept when the file is deleted (a JIT that removes it at exit) or its
/// process is gone. Names become frame ids through the symbolizer's `intern`.
final class PerfMap {
    /// The file, or nil when there is none to read (the process is gone and was never seen).
    let path: String?
    private var file: FileStamp?
    /// Bytes parsed so far (whole lines).
    private var consumed = 0
    private var starts: [UInt64] = []
    private var ends: [UInt64] = []
    private var frames: [Int32] = []
    private var lastCheck: UInt64 = 0
    private var checked = false

    /// Most entries kept for one map; lines past it are ignored.
    static let maximumEntries = 1 << 20
    /// The file is looked at again at most this often (CLOCK_MONOTONIC ns); less often while
    /// there is none (most processes with unnamed code are no JIT).
    static let checkInterval: UInt64 = 50_000_000
    static let absentCheckInterval: UInt64 = 500_000_000

    init(path: String?) {
        self.path = path
    }

    /// Entries held.
    var count: Int { starts.count }

    /// Whether the file was looked at (found or not).
    var wasRead: Bool { checked }

    /// Reads what is new in the file if it changed since it was last read (and the last
    /// look was at least `checkInterval` ago); returns whether entries changed. Without
    /// `files.rereadsPerfMaps`, only the first call reads.
    func refresh(now: UInt64, files: SymbolFileProvider, intern: (String) -> Int32) -> Bool {
        let rereading = files.rereadsPerfMaps
        guard let path else { return false }
        if checked && !rereading { return false }
        if checked && now &- lastCheck < (file == nil ? Self.absentCheckInterval : Self.checkInterval) { return false }
        checked = true
        lastCheck = now
        // Gone (deleted at exit, or its process's root with it): keep what was read.
        guard let current = files.stamp(path) else { return false }
        if let file, file == current { return false }
        var from = consumed
        var changed = false
        if let file, file.device == current.device, file.inode == current.inode, Int(current.size) >= consumed {
            // Grown in place: read on from the last whole line.
        } else if file != nil {
            // Replaced or rewritten: start over.
            from = 0
            consumed = 0
            changed = !starts.isEmpty
            starts.removeAll()
            ends.removeAll()
            frames.removeAll()
        }
        file = current
        guard Int(current.size) > from, let bytes = files.contents(path) else { return changed }
        var added: [(start: UInt64, end: UInt64, frame: Int32)] = []
        bytes.withUnsafeBytes { raw in
            let count = raw.count
            var index = min(from, count)
            while index < count {
                var lineEnd = index
                while lineEnd < count && raw[lineEnd] != 10 { lineEnd += 1 }
                guard lineEnd < count else { break }  // an unfinished line: read it next time
                defer { index = lineEnd + 1 }
                consumed = lineEnd + 1
                guard starts.count + added.count < Self.maximumEntries else { continue }
                if let entry = Self.parse(raw, index, lineEnd) {
                    added.append((entry.start, entry.end, intern(entry.name)))
                }
            }
        }
        guard !added.isEmpty else { return changed }
        merge(added)
        return true
    }

    /// One line: `START SIZE name`.
    private static func parse(_ raw: UnsafeRawBufferPointer, _ begin: Int, _ end: Int) -> (start: UInt64, end: UInt64, name: String)? {
        var cursor = begin
        func skipSpaces() { while cursor < end && (raw[cursor] == 32 || raw[cursor] == 9) { cursor += 1 } }
        func hex() -> UInt64? {
            if cursor + 1 < end && raw[cursor] == 48 && (raw[cursor + 1] | 0x20) == 120 { cursor += 2 }
            var value: UInt64 = 0, digits = 0
            while cursor < end, let digit = KernelSymbols.hexValue(raw[cursor]) {
                value = value &<< 4 | UInt64(digit)
                cursor += 1
                digits += 1
            }
            return digits > 0 && digits <= 16 ? value : nil
        }
        skipSpaces()
        guard let start = hex(), cursor < end, raw[cursor] == 32 || raw[cursor] == 9 else { return nil }
        skipSpaces()
        guard let size = hex(), size > 0, cursor < end, raw[cursor] == 32 || raw[cursor] == 9 else { return nil }
        cursor += 1
        var nameEnd = end
        if nameEnd > cursor && raw[nameEnd - 1] == 13 { nameEnd -= 1 }
        guard nameEnd > cursor else { return nil }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[cursor..<nameEnd]), as: UTF8.self)
        return (start, start &+ size, name)
    }

    /// Adds entries read later than the ones held: where two start at the same address, the
    /// later line wins (the JIT reused the memory). The held entries stay sorted; new ones
    /// are sorted and merged in, so a growing map costs little per read.
    private func merge(_ added: [(start: UInt64, end: UInt64, frame: Int32)]) {
        var fresh = added.enumerated().sorted { $0.element.start != $1.element.start ? $0.element.start < $1.element.start : $0.offset < $1.offset }
            .map(\.element)
        // Within the new lines, the last one for an address wins.
        var unique: [(start: UInt64, end: UInt64, frame: Int32)] = []
        unique.reserveCapacity(fresh.count)
        for entry in fresh {
            if let last = unique.last, last.start == entry.start { unique[unique.count - 1] = entry } else { unique.append(entry) }
        }
        fresh = unique
        var mergedStarts: [UInt64] = [], mergedEnds: [UInt64] = [], mergedFrames: [Int32] = []
        let total = starts.count + fresh.count
        mergedStarts.reserveCapacity(total)
        mergedEnds.reserveCapacity(total)
        mergedFrames.reserveCapacity(total)
        var old = 0, new = 0
        while old < starts.count || new < fresh.count {
            if new < fresh.count && (old == starts.count || fresh[new].start <= starts[old]) {
                if old < starts.count && starts[old] == fresh[new].start { old += 1 }
                mergedStarts.append(fresh[new].start)
                mergedEnds.append(fresh[new].end)
                mergedFrames.append(fresh[new].frame)
                new += 1
            } else {
                mergedStarts.append(starts[old])
                mergedEnds.append(ends[old])
                mergedFrames.append(frames[old])
                old += 1
            }
        }
        starts = mergedStarts
        ends = mergedEnds
        frames = mergedFrames
    }

    /// The frame of the entry holding `address`: the one starting nearest below it, or one
    /// of the few before it when entries nest.
    func find(_ address: UInt64) -> Int32? {
        var low = 0, high = starts.count
        while low < high {
            let mid = (low + high) >> 1
            if starts[mid] <= address { low = mid + 1 } else { high = mid }
        }
        var index = low - 1
        while index >= 0 && index >= low - 8 {
            if address < ends[index] { return frames[index] }
            index -= 1
        }
        return nil
    }
}
