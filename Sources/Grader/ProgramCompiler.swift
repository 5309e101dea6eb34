import Foundation
import Notebook

extension ProgramCompiler {
    /// The compiler of exercise programs (the student's and the checker): module `WorkbookExercise`,
    /// with the grader's shared module cache.
    public static func exercises(engine: EngineBuild, moduleCache: URL) -> ProgramCompiler {
        ProgramCompiler(engine: engine, moduleCache: moduleCache, moduleName: "WorkbookExercise")
    }

    /// Compiles `exercise`'s checks (hidden ones included) into the grader's checker program in
    /// `directory` and returns its compile errors, located at the exercise's Markdown lines. An
    /// instructor runs this before grading (`workbook check`): a broken hidden check would
    /// otherwise fail for every student.
    public func checkerErrors(for exercise: Exercise, in directory: URL) throws -> [String] {
        let (source, _) = SubmissionProgram.checkerSource(exercise: exercise, includeHidden: true)
        return try compile(source: source, name: "checker", in: directory).failureMessages
    }
}

extension ProgramCompiler.Output {
    /// What a failed compile tells the student: its error lines, else why it failed.
    public var failureMessages: [String] {
        guard executable == nil else { return [] }
        if !errors.isEmpty { return errors.map(\.description) }
        return [timedOut ? "the compiler took too long and was stopped" : "compilation failed: \(String(log.suffix(2000)))"]
    }
}
