import Foundation
import ProgramRecords
import Torch

/// The connection between a lesson program and the `workbook` runner.
///
/// The runner passes a pipe as a file descriptor named by `WORKBOOK_OUTPUT_FD`; the program writes
/// `Record`s to it (the protocol lives in `ProgramRecords`). Without the variable (a program run by
/// hand) outputs are printed as plain text instead.
///
/// The `_`-prefixed functions are called by generated programs, not by lesson code.
public enum NotebookSession {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var channel: Int32? = {
        guard let text = ProcessInfo.processInfo.environment[RecordChannel.outputVariable],
              let fd = Int32(text), fd >= 0, fcntl(fd, F_GETFD) != -1 else { return nil }
        return fd
    }()
    nonisolated(unsafe) private static var sequence = 0
    nonisolated(unsafe) private static var current = -1

    /// Whether outputs go to the runner (true) or are printed as text (false).
    public static var isCaptured: Bool { channel != nil }

    /// The index of the running cell (-1 before the first).
    public static var currentCell: Int { current }

    /// Emits a record for the current cell.
    public static func emit(_ body: Record.Body) {
        lock.lock(); defer { lock.unlock() }
        emitLocked(body)
    }

    /// Whether the host watches progress as it happens (the notebook page sets
    /// `WORKBOOK_LIVE_PROGRESS=1`); `workbook run` and the site do not, and get no progress records.
    public static let wantsProgress: Bool = isCaptured && ProcessInfo.processInfo.environment[progressVariable] == "1"
    public static let progressVariable = "WORKBOOK_LIVE_PROGRESS"

    /// Emits a progress record for the current cell, without stream markers: the text streams are
    /// cut exactly as they would be without it.
    public static func emitProgress(label: String, done: Int, total: Int, text: String) {
        lock.lock(); defer { lock.unlock() }
        guard let fd = channel, wantsProgress else { return }
        sequence += 1
        let record = Record(seq: sequence, cell: current >= 0 ? current : nil,
                            body: .progress(label: label, done: done, total: total, text: text))
        guard let data = try? RecordChannel.encodeLine(record) else { return }
        RecordChannel.write(data, to: fd)
    }

    private static func emitLocked(_ body: Record.Body) {
        guard let fd = channel else { return }
        sequence += 1
        fflush(stdout)
        let marker = StreamMarker.line(sequence)
        fputs(marker, stdout)
        fflush(stdout)
        fputs(marker, stderr)
        let record = Record(seq: sequence, cell: current >= 0 ? current : nil, body: body)
        guard let data = try? RecordChannel.encodeLine(record) else {
            fputs("workbook: could not encode a '\(record.kind)' output\n", stderr)
            return
        }
        RecordChannel.write(data, to: fd)
    }

    // MARK: Generated-program hooks

    /// Program start: line-buffered stdout (so a trap loses no printed line), the lesson's seed
    /// and thread count.
    public static func _begin(seed: UInt64?, threads: Int?) {
        setvbuf(stdout, nil, _IOLBF, 0)
        if let seed { manualSeed(seed) }
        if let threads { Threads.count = threads }
        emit(.begin(pid: Int(getpid())))
    }

    /// A cell starts: later output belongs to it.
    public static func _cell(_ index: Int, line: Int) {
        lock.lock(); defer { lock.unlock() }
        current = index
        emitLocked(.cell(line: line))
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
            emit(.expectedError(failed: false, status: "fork failed: \(String(cString: strerror(errno)))"))
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
        emit(.expectedError(failed: failed, status: description))
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
        emitLocked(.done)
        fflush(stdout)
    }
}
