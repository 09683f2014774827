/// A problem with a perf.data file, with the byte offset where it was found.
public struct PerfDataError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Kind: String, Sendable {
        case notPerfData = "not a perf.data file"
        case byteSwapped = "byte-swapped perf.data"
        case truncatedHeader = "truncated header"
        case truncatedRecord = "truncated record"
        case badRecordSize = "bad record size"
        case badAttribute = "bad event attribute"
        case badSample = "bad sample"
        case badRecord = "bad record"
        case compression = "compressed data"
        case tooLarge = "too large"
    }

    public let kind: Kind
    /// Byte offset in the input (for records inside COMPRESSED data, the offset of the
    /// COMPRESSED record that held them).
    public let offset: Int?
    public let message: String

    public init(_ kind: Kind, offset: Int?, _ message: String) {
        self.kind = kind
        self.offset = offset
        self.message = message
    }

    public var description: String {
        if let offset {
            return "\(kind.rawValue) at offset 0x\(String(offset, radix: 16)): \(message)"
        }
        return "\(kind.rawValue): \(message)"
    }
}
