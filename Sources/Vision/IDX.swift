import Foundation
import SystemZlib

/// The IDX format of MNIST-style datasets: magic `00 00 08 n` (unsigned bytes, n dimensions),
/// n big-endian UInt32 sizes, then the data. Files may be gzip-compressed (`.gz`).
public enum IDX {
    /// An IDX array of unsigned bytes.
    public struct Array: Sendable {
        public let shape: [Int]
        public let bytes: [UInt8]
    }

    /// deflate never expands data by more than about 1032:1, so a gzip file of N bytes cannot hold
    /// more than 1032 * N bytes: a cheap bound on a declared size before any data is read.
    static let maxDeflateRatio = 1032
    /// gzip data is decompressed in chunks of this size, so memory follows the data actually present.
    static let streamChunk = 1 << 20

    /// Reads an IDX file (raw or gzip), checking the magic number, the type, the dimensions and
    /// that the data is exactly as long as the header says.
    public static func read(_ url: URL, maxBytes: Int = 1 << 31) throws -> Array {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw VisionError(file: path, "no such file") }
        guard let file = gzopen(path, "rb") else { throw VisionError(file: path, "cannot open the file") }
        defer { gzclose(file) }
        func readExactly(_ count: Int, into buffer: UnsafeMutableRawPointer, what: String,
                         after before: Int = 0, of whole: Int? = nil) throws {
            var done = 0
            while done < count {
                let chunk = UInt32(min(count - done, 1 << 30))
                let n = gzread(file, buffer + done, chunk)
                if n < 0 {
                    var code: Int32 = 0
                    let message = String(cString: gzerror(file, &code))
                    throw VisionError(file: path, "corrupt data while reading \(what): \(message)")
                }
                if n == 0 {
                    throw VisionError(file: path, "file is truncated: \(what) needs \(whole ?? count) bytes, found \(before + done)")
                }
                done += Int(n)
            }
        }
        var magic = [UInt8](repeating: 0, count: 4)
        try magic.withUnsafeMutableBytes { try readExactly(4, into: $0.baseAddress!, what: "the magic number") }
        guard magic[0] == 0, magic[1] == 0 else {
            throw VisionError(file: path, "not an IDX file (magic number \(magic.map { String(format: "%02x", $0) }.joined()))")
        }
        guard magic[2] == 0x08 else {
            throw VisionError(file: path, "IDX element type 0x\(String(format: "%02x", magic[2])) is not supported (only unsigned bytes, 0x08)")
        }
        let rank = Int(magic[3])
        guard (1...4).contains(rank) else { throw VisionError(file: path, "IDX file with \(rank) dimensions is not supported") }
        var header = [UInt8](repeating: 0, count: 4 * rank)
        try header.withUnsafeMutableBytes { try readExactly(4 * rank, into: $0.baseAddress!, what: "the dimensions") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(header[4 * d + $1]) } }
        var total = 1
        for size in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow, product <= maxBytes else {
                throw VisionError(file: path, "dimensions \(shape) describe more than \(maxBytes) bytes (the reader's limit maxBytes = \(maxBytes))")
            }
            total = product
        }
        // Check the declared size against what the file can hold before allocating anything, so a
        // tiny header declaring gigabytes is refused at once (a raw file: its size; gzip: deflate's
        // largest ratio, then a buffer that grows only with data actually decompressed).
        let headerBytes = 4 + 4 * rank
        var status = stat()
        let onDisk: Int? = stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? Int(status.st_size) : nil
        let compressed = gzdirect(file) == 0
        if let onDisk {
            if !compressed && total > onDisk - headerBytes {
                throw VisionError(file: path, "file is truncated: shape \(shape) needs \(total) bytes of data, but the file holds only \(max(0, onDisk - headerBytes)) after its \(headerBytes)-byte header (limit: the file's size, \(onDisk) bytes)")
            }
            let (bound, overflow) = onDisk.multipliedReportingOverflow(by: maxDeflateRatio)
            if compressed && !overflow && total > bound {
                throw VisionError(file: path, "file is truncated: shape \(shape) needs \(total) bytes of data, more than a \(onDisk)-byte gzip file can hold (limit: deflate's largest ratio \(maxDeflateRatio):1, \(bound) bytes)")
            }
        }
        var bytes: [UInt8]
        if compressed {
            bytes = []
            // Most real data compresses less than 8:1, so this is usually the one allocation.
            bytes.reserveCapacity(min(total, max(streamChunk, (onDisk ?? 0) &* 8)))
            var chunk = [UInt8](repeating: 0, count: min(total, streamChunk))
            while bytes.count < total {
                let want = min(total - bytes.count, chunk.count)
                try chunk.withUnsafeMutableBytes { try readExactly(want, into: $0.baseAddress!, what: "the data for shape \(shape)", after: bytes.count, of: total) }
                bytes.append(contentsOf: chunk[0..<want])
            }
        } else {
            bytes = try [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
                if total > 0 { try readExactly(total, into: buffer.baseAddress!, what: "the data for shape \(shape)") }
                count = total
            }
        }
        var extra: UInt8 = 0
        let more = gzread(file, &extra, 1)
        if more > 0 { throw VisionError(file: path, "unexpected data after the \(total) bytes that shape \(shape) describes") }
        if more < 0 {
            var code: Int32 = 0
            throw VisionError(file: path, "corrupt data at the end of the file: \(String(cString: gzerror(file, &code)))")
        }
        return Array(shape: shape, bytes: bytes)
    }
}
