import FlamedTestSupport
import Foundation
import ObjectFile
import Testing

@Suite("xz decoding (MiniDebugInfo)")
struct XZTests {
    static func sample(_ count: Int) -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<count).map { index in
            state = state &* 1_103_515_245 &+ 12345
            return index % 3 == 0 ? UInt8(truncatingIfNeeded: state >> 16) : UInt8(truncatingIfNeeded: index / 100)
        }
    }

    @Test("a blob made by the xz tool decodes to the original bytes; concatenated streams too", .requires(.xz))
    func roundTrip() throws {
        let directory = Support.temporaryDirectory()
        let original = Self.sample(300_000)
        try Data(original).write(to: directory.appendingPathComponent("blob"))
        try Data(Array("second stream".utf8)).write(to: directory.appendingPathComponent("tail"))
        try Support.checkedShell("xz -k -T1 blob && xz -k tail && cat blob.xz tail.xz > both.xz", in: directory)
        let compressed = try [UInt8](Data(contentsOf: directory.appendingPathComponent("blob.xz")))
        #expect(compressed.count < original.count)
        #expect(try XZDecompressor.decompress(compressed, limit: 1 << 20).get() == original)
        #expect(try XZDecompressor.decompress(compressed, limit: original.count).get() == original, "a limit equal to the size is enough")
        let both = try [UInt8](Data(contentsOf: directory.appendingPathComponent("both.xz")))
        #expect(try XZDecompressor.decompress(both, limit: 1 << 20).get() == original + Array("second stream".utf8))
    }

    @Test("too large, truncated, corrupt and non-xz input fail with a message", .requires(.xz))
    func failures() throws {
        let directory = Support.temporaryDirectory()
        let original = Self.sample(100_000)
        try Data(original).write(to: directory.appendingPathComponent("blob"))
        try Support.checkedShell("xz -k blob", in: directory)
        let compressed = try [UInt8](Data(contentsOf: directory.appendingPathComponent("blob.xz")))
        func failure(_ input: [UInt8], limit: Int = 1 << 20) -> String? {
            if case .failure(let error) = XZDecompressor.decompress(input, limit: limit) { return error.message }
            return nil
        }
        #expect(failure(compressed, limit: original.count - 1)?.contains("exceeds") == true)
        #expect(failure(Array(compressed.dropLast(12))) != nil, "truncated")
        var corrupt = compressed
        corrupt[corrupt.count / 2] ^= 0x55
        #expect(failure(corrupt) != nil, "corrupt")
        #expect(failure(Array("not xz at all, just text".utf8)) == "not xz data")
        #expect(failure([]) != nil)
    }
}
