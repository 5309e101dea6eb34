import Foundation
import Torch

/// The connection between a lesson program and the `workbook` runner.
///
/// The runner passes a pipe as a file descriptor named by `WORKBOOK_OUTPUT_FD`; the program writes
/// one JSON record per line to it (`{"seq":4,"cell":2,"kind":"table",...}`). Before every record
/// the program flushes stdout and writes the marker line `\u{1E}WB:<seq>` to stdout and stderr, so
/// the runner can cut both streams into pieces that belong to a cell and sit between records.
/// Without the variable (a program run by hand) records are printed as plain text instead.
///
/// The `_`-prefixed functions are called by generated programs, not by lesson code.
public enum NotebookSession {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var channel: Int32? = {
        guard let text = ProcessInfo.processInfo.environment["WORKBOOK_OUTPUT_FD"],
              let fd = Int32(text), fd >= 0, fcntl(fd, F_GETFD) != -1 else { return nil }
        return fd
    }()
    nonisolated(unsafe) private static var sequence = 0
    nonisolated(unsafe) private static var current = -1

    /// Whether outputs go to the runner (true) or are printed as text (false).
    public static var isCaptured: Bool { channel != nil }

    /// The index of the running cell (-1 before the first).
    public static var currentCell: Int { current }

    /// Emits a record for the current cell. `fields` must be JSON-serialisable.
    public static func emit(kind: String, _ fields: [String: Any] = [:]) {
        lock.lock(); defer { lock.unlock() }
        emitLocked(kind: kind, fields)
    }

    private static func emitLocked(kind: String, _ fields: [String: Any]) {
        guard let fd = channel else { return }
        sequence += 1
        fflush(stdout)
        let marker = "\u{1E}WB:\(sequence)\n"
        fputs(marker, stdout)
        fflush(stdout)
        fputs(marker, stderr)
        var record = fields
        record["seq"] = sequence
        record["kind"] = kind
        if current >= 0 { record["cell"] = current }
        guard var data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else {
            fputs("workbook: could not encode a '\(kind)' output\n", stderr)
            return
        }
        data.append(UInt8(ascii: "\n"))
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }

    // MARK: Generated-program hooks

    /// Program start: line-buffered stdout (so a trap loses no printed line), the lesson's seed
    /// and thread count.
    public static func _begin(seed: UInt64?, threads: Int?) {
        setvbuf(stdout, nil, _IOLBF, 0)
        if let seed { manualSeed(seed) }
        if let threads { Threads.count = threads }
        emit(kind: "begin", ["pid": Int(getpid())])
    }

    /// A cell starts: later output belongs to it.
    public static func _cell(_ index: Int, line: Int) {
        lock.lock(); defer { lock.unlock() }
        current = index
        emitLocked(kind: "cell", ["line": line])
    }

    /// Before an `expect-error` cell: forks. Returns true in the child, which runs the cell; the
    /// parent waits, reports how the child ended and returns false, skipping the cell with its
    /// state unchanged.
    public static func _forkForExpectedError(_ index: Int, line: Int) -> Bool {
        _cell(index, line: line)
        fflush(stdout)
        fflush(stderr)
        let pid = fork()
        if pid == 0 {
            // The child has one thread; keep the engine from starting thread pools in it.
            Threads.count = 1
            return true
        }
        if pid < 0 {
            emit(kind: "expected-error", ["failed": false, "status": "fork failed: \(String(cString: strerror(errno)))"])
            return false
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        let failed: Bool
        let description: String
        if signal != 0 {
            failed = true
            description = "signal \(signal)"
        } else {
            let code = (status >> 8) & 0xff
            failed = code != 0
            description = "exit \(code)"
        }
        emit(kind: "expected-error", ["failed": failed, "status": description])
        return false
    }

    /// The child of an `expect-error` cell got to the end: the error did not happen.
    public static func _expectedErrorDidNotOccur() -> Never {
        fflush(stdout)
        fflush(stderr)
        _exit(0)
    }

    /// The last cell finished.
    public static func _end() {
        lock.lock(); defer { lock.unlock() }
        current = -1
        emitLocked(kind: "done", [:])
        fflush(stdout)
    }
}
