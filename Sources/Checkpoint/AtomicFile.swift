import Foundation

/// Writes a file through a temporary sibling that is renamed over the destination only once it is
/// complete and flushed, so a crash or error never leaves a half-written checkpoint and never
/// destroys the previous one.
final class AtomicFileWriter {
    let destination: URL
    private let temporary: URL
    private let handle: FileHandle
    private var buffer = [UInt8]()
    private var finished = false
    /// Bytes written so far (including buffered ones): the offset of the next byte.
    private(set) var offset: Int = 0

    private static let bufferLimit = 1 << 20

    init(_ destination: URL) throws {
        self.destination = destination
        let directory = destination.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(.io, destination, "cannot write: directory \(directory.path) does not exist")
        }
        if FileManager.default.fileExists(atPath: destination.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CheckpointError(.io, destination, "cannot write: \(destination.path) is a directory")
        }
        temporary = directory.appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: temporary) else {
            throw CheckpointError(.io, destination, "cannot create a temporary file in \(directory.path)")
        }
        self.handle = handle
    }

    deinit {
        if !finished { abort() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        offset += bytes.count
        if buffer.count + bytes.count > Self.bufferLimit {
            try flushBuffer()
            if bytes.count > Self.bufferLimit {
                try writeToDisk(Data(bytes))
                return
            }
        }
        buffer.append(contentsOf: bytes)
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ string: String) throws {
        try write(Array(string.utf8))
    }

    private func flushBuffer() throws {
        guard !buffer.isEmpty else { return }
        try writeToDisk(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeToDisk(_ data: Data) throws {
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw CheckpointError(.io, destination, "write failed: \(error.localizedDescription)")
        }
    }

    /// Flushes to disk and renames the temporary file over the destination.
    func commit() throws {
        do {
            try flushBuffer()
            try handle.synchronize()
            try handle.close()
        } catch let error as CheckpointError {
            abort()
            throw error
        } catch {
            abort()
            throw CheckpointError(.io, destination, "write failed: \(error.localizedDescription)")
        }
        // rename(2) replaces the destination atomically on POSIX file systems.
        if rename(temporary.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            abort()
            throw CheckpointError(.io, destination, "cannot rename the temporary file into place: \(reason)")
        }
        finished = true
    }

    /// Drops the temporary file; the destination is untouched.
    func abort() {
        guard !finished else { return }
        finished = true
        try? handle.close()
        try? FileManager.default.removeItem(at: temporary)
    }
}

/// Runs `body` with an atomic writer for `url`, committing on success and discarding on error.
func writeAtomically(to url: URL, _ body: (AtomicFileWriter) throws -> Void) throws {
    let writer = try AtomicFileWriter(url)
    do {
        try body(writer)
        try writer.commit()
    } catch {
        writer.abort()
        throw error
    }
}

/// Maps (or, failing that, reads) a whole file.
func readFileBytes(_ url: URL) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw CheckpointError(.io, url, "file not found at \(url.path)")
    }
    if isDirectory.boolValue {
        throw CheckpointError(.io, url, "\(url.path) is a directory, not a checkpoint file")
    }
    do {
        return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw CheckpointError(.io, url, "cannot read: \(error.localizedDescription)")
    }
}
