import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Renames that publish a finished folder or file in one step.
public enum AtomicRename {
    /// glibc has `renameat2` since 2.28, but Swift's Glibc module does not declare it (it needs
    /// `_GNU_SOURCE`), so it is looked up once at run time.
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    static let renameat2: RenameAt2? = {
        #if os(Linux)
        guard let symbol = dlsym(nil, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
        #else
        return nil
        #endif
    }()

    static let noReplace: UInt32 = 1 << 0
    static let exchange: UInt32 = 1 << 1

    /// Renames `source` to `target` unless `target` exists (then returns false and changes nothing).
    public static func renameNoReplace(_ source: URL, to target: URL) throws -> Bool {
        if let renameat2 {
            if renameat2(AT_FDCWD, source.path, AT_FDCWD, target.path, noReplace) == 0 { return true }
            if errno == EEXIST || errno == ENOTEMPTY { return false }
            // EINVAL: a file system without the flag; fall through to check-then-rename.
            guard errno == EINVAL || errno == ENOSYS else { throw posixError("rename", source, target) }
        }
        if FileManager.default.fileExists(atPath: target.path) { return false }
        guard rename(source.path, target.path) == 0 else { throw posixError("rename", source, target) }
        return true
    }

    /// Swaps `source` and `target` (both must exist) in one step, so `target` is never missing.
    /// Returns false where the kernel or file system cannot exchange.
    public static func exchange(_ source: URL, _ target: URL) throws -> Bool {
        guard let renameat2 else { return false }
        if renameat2(AT_FDCWD, source.path, AT_FDCWD, target.path, exchange) == 0 { return true }
        if errno == EINVAL || errno == ENOSYS { return false }
        throw posixError("exchange", source, target)
    }

    static func posixError(_ what: String, _ a: URL, _ b: URL) -> NotebookError {
        NotebookError(file: b.path, line: nil, "cannot \(what) \(a.lastPathComponent) to \(b.lastPathComponent): \(String(cString: strerror(errno)))")
    }
}

/// Reads files that an untrusted program could have replaced: never through a symbolic link,
/// never from a FIFO, device or folder (which could block or read the host), at most `limit` bytes.
public enum UntrustedFile {
    public enum Problem: Error, CustomStringConvertible, Equatable {
        case missing
        case symbolicLink
        case notRegular
        case linked
        case unreadable(String)
        public var description: String {
            switch self {
            case .missing: return "is missing"
            case .symbolicLink: return "is a symbolic link (not followed)"
            case .notRegular: return "is not a regular file (not read)"
            case .linked: return "has other hard links (not read)"
            case .unreadable(let why): return "cannot be read (\(why))"
            }
        }
    }

    /// The first `limit` bytes of the regular file at `url`.
    public static func read(_ url: URL, limit: Int) -> Result<Data, Problem> {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: ELOOP on a link.
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            switch errno {
            case ENOENT: return .failure(.missing)
            case ELOOP: return .failure(.symbolicLink)
            default: return .failure(.unreadable(String(cString: strerror(errno))))
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(.notRegular) }
        // A hard link would let the program name a file it cannot read as the one to copy.
        guard info.st_nlink == 1 else { return .failure(.linked) }
        var data = Data(count: limit)
        var total = 0
        let ok = data.withUnsafeMutableBytes { raw -> Bool in
            while total < limit {
                let n = Glibc.read(fd, raw.baseAddress! + total, limit - total)
                if n < 0 { if errno == EINTR { continue }; return false }
                if n == 0 { break }
                total += n
            }
            return true
        }
        guard ok else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        data.count = total
        return .success(data)
    }
}

/// A test-only way to kill the process at a named step (`WORKBOOK_TEST_KILL_AT=step`), so tests can
/// check that an interrupted write leaves the previous result whole and nothing behind.
public enum TestHooks {
    static let killAt = ProcessInfo.processInfo.environment["WORKBOOK_TEST_KILL_AT"]

    public static func killIfRequested(at step: String) {
        guard let killAt, killAt == step else { return }
        kill(getpid(), SIGKILL)
    }
}
