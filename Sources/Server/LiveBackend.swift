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
                    onEvent: @escaping @Sendable (LiveEvent) -> Void) throws {
        let live = LiveRunControl()
        control.onStop { live.stop() }
        switch kind {
        case .lesson:
            _ = try LiveRunner(engine: engine).runLesson(at: file, control: live, onEvent: onEvent)
        case .exercise:
            try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
            _ = try ExerciseGrader(engine: engine, workDirectory: workDirectory).runLive(exerciseAt: file, control: live, onEvent: onEvent)
        }
    }
}
