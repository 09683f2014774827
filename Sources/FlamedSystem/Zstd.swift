import CZstd

/// A zstd failure, with zstd's own message.
public struct ZstdError: Error, Sendable {
    public let message: String
}

/// A streaming zstd decompressor for perf's COMPRESSED records. One context is reused
/// for the whole file, as `perf record -z` writes one frame per record.
public final class ZstdDecompressor {
    private let stream: OpaquePointer
    /// Whether the last input ended in the middle of a zstd frame. perf keeps one frame
    /// open for the whole recording (it flushes, never ends it), so this alone is normal.
    public private(set) var isInsideFrame = false
    /// Bytes the last `decompress` call produced.
    public private(set) var lastOutputCount = 0

    public init() {
        stream = ZSTD_createDStream()
        ZSTD_initDStream(stream)
    }

    deinit { ZSTD_freeDStream(stream) }

    /// Decompresses `input` and appends the output to `output`. Fails with zstd's own
    /// message when the data is corrupt. `limit` bounds the total output size.
    public func decompress(_ input: ByteView, appendingTo output: inout [UInt8], limit: Int) -> Result<Void, ZstdError> {
        let before = output.count
        defer { lastOutputCount = output.count - before }
        return input.withUnsafeBytes { source -> Result<Void, ZstdError> in
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            var chunk = [UInt8](repeating: 0, count: 1 << 17)
            // Loop until the input is used up and zstd had room to spare: a full output
            // chunk means it may still hold decompressed bytes, even with no input left.
            while true {
                let (status, produced) = chunk.withUnsafeMutableBytes { target -> (Int, Int) in
                    var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    let status = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    return (status, outBuffer.pos)
                }
                if ZSTD_isError(status) != 0 {
                    ZSTD_initDStream(stream)
                    return .failure(ZstdError(message: String(cString: ZSTD_getErrorName(status))))
                }
                output.append(contentsOf: chunk[0..<produced])
                isInsideFrame = status != 0
                if output.count > limit { return .failure(ZstdError(message: "decompressed data exceeds \(limit) bytes")) }
                if inBuffer.pos == inBuffer.size && produced < chunk.count { break }
            }
            return .success(())
        }
    }
}
