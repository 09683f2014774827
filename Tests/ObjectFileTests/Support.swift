import FlamedSystem
import ObjectFile

/// Maps the ELF file at `path` as flamed does (copy-on-write, through FlamedSystem) and
/// parses it: ObjectFile itself reads no files.
func parseELF(at path: String) throws -> ELFImage {
    let mapped = try FileReader.mapCopyOnWrite(path: path).get()
    return try ELFImage.parse(mapped.bytes, file: mapped.file, path: path).get()
}

/// The bytes that 40 hex digits spell.
func bytes(ofHex hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count - 1, by: 2).compactMap { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) }
}
