import Foundation
import Notebook

/// What the notebook page asks of the course library: save a cell's code, run a lesson or an
/// exercise while streaming what happens. The server is written against this so its HTTP tests can
/// use a fake; `LiveBackend` is the real one (CellEditor, LiveRunner, ExerciseGrader.runLive).
public protocol NotebookBackend: Sendable {
    /// Writes `code` into Swift cell `cell` of `file` (atomically, only that cell's lines) and
    /// returns the file re-parsed. `expected`: the cell's code as the page loaded it; if the file
    /// now holds something else there (edited in an editor meanwhile), the save is refused.
    func save(cell: Int, in file: URL, code: String, expected: String?, kind: NotebookFileKind) throws -> Lesson
    /// Runs `file` to the end or until `control` is stopped, calling `onEvent` in order with the
    /// library's live events (`LiveEvent`).
    func run(_ file: URL, kind: NotebookFileKind, control: RunControl,
             onEvent: @escaping @Sendable (LiveEvent) -> Void) throws
}

public enum NotebookFileKind: String, Sendable {
    case lesson, exercise
}

/// Stops one run: the backend hooks its own stop (killing the program) in with `onStop`.
public final class RunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var handlers: [@Sendable () -> Void] = []

    public init() {}

    public var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    public func stop() {
        lock.lock()
        let wasStopped = stopped
        stopped = true
        let run = handlers
        lock.unlock()
        if !wasStopped { run.forEach { $0() } }
    }

    /// Calls `handler` on `stop()`, or at once if already stopped.
    public func onStop(_ handler: @escaping @Sendable () -> Void) {
        lock.lock()
        if stopped { lock.unlock(); handler(); return }
        handlers.append(handler)
        lock.unlock()
    }
}
