import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Renames that publish a finished folder or file in one step.
public enum AtomicRename {
    /// glibc has `renameat2` since 2.28, but Swift's Glibc module does not declare it (it needs
    /// `_GNU_SOURCE`), so it is looked up once at run time.
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    nonisolated(unsafe) static let renameat2: RenameAt2? = {
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

/// A test-only way to kill the process at a named step (`WORKBOOK_TEST_KILL_AT=step`), so tests can
/// check that an interrupted write leaves the previous result whole and nothing behind.
public enum TestHooks {
    static let killAt = ProcessInfo.processInfo.environment["WORKBOOK_TEST_KILL_AT"]

    public static func killIfRequested(at step: String) {
        guard let killAt, killAt == step else { return }
        kill(getpid(), SIGKILL)
    }
}
