import CLZMA
import FlamedSystem

/// An xz (liblzma) failure.
public struct XZError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Decoding of `.xz` streams, such as the MiniDebugInfo in a binary's `.gnu_debugdata`
/// section (an xz-compressed ELF file holding a `.symtab`).
public enum XZDecompressor {
    /// Decoder memory allowed to liblzma: the largest preset (-9e) needs 65 MiB.
    public static let memoryLimit: UInt64 = 128 << 20

    /// Decodes a whole `.xz` stream (concatenated streams included). Fails, without
    /// producing more than `limit` bytes, when the output would exceed `limit`, when the
    /// data is not xz, is corrupt or truncated, or needs more than `memoryLimit` to decode.
    public static func decompress(_ input: ByteView, limit: Int) -> Result<[UInt8], XZError> {
        guard limit >= 0 else { return .failure(XZError("negative output limit")) }
        guard input.count > 0 else { return .failure(XZError("no input")) }
        var stream = lzma_stream()
        // 0x08 is LZMA_CONCATENATED, a macro Swift does not import.
        let initialized = lzma_stream_decoder(&stream, memoryLimit, 0x08)
        guard initialized == LZMA_OK else { return .failure(XZError("cannot start the xz decoder: \(describe(initialized))")) }
        defer { lzma_end(&stream) }
        var output: [UInt8] = []
        return input.withUnsafeBytes { source -> Result<[UInt8], XZError> in
            stream.next_in = source.baseAddress?.assumingMemoryBound(to: UInt8.self)
            stream.avail_in = source.count
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBytes { target -> (lzma_ret, Int) in
                    stream.next_out = target.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    stream.avail_out = target.count
                    let status = lzma_code(&stream, LZMA_FINISH)
                    return (status, target.count - stream.avail_out)
                }
                if produced > limit - output.count {
                    return .failure(XZError("decompressed data exceeds \(limit) bytes"))
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case LZMA_STREAM_END:
                    return .success(output)
                case LZMA_OK:
                    // With all input given and LZMA_FINISH, no progress means truncated data.
                    if produced == 0 && stream.avail_in == 0 { return .failure(XZError("truncated xz data")) }
                case LZMA_BUF_ERROR:
                    return .failure(XZError("truncated xz data"))
                default:
                    return .failure(XZError(describe(status)))
                }
            }
        }
    }

    /// Decodes `bytes` (see `decompress(_:limit:)`).
    public static func decompress(_ bytes: [UInt8], limit: Int) -> Result<[UInt8], XZError> {
        decompress(ByteView(bytes), limit: limit)
    }

    private static func describe(_ status: lzma_ret) -> String {
        switch status {
        case LZMA_MEM_ERROR: return "out of memory"
        case LZMA_MEMLIMIT_ERROR: return "needs more than \(memoryLimit >> 20) MiB of decoder memory"
        case LZMA_FORMAT_ERROR: return "not xz data"
        case LZMA_OPTIONS_ERROR: return "unsupported xz options"
        case LZMA_DATA_ERROR: return "corrupt xz data"
        case LZMA_BUF_ERROR: return "truncated xz data"
        case LZMA_UNSUPPORTED_CHECK: return "unsupported xz integrity check"
        case LZMA_PROG_ERROR: return "liblzma programming error"
        default: return "liblzma error \(status.rawValue)"
        }
    }
}
