import Foundation
import Grader
import Notebook

/// The real backend: CellEditor saves, LiveRunner runs a lesson, ExerciseGrader.runLive runs an
/// exercise with its visible checks (both in the sandbox when it is available, with time and memory
/// limits, and storing a successful run in the execution cache).
public struct LiveBackend: NotebookBackend {
    public var engine: EngineBuild
    /// The exercise grader's scratch folder.
    public var workDirectory: URL

    public init(engine: EngineBuild, workDirectory: URL) {
        self.engine = engine
        self.workDirectory = workDirectory
    }

    public func save(cell: Int, in file: URL, code: String, expected: String?, kind: NotebookFileKind) throws -> Lesson {
        _ = try CellEditor.replaceCode(ofCell: cell, in: file, with: code, expecting: expected)
        // Re-read as the page knows it (an exercise with its cell options).
        let configuration = kind == .exercise ? Exercise.parserConfiguration : LessonParser.Configuration()
        return try LessonParser(configuration: configuration).load(path: file.path)
    }

    public func run(_ file: URL, kind: NotebookFileKind, control: RunControl,
                    onEvent: @escaping @Sendable (NotebookEvent) -> Void) throws {
        let live = LiveRunControl()
        control.onStop { live.stop() }
        let forward: @Sendable (LiveEvent) -> Void = { onEvent(Self.event($0)) }
        switch kind {
        case .lesson:
            _ = try LiveRunner(engine: engine).runLesson(at: file, control: live, onEvent: forward)
        case .exercise:
            try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
            _ = try ExerciseGrader(engine: engine, workDirectory: workDirectory).runLive(exerciseAt: file, control: live, onEvent: forward)
        }
    }

    static func event(_ event: LiveEvent) -> NotebookEvent {
        switch event {
        case .compiling: .compiling
        case .compileFailed(let problems): .compileFailed(problems.map { .init(cell: $0.cell, line: $0.line, message: $0.message) })
        case .cellStarted(let cell): .cellStarted(cell: cell)
        case .output(let cell, let output): .output(cell: cell, output)
        case .progress(let cell, let p): .progress(cell: cell, label: p.label, done: p.done, total: p.total, text: p.text)
        case .cellFinished(let result): .cellFinished(result)
        case .check(let c): .check(.init(name: c.name, passed: c.passed, points: c.points, max: c.max, message: c.message))
        case .finished(let succeeded, let stopped, let seconds): .finished(succeeded: succeeded, stopped: stopped, seconds: seconds)
        }
    }
}
