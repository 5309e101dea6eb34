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
    /// Runs `file` to the end or until `control` is stopped, calling `onEvent` in order.
    func run(_ file: URL, kind: NotebookFileKind, control: RunControl,
             onEvent: @escaping @Sendable (NotebookEvent) -> Void) throws
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

/// What happens during a run, in the order it happens (the library's live events, in the server's terms).
public enum NotebookEvent: Sendable {
    public struct Problem: Sendable, Equatable {
        public var cell: Int?
        public var line: Int
        public var message: String
        public init(cell: Int?, line: Int, message: String) { self.cell = cell; self.line = line; self.message = message }
    }
    public struct Check: Sendable, Equatable {
        public var name: String
        public var passed: Bool
        public var points: Double
        public var max: Double
        public var message: String
        public init(name: String, passed: Bool, points: Double, max: Double, message: String) {
            self.name = name; self.passed = passed; self.points = points; self.max = max; self.message = message
        }
    }

    case compiling
    case compileFailed([Problem])
    case cellStarted(cell: Int)
    case output(cell: Int, CellOutput)
    case progress(cell: Int, label: String, done: Int, total: Int, text: String)
    case cellFinished(CellResult)
    case check(Check)
    case finished(succeeded: Bool, stopped: Bool, seconds: Double)
}
