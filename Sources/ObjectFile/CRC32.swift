import FlamedSystem

/// The CRC-32 of zlib and IEEE 802.3 (reflected polynomial 0xEDB88320, initial value and
/// final XOR 0xFFFFFFFF), which `.gnu_debuglink` records for the separate debug file
/// (gdb's `gnu_debuglink_crc32`). Table-driven, eight bytes a step ("slicing by 8").
public enum CRC32 {
    /// `table[k * 256 + b]`: the CRC contribution of byte `b` followed by `k` zero bytes.
    private static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            table[byte] = crc
        }
        for k in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(k - 1) * 256 + byte]
                table[k * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()

    /// Continues `crc` (the value returned for the bytes so far; 0 to start) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        let count = bytes.count
        return table.withUnsafeBufferPointer { table -> UInt32 in
            var value = ~crc
            var index = 0
            @inline(__always) func t(_ k: Int, _ byte: UInt32) -> UInt32 { table[k &* 256 &+ Int(byte & 0xFF)] }
            while index + 8 <= count {
                let low = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ value
                let high = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
                value = t(7, low) ^ t(6, low >> 8) ^ t(5, low >> 16) ^ t(4, low >> 24)
                    ^ t(3, high) ^ t(2, high >> 8) ^ t(1, high >> 16) ^ t(0, high >> 24)
                index += 8
            }
            while index < count {
                value = (value >> 8) ^ t(0, value ^ UInt32(base.load(fromByteOffset: index, as: UInt8.self)))
                index += 1
            }
            return ~value
        }
    }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// The CRC-32 of the bytes of `view`.
    public static func checksum(_ view: ByteView) -> UInt32 {
        view.withUnsafeBytes { update(0, $0) }
    }
}
