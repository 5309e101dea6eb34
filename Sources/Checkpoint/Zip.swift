import Foundation
import ZIPFoundation

// The ZIP container of a PyTorch checkpoint, read and written with ZIPFoundation. This file only
// adds what a checkpoint reader needs on top: every size and count from the untrusted file is
// capped before memory is spent on it, and each ZIPFoundation error becomes a CheckpointError that
// names the file, the entry and the cause. Archives are read from their file, not from memory:
// ZIPFoundation 0.9.20's in-memory archive traps on an offset past the end (the fuzz tests found
// it), while its file-backed reader reports the same damage as an error.

/// One member of a checkpoint's ZIP archive.
struct ZipEntry {
    var name: String
    var entry: Entry
}

/// The members of the ZIP archive in the file at `url`.
struct ZipReader {
    let url: URL
    let fileSize: Int
    private let archive: Archive
    private(set) var entries: [ZipEntry] = []
    private var index: [String: Int] = [:]

    /// `size` is the file's length, known to the caller that already sniffed its first bytes.
    init(url: URL, size: Int) throws {
        self.url = url
        self.fileSize = size
        guard size >= 22 else {
            throw Self.fail(url, "file is \(size) bytes, too short for a zip archive", .truncated)
        }
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw Self.describe(error, url: url, entry: nil)
        }
        var count = 0
        for entry in archive {
            count += 1
            guard count <= PyTorchCheckpoint.maximumEntries else {
                throw Self.fail(url, "central directory lists more than the limit PyTorchCheckpoint.maximumEntries = \(PyTorchCheckpoint.maximumEntries) entries", .unsupported)
            }
            if index[entry.path] == nil { index[entry.path] = entries.count }
            entries.append(ZipEntry(name: entry.path, entry: entry))
        }
        if count == 0, size > 22 {
            throw Self.fail(url, "central directory holds no readable entry (file truncated or damaged)", .truncated)
        }
    }

    private static func fail(_ url: URL, _ message: String, _ kind: CheckpointError.Kind = .malformed) -> CheckpointError {
        CheckpointError(kind, url, "zip archive: \(message)")
    }

    /// ZIPFoundation's errors, said as a reader of this checkpoint needs them.
    static func describe(_ error: Error, url: URL, entry: String?) -> CheckpointError {
        if let error = error as? CheckpointError { return error }
        let subject = entry.map { "entry '\($0)'" } ?? "the archive"
        switch error {
        case Archive.ArchiveError.missingEndOfCentralDirectoryRecord:
            return fail(url, "end of central directory record not found (file truncated?)", .truncated)
        case Archive.ArchiveError.invalidCentralDirectoryOffset, Archive.ArchiveError.invalidCentralDirectorySize:
            return fail(url, "the central directory lies outside the file (file truncated?)", .truncated)
        case Archive.ArchiveError.invalidCentralDirectoryEntryCount:
            return fail(url, "the central directory's entry count does not match its records")
        case Archive.ArchiveError.invalidCRC32:
            return fail(url, "\(subject) is corrupt: its CRC-32 does not match the directory")
        case Archive.ArchiveError.invalidCompressionMethod:
            return fail(url, "\(subject) uses a compression method other than stored or deflate", .unsupported)
        case Archive.ArchiveError.invalidLocalHeaderDataOffset, Archive.ArchiveError.invalidLocalHeaderSize:
            return fail(url, "\(subject): its local header is missing or runs past the end of the file", .truncated)
        case Archive.ArchiveError.invalidEntrySize:
            return fail(url, "\(subject): its size is impossible for this file")
        case Archive.ArchiveError.unreadableArchive:
            return fail(url, "\(subject) cannot be read (file truncated or not a zip archive)", .truncated)
        default:
            // ZIPFoundation's inflate errors are not public types; their names still say what broke.
            let name = String(describing: error)
            if name == "corruptedData" || name == "invalidStream" { return fail(url, "\(subject): deflate data is corrupt") }
            return fail(url, "\(subject): \(error)")
        }
    }

    func entry(named name: String) -> ZipEntry? {
        index[name].map { entries[$0] }
    }

    /// The uncompressed bytes of `entry`, CRC-checked. A size claim larger than the file (stored)
    /// or inflating past what the directory declares (deflate) is refused before memory grows.
    func contents(of member: ZipEntry) throws -> Data {
        let entry = member.entry
        let name = "'\(member.name)'"
        guard entry.type == .file else { throw Self.fail(url, "entry \(name) is not a file") }
        guard entry.compressedSize <= UInt64(fileSize) else {
            throw Self.fail(url, "entry \(name): \(entry.compressedSize) bytes run past the end of the file (\(fileSize) bytes)", .truncated)
        }
        let declared = entry.uncompressedSize
        if !entry.isCompressed, declared != entry.compressedSize {
            throw Self.fail(url, "stored entry \(name) has compressed size \(entry.compressedSize) but uncompressed size \(declared)")
        }
        guard declared <= UInt64(Int.max / 2) else { throw Self.fail(url, "entry \(name) declares an impossible size \(declared)") }
        var output = Data()
        output.reserveCapacity(entry.isCompressed ? 0 : Int(declared))
        do {
            let chunk = max(1, min(Int(declared), 1 << 24))
            // extract returns the CRC-32 of what it read; comparing it is the caller's job.
            let crc = try archive.extract(entry, bufferSize: chunk) { piece in
                guard UInt64(output.count + piece.count) <= declared else {
                    throw Self.fail(url, "entry \(name) inflates to more than the \(declared) bytes the directory declares")
                }
                output.append(piece)
            }
            guard crc == entry.checksum else {
                throw Self.fail(url, "entry \(name) is corrupt: CRC-32 is \(hex(crc)), the directory says \(hex(entry.checksum))")
            }
        } catch {
            throw Self.describe(error, url: url, entry: member.name)
        }
        guard UInt64(output.count) == declared else {
            throw Self.fail(url, "entry \(name) holds \(output.count) bytes, the directory declares \(declared)", .truncated)
        }
        return output
    }
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

/// Builds a ZIP archive of stored (uncompressed) entries, as `torch.save` writes them, and hands
/// its bytes to an atomic writer. Entry dates are fixed so the same state dict gives the same file.
struct ZipWriter {
    private let out: AtomicFileWriter
    private let archive: Archive
    private static let fixedDate = Date(timeIntervalSince1970: 315_532_800)  // 1980-01-01, ZIP's epoch

    init(_ out: AtomicFileWriter) throws {
        self.out = out
        do {
            archive = try Archive(accessMode: .create)
        } catch {
            throw CheckpointError(.unsupported, out.destination, "zip archive: cannot start one in memory: \(error)")
        }
    }

    /// Adds one stored entry whose data is the concatenation of what `chunks` emits.
    func add(_ name: String, chunks: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var bytes = Data()
        try chunks { bytes.append(contentsOf: $0) }
        do {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(bytes.count),
                                 modificationDate: Self.fixedDate, compressionMethod: .none) { position, size in
                bytes.subdata(in: Int(position) ..< Int(position) + size)
            }
        } catch {
            throw CheckpointError(.unsupported, out.destination, "zip archive: cannot add entry '\(name)': \(error)")
        }
    }

    func add(_ name: String, bytes: [UInt8]) throws {
        try add(name) { emit in try bytes.withUnsafeBytes { try emit($0) } }
    }

    /// Writes the finished archive (entries, central directory, end record) to the atomic writer.
    func finish() throws {
        guard let data = archive.data else {
            throw CheckpointError(.unsupported, out.destination, "zip archive: the in-memory archive has no bytes")
        }
        try data.withUnsafeBytes { try out.write($0) }
    }
}
