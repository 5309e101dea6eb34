import ArgumentParser
import Foundation
import Grader
import Notebook

/// `workbook check`: compiles every lesson and exercise without running them.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Compile lessons and exercises without running them; list every error.")

    @Argument(help: "Files to check (default: lessons/*.md exercises/*.md).")
    var paths: [String] = []

    @Option(help: "Package root (default: found from the current directory, or WORKBOOK_PACKAGE_ROOT).")
    var packageRoot: String?

    func run() throws {
        let engine = try EngineBuild(root: packageRoot)
        let pipeline = LessonPipeline(engine: engine)
        var files = paths
        if files.isEmpty {
            for folder in ["lessons", "exercises"] {
                // The home page's introduction is rendered, not run: nothing to compile.
                let names = ((try? CourseFiles.pages(in: URL(fileURLWithPath: folder))) ?? []).filter { $0 != CourseFiles.intro }
                files += names.map { "\(folder)/\($0)" }
            }
            if files.isEmpty {
                throw ValidationError("no lessons/*.md or exercises/*.md here; name the files to check")
            }
        }
        var errors = 0
        for file in files {
            let problems = Self.isExercise(file) ? Self.checkExercise(file, with: pipeline) : pipeline.check(path: file)
            for problem in problems { print(problem) }
            errors += problems.count
        }
        print("checked \(files.count) file\(files.count == 1 ? "" : "s"): \(errors == 0 ? "no errors" : "\(errors) error\(errors == 1 ? "" : "s")")")
        if errors > 0 { throw ExitCode.failure }
    }

    static func isExercise(_ path: String) -> Bool {
        URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent == "exercises"
    }

    /// An exercise is checked as the site runs it and as the grader judges it: its format
    /// validated, the reference solution compiled with the check cells left out, then the check
    /// cells (hidden ones included) compiled into the grader's checker program, so a typo in a
    /// hidden check shows up here rather than as failed checks for every student.
    static func checkExercise(_ path: String, with pipeline: LessonPipeline) -> [String] {
        do {
            let exercise = try Exercise.load(path: path)
            let problems = pipeline.check(exercise.runnableLesson)
            if !problems.isEmpty { return problems }
            return try checkerProblems(exercise, engine: pipeline.engine)
        } catch {
            return ["\(error)"]
        }
    }

    static func checkerProblems(_ exercise: Exercise, engine: EngineBuild) throws -> [String] {
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("workbook-check-\(getpid())")
        defer { try? fm.removeItem(at: scratch) }
        let compiler = ProgramCompiler.exercises(engine: engine, moduleCache: scratch.appendingPathComponent("modules"))
        return try compiler.checkerErrors(for: exercise, in: scratch.appendingPathComponent("checker"))
            .map { $0.hasPrefix(exercise.path) ? $0 : "\(exercise.path): checks: \($0)" }
    }
}
