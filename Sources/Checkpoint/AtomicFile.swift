import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a file through a temporary sibling that is renamed over the destination only once it is
/// complete and flushed, so a crash or error never leaves a half-written checkpoint and never
/// destroys the previous one.
///
/// Nothing is left behind by a kill at any instant, or what is left is removed by the next save:
/// on Linux the data goes to an unnamed `O_TMPFILE` inode (the kernel frees it if the process
/// dies), linked as `.NAME.PID-N.tmp` only just before the rename; elsewhere, or where the file
/// system lacks `O_TMPFILE`, the data is written to `.NAME.PID-N.tmp` directly. Every save first
/// removes `.NAME.*.tmp` files whose process no longer exists.
final class AtomicFileWriter {
    let destination: URL
    private let temporary: URL
    private var descriptor: Int32
    /// Whether `descriptor` is an unnamed O_TMPFILE inode, linked into the folder at commit.
    private let unnamed: Bool
    private var buffer = [UInt8]()
    private var finished = false
    /// Bytes written so far (including buffered ones): the offset of the next byte.
    private(set) var offset: Int = 0

    private static let bufferLimit = 1 << 20

    /// The test-only hook: with `WORKBOOK_TEST_KILL_AT` set to `written`, `linked` or `renamed`,
    /// the process SIGKILLs itself after that step of `commit()`, as `kill -9` could.
    enum Step: String { case written, linked, renamed }

    private static func testKill(after step: Step) {
        if let at = ProcessInfo.processInfo.environment["WORKBOOK_TEST_KILL_AT"], at == step.rawValue {
            kill(getpid(), SIGKILL)
        }
    }

    /// The temporary name of `destination` for save number `sequence` of process `pid`: hidden,
    /// beside it, derived from it (`.model.pth.4242-1.tmp`). The sequence keeps two saves of one
    /// file from two threads apart.
    static func temporaryName(for destination: URL, pid: Int32 = getpid(), sequence: Int) -> String {
        ".\(destination.lastPathComponent).\(pid)-\(sequence).tmp"
    }

    private static let sequenceLock = NSLock()
    private static var lastSequence = 0
    private static func nextSequence() -> Int {
        sequenceLock.lock()
        defer { sequenceLock.unlock() }
        lastSequence += 1
        return lastSequence
    }

    /// Removes `.NAME.PID.tmp` siblings of `destination` left by processes that no longer exist.
    static func removeStaleTemporaries(of destination: URL) {
        let folder = destination.deletingLastPathComponent()
        let prefix = ".\(destination.lastPathComponent)."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let middle = name.dropFirst(prefix.count).dropLast(4)  // "PID-N"
            guard let pid = Int32(middle.prefix { $0 != "-" }), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(folder.appendingPathComponent(name).path)
            }
        }
    }

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
        Self.removeStaleTemporaries(of: destination)
        temporary = directory.appendingPathComponent(Self.temporaryName(for: destination, sequence: Self.nextSequence()))
        var fd: Int32 = -1
        #if os(Linux)
        // O_TMPFILE is a macro the importer does not bring in; its value is __O_TMPFILE | O_DIRECTORY.
        fd = open(directory.path, 0o20000000 | O_DIRECTORY | O_WRONLY | O_CLOEXEC, 0o644)
        #endif
        unnamed = fd >= 0
        if fd < 0 {
            fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            // This process never repeats a sequence, so an existing file is a dead process's
            // whose PID we now have.
            if fd < 0 && errno == EEXIST {
                unlink(temporary.path)
                fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            }
        }
        guard fd >= 0 else {
            throw CheckpointError(.io, destination, "cannot create a temporary file in \(directory.path): \(String(cString: strerror(errno)))")
        }
        descriptor = fd
    }

    deinit {
        if !finished { abort() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        offset += bytes.count
        if buffer.count + bytes.count > Self.bufferLimit {
            try flushBuffer()
            if bytes.count > Self.bufferLimit {
                try writeToDisk(bytes)
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
        try buffer.withUnsafeBytes { try writeToDisk($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeToDisk(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            #if canImport(Glibc)
            let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            #else
            let n = Darwin.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            #endif
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.io, destination, "write failed: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// Flushes to disk and renames the temporary file over the destination.
    func commit() throws {
        func failure(_ what: String) -> CheckpointError {
            let error = CheckpointError(.io, destination, "\(what): \(String(cString: strerror(errno)))")
            abort()
            return error
        }
        do {
            try flushBuffer()
        } catch {
            abort()
            throw error
        }
        if fsync(descriptor) != 0 { throw failure("cannot flush the file to disk") }
        Self.testKill(after: .written)
        if unnamed {
            // linkat(2) cannot replace a file, so the inode gets its temporary name first; a kill
            // before the rename below leaves only that name, which the next save removes.
            func link() -> Int32 { linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, temporary.path, AT_SYMLINK_FOLLOW) }
            var linked = link()
            if linked != 0 && errno == EEXIST {  // a dead process's file under our PID, as above
                unlink(temporary.path)
                linked = link()
            }
            if linked != 0 {
                throw failure("cannot link the temporary file into \(destination.deletingLastPathComponent().path)")
            }
            Self.testKill(after: .linked)
        }
        close(descriptor)
        descriptor = -1
        // rename(2) replaces the destination atomically on POSIX file systems.
        if rename(temporary.path, destination.path) != 0 {
            throw failure("cannot rename the temporary file into place")
        }
        finished = true
        // Make the rename itself durable: flush the folder's entry.
        let folder = open(destination.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 { fsync(folder); close(folder) }
        Self.testKill(after: .renamed)
    }

    /// Drops the temporary file; the destination is untouched.
    func abort() {
        guard !finished else { return }
        finished = true
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
        unlink(temporary.path)
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
