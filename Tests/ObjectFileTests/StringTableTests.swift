import FlamedSystem
import FlamedTestSupport
import Foundation
import ObjectFile
import Testing

/// String tables read from their file with pread give what the same bytes in memory give.
@Suite("String tables read from the file")
struct StringTableTests {
    @Test("names of every length, terminators, the end of the range and offsets outside it")
    func names() throws {
        let long = String(repeating: "x", count: 300), longer = String(repeating: "y", count: 5000)
        var bytes: [UInt8] = [0]
        var offsets: [Int] = []
        for name in ["main", long, "tab\tsuffix", longer, "_under", "line\nnext"] {
            offsets.append(bytes.count)
            bytes += Array(name.utf8) + [0]
        }
        offsets.append(bytes.count)
        bytes += Array("unterminated".utf8)
        let (file, memory, path) = try stringTables(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stopAtTab: (UInt8) -> Bool = { $0 == 9 || $0 == 10 }
        let expected = ["main", long, "tab", longer, "_under", "line", "unterminated"]
        for (offset, name) in zip(offsets, expected) {
            #expect(file.string(at: offset, endingAt: stopAtTab) == name)
            #expect(memory.string(at: offset, endingAt: stopAtTab) == name)
        }
        #expect(file.string(at: offsets[2], endingAt: { _ in false }) == "tab\tsuffix")
        #expect(file.withName(at: offsets[4], endingAt: { $0 != UInt8(ascii: "_") }) { $0.count } == 1)
        for outside in [-1, bytes.count, bytes.count + 10] {
            #expect(file.string(at: outside, endingAt: stopAtTab) == nil)
            #expect(memory.string(at: outside, endingAt: stopAtTab) == nil)
        }
        #expect(file.count == bytes.count)
        #expect(file.allBytes() == bytes)
        #expect(file.memory == nil && memory.memory != nil)
    }
}
