import ArgumentParser
import Foundation
import Grader
import Notebook

/// `workbook test exercises/qNN-slug.md`: a student runs their answers and the visible checks.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Run an exercise's cells and its visible checks; report pass/fail per check.")

    @Argument(help: "Exercise files (your copies from the handout).")
    var files: [String]

    @Option(help: "Package root (default: found from the current directory, or WORKBOOK_PACKAGE_ROOT).")
    var packageRoot: String?

    func run() throws {
        let engine = try EngineBuild(root: packageRoot)
        try engine.ensureBuilt()
        let grader = ExerciseGrader(engine: engine, workDirectory: engine.packageRoot.appendingPathComponent(".workbook/test"))
        var failed = false
        for path in files {
            do {
                let exercise = try Exercise.load(path: path, handout: true)
                let grade = try grader.test(handout: exercise, uid: 61999)
                print(TestReport.render(grade, path: path))
                if grade.status != .ok || grade.checks.contains(where: { $0.status != .passed }) { failed = true }
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}
