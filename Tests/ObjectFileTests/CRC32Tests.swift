import FlamedSystem
import FlamedTestSupport
import Foundation
import ObjectFile
import Testing

@Suite("CRC-32 of .gnu_debuglink")
struct CRC32Tests {
    /// The bitwise definition, to check the table-driven one against.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    @Test("known vectors (zlib's crc32)")
    func vectors() {
        #expect(CRC32.checksum([]) == 0)
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(CRC32.checksum([0]) == 0xD202_EF8D)
        #expect(CRC32.checksum([UInt8](repeating: 0xFF, count: 32)) == 0xFF6C_AB0B)
    }

    @Test("every length and alignment agrees with the bitwise definition; updates chain")
    func lengths() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in 0...bytes.count {
            #expect(CRC32.checksum(Array(bytes[0..<length])) == Self.reference(Array(bytes[0..<length])), "length \(length)")
        }
        for split in [0, 1, 7, 8, 9, 150, 300] {
            let first = bytes[0..<split].withUnsafeBytes { CRC32.update(0, $0) }
            let both = bytes[split...].withUnsafeBytes { CRC32.update(first, $0) }
            #expect(both == CRC32.checksum(bytes), "split at \(split)")
        }
    }

    @Test("a file's CRC is the one objcopy --add-gnu-debuglink records", .requires(.gcc, .binutils, .xz))
    func matchesObjcopy() throws {
        let directory = Support.temporaryDirectory()
        try DebugBuilds.buildVariants(in: directory)
        let link = try #require(try parseELF(at: directory.appendingPathComponent("linked").path).debugLink)
        #expect(link.name == "prog.debug")
        let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent("prog.debug")))
        #expect(CRC32.checksum(bytes) == link.crc)
        #expect(try parseELF(at: directory.appendingPathComponent("prog").path).debugLink == nil)
    }
}
