import Foundation
import SystemZlib

// A small, bounds-checked ZIP reader and writer for PyTorch checkpoints. PyTorch writes stored
// (uncompressed) entries whose data start on 64-byte boundaries; ZIPFoundation can neither place
// entries at aligned offsets nor hand back zero-copy slices of a mapped file, and every length
// and offset here comes from untrusted input, so each one is checked before use.

/// One member of a ZIP archive, as described by the central directory.
struct ZipEntry {
    var name: String
    var method: UInt16
    var flags: UInt16
    var crc32: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
}

/// Reads the central directory of a ZIP archive held in (mapped) memory.
struct ZipReader {
    let data: Data
    let url: URL
    private(set) var entries: [ZipEntry] = []
    private var index: [String: Int] = [:]

    init(data: Data, url: URL) throws {
        self.data = data
        self.url = url
        try readCentralDirectory()
    }

    private func fail(_ message: String, _ kind: CheckpointError.Kind = .malformed) -> CheckpointError {
        CheckpointError(kind, url, "zip archive: \(message)")
    }

    private func u16(_ at: Int) throws -> Int {
        guard at >= 0, at + 2 <= data.count else { throw fail("record at offset \(at) runs past the end of the file", .truncated) }
        return data.withUnsafeBytes { Int(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
    }

    private func u32(_ at: Int) throws -> Int {
        guard at >= 0, at + 4 <= data.count else { throw fail("record at offset \(at) runs past the end of the file", .truncated) }
        return data.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
    }

    private func u64(_ at: Int) throws -> Int {
        guard at >= 0, at + 8 <= data.count else { throw fail("record at offset \(at) runs past the end of the file", .truncated) }
        let v = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        guard v <= UInt64(Int.max / 2) else { throw fail("64-bit field at offset \(at) holds an impossible value \(v)") }
        return Int(v)
    }

    private mutating func readCentralDirectory() throws {
        // The end-of-central-directory record sits in the last 22 + 65535 bytes (its comment).
        guard data.count >= 22 else { throw fail("file is \(data.count) bytes, too short for a zip archive", .truncated) }
        var eocd = -1
        var position = data.count - 22
        let lowest = max(0, data.count - 22 - 0xFFFF)
        while position >= lowest {
            if try u32(position) == 0x0605_4B50 { eocd = position; break }
            position -= 1
        }
        guard eocd >= 0 else { throw fail("end of central directory record not found (file truncated?)", .truncated) }
        var count = try u16(eocd + 10)
        var directorySize = try u32(eocd + 12)
        var directoryOffset = try u32(eocd + 16)
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a locator right before the record points at the 64-bit record.
            let locator = eocd - 20
            guard locator >= 0, try u32(locator) == 0x0706_4B50 else { throw fail("ZIP64 locator missing before the end record") }
            let record = try u64(locator + 8)
            guard try u32(record) == 0x0606_4B50 else { throw fail("ZIP64 end record not found at offset \(record)") }
            count = try u64(record + 32)
            directorySize = try u64(record + 40)
            directoryOffset = try u64(record + 48)
        }
        guard directoryOffset <= data.count, directorySize <= data.count - directoryOffset else {
            throw fail("central directory [\(directoryOffset), +\(directorySize)] lies outside the file (\(data.count) bytes)", .truncated)
        }
        guard count <= PyTorchCheckpoint.maximumEntries else {
            throw fail("central directory lists \(count) entries, more than the limit PyTorchCheckpoint.maximumEntries = \(PyTorchCheckpoint.maximumEntries)", .unsupported)
        }
        guard count <= directorySize / 46 else {
            throw fail("central directory claims \(count) entries but holds only \(directorySize) bytes")
        }
        var at = directoryOffset
        for n in 0..<count {
            guard try u32(at) == 0x0201_4B50 else { throw fail("central directory entry \(n) at offset \(at) has a bad signature") }
            let flags = try u16(at + 8)
            let method = try u16(at + 10)
            let crc = try u32(at + 16)
            var compressed = try u32(at + 20)
            var uncompressed = try u32(at + 24)
            let nameLength = try u16(at + 28)
            let extraLength = try u16(at + 30)
            let commentLength = try u16(at + 32)
            var localOffset = try u32(at + 42)
            let nameStart = at + 46
            guard nameStart + nameLength + extraLength + commentLength <= directoryOffset + directorySize else {
                throw fail("central directory entry \(n) runs past the directory")
            }
            let nameBytes = data.subdata(in: data.startIndex + nameStart ..< data.startIndex + nameStart + nameLength)
            let name = String(decoding: nameBytes, as: UTF8.self)
            // ZIP64 sizes live in extra field 0x0001, in this order, only for fields set to 0xFFFFFFFF.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try u16(extra), size = try u16(extra + 2)
                guard extra + 4 + size <= extraEnd else { break }
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { uncompressed = try u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { compressed = try u64(field); field += 8 }
                    if localOffset == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { localOffset = try u64(field); field += 8 }
                }
                extra += 4 + size
            }
            if index[name] == nil { index[name] = entries.count }
            entries.append(ZipEntry(name: name, method: UInt16(method), flags: UInt16(flags), crc32: UInt32(crc),
                                    compressedSize: compressed, uncompressedSize: uncompressed, localHeaderOffset: localOffset))
            at = nameStart + nameLength + extraLength + commentLength
        }
    }

    func entry(named name: String) -> ZipEntry? {
        index[name].map { entries[$0] }
    }

    /// Where `entry`'s data begins, after its local header.
    func dataOffset(of entry: ZipEntry) throws -> Int {
        let header = entry.localHeaderOffset
        guard try u32(header) == 0x0403_4B50 else { throw fail("entry '\(entry.name)': no local header at offset \(header)") }
        return header + 30 + (try u16(header + 26)) + (try u16(header + 28))
    }

    /// The uncompressed bytes of `entry`, CRC-checked. Stored entries are slices of the mapped file.
    func contents(of entry: ZipEntry) throws -> Data {
        let name = "'\(entry.name)'"
        guard entry.flags & 1 == 0 else { throw fail("entry \(name) is encrypted", .unsupported) }
        let start = try dataOffset(of: entry)
        guard start <= data.count, entry.compressedSize <= data.count - start else {
            throw fail("entry \(name): \(entry.compressedSize) bytes at offset \(start) run past the end of the file (\(data.count) bytes)", .truncated)
        }
        let range = data.startIndex + start ..< data.startIndex + start + entry.compressedSize
        let bytes: Data
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw fail("stored entry \(name) has compressed size \(entry.compressedSize) but uncompressed size \(entry.uncompressedSize)")
            }
            bytes = data[range]
        case 8:
            bytes = try inflate(data[range], expected: entry.uncompressedSize, name: name)
        default:
            throw fail("entry \(name) uses compression method \(entry.method); only stored and deflate are supported", .unsupported)
        }
        let actual = crc32(of: bytes)
        guard actual == entry.crc32 else {
            throw fail("entry \(name) is corrupt: CRC-32 is \(hex(actual)), the directory says \(hex(entry.crc32))")
        }
        return bytes
    }

    /// Inflates raw deflate data chunk by chunk, so memory grows only with real output and a
    /// size claim in a damaged directory cannot force a huge allocation.
    private func inflate(_ input: Data, expected: Int, name: String) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try input.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(src.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBytes { dst in
                    stream.next_out = dst.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(dst.count)
                    status = SystemZlib.inflate(&stream, Z_NO_FLUSH)
                    return dst.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw fail("entry \(name): deflate data is corrupt (zlib status \(status))")
                }
                guard output.count + produced <= expected else {
                    throw fail("entry \(name) inflates to more than the \(expected) bytes the directory declares")
                }
                output.append(contentsOf: chunk[0..<produced])
                if produced == 0 && status != Z_STREAM_END && stream.avail_in == 0 {
                    throw fail("entry \(name): deflate data ends early", .truncated)
                }
            } while status != Z_STREAM_END
        }
        guard output.count == expected else {
            throw fail("entry \(name) inflates to \(output.count) bytes, the directory declares \(expected)")
        }
        return output
    }
}

func crc32(of data: Data) -> UInt32 {
    data.withUnsafeBytes { crc32(of: $0, seed: 0) }
}

func crc32(of bytes: UnsafeRawBufferPointer, seed: UInt32) -> UInt32 {
    var crc = uLong(seed)
    guard var base = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return seed }
    var remaining = bytes.count
    while remaining > 0 {
        let chunk = min(remaining, 1 << 30)
        crc = SystemZlib.crc32(crc, base, uInt(chunk))
        base += chunk
        remaining -= chunk
    }
    return UInt32(truncatingIfNeeded: crc)
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

/// Writes a ZIP archive of stored entries through an atomic writer, each entry's data starting at
/// a multiple of `alignment` bytes (padding goes into the local header's extra field, as PyTorch
/// does). No ZIP64: archives must stay under 4 GiB.
struct ZipWriter {
    private let out: AtomicFileWriter
    private var directory: [(name: [UInt8], crc: UInt32, size: Int, offset: Int)] = []
    static let limit = Int(UInt32.max)

    init(_ out: AtomicFileWriter) { self.out = out }

    /// Adds one stored entry whose data is the concatenation of `chunks`.
    mutating func add(_ name: String, alignment: Int = 64,
                      chunks: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var crc: UInt32 = 0
        var size = 0
        try chunks { bytes in
            crc = crc32(of: bytes, seed: crc)
            size += bytes.count
        }
        let nameBytes = Array(name.utf8)
        let offset = out.offset
        var extraLength = 0
        let dataStart = offset + 30 + nameBytes.count
        if alignment > 1, dataStart % alignment != 0 {
            extraLength = alignment - dataStart % alignment
            if extraLength < 4 { extraLength += alignment }
        }
        guard offset + 30 + nameBytes.count + extraLength + size < ZipWriter.limit else {
            throw CheckpointError(.unsupported, out.destination, "checkpoint would exceed 4 GiB, which this PyTorch writer does not support; save as safetensors instead")
        }
        var header = ByteBuilder()
        header.u32(0x0403_4B50); header.u16(20); header.u16(0); header.u16(0)  // signature, version, flags, stored
        header.u16(0); header.u16(0x21)  // time, date: 1980-01-01 00:00, so output is reproducible
        header.u32(crc); header.u32(UInt32(size)); header.u32(UInt32(size))
        header.u16(UInt16(nameBytes.count)); header.u16(UInt16(extraLength))
        header.bytes += nameBytes
        if extraLength > 0 {
            header.u16(0x4246); header.u16(UInt16(extraLength - 4))  // "FB" padding field, like PyTorch
            header.bytes += [UInt8](repeating: UInt8(ascii: "Z"), count: extraLength - 4)
        }
        try out.write(header.bytes)
        var written = 0
        try chunks { bytes in
            try out.write(bytes)
            written += bytes.count
        }
        precondition(written == size, "zip entry \(name) produced different bytes on its second pass")
        directory.append((nameBytes, crc, size, offset))
    }

    mutating func add(_ name: String, bytes: [UInt8], alignment: Int = 64) throws {
        try add(name, alignment: alignment) { emit in try bytes.withUnsafeBytes { try emit($0) } }
    }

    /// Writes the central directory and end record.
    func finish() throws {
        let start = out.offset
        var central = ByteBuilder()
        for entry in directory {
            central.u32(0x0201_4B50); central.u16(20); central.u16(20); central.u16(0); central.u16(0)
            central.u16(0); central.u16(0x21)
            central.u32(entry.crc); central.u32(UInt32(entry.size)); central.u32(UInt32(entry.size))
            central.u16(UInt16(entry.name.count)); central.u16(0); central.u16(0)  // name, extra, comment
            central.u16(0); central.u16(0); central.u32(0)  // disk, internal and external attributes
            central.u32(UInt32(entry.offset))
            central.bytes += entry.name
        }
        guard directory.count < 0xFFFF, start + central.bytes.count + 22 < ZipWriter.limit else {
            throw CheckpointError(.unsupported, out.destination, "checkpoint would exceed the ZIP limits (65535 entries, 4 GiB); save as safetensors instead")
        }
        let directorySize = central.bytes.count
        central.u32(0x0605_4B50); central.u16(0); central.u16(0)
        central.u16(UInt16(directory.count)); central.u16(UInt16(directory.count))
        central.u32(UInt32(directorySize)); central.u32(UInt32(start)); central.u16(0)
        try out.write(central.bytes)
    }
}

/// Little-endian byte assembly for headers.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    mutating func u32(_ v: Int) { u32(UInt32(v)) }
}
