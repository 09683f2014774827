import FlamedSystem
import Foundation
import ObjectFile
import Testing

/// Writes `bytes` to a temporary file and returns a string table of the range after `skip`
/// bytes of padding (as a section lies inside an ELF file), read with pread, the same bytes
/// as a table in memory, and the file's path.
public func stringTables(_ bytes: [UInt8], skip: Int = 100) throws -> (file: StringTable, memory: StringTable, path: String) {
    let path = NSTemporaryDirectory() + "flamed-strtab-\(UUID().uuidString)"
    try Data([UInt8](repeating: 0xAA, count: skip) + bytes + [UInt8](repeating: 0xBB, count: 50)).write(to: URL(fileURLWithPath: path))
    let fd = open(path, O_RDONLY)
    #expect(fd >= 0)
    defer { close(fd) }
    let range = try #require(FileRange(duplicating: fd, offset: skip, count: bytes.count))
    return (StringTable(file: range), StringTable(ByteView(bytes)), path)
}
