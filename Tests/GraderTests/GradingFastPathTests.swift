import XCTest
@testable import Grader
import Notebook

/// Grading's fast path (the driver's jobs run from a kept plan, lld, OpenBLAS's kernels given in
/// the environment instead of a re-exec) grades exactly as the plain path: same statuses,
/// messages, check verdicts and output, for right, wrong, non-compiling and trapping answers.
final class GradingFastPathTests: XCTestCase {
    func testFastPathGradesExactlyAsThePlainPath() throws {
        let engine = try GradingTests.engine()
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("grading-fast-path-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: root) }
        let exercise = try Exercise.load(path: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/q01-affine-map.md").path)
        let answers: [String: String] = [
            "right": exercise.lesson.text,
            "wrong": try GradingTests.answer(exercise, ["answer": "let y = x * w\nlet bigCount = 3"]),
            "syntax": try GradingTests.answer(exercise, ["answer": "let y = x * w +\nlet bigCount = 3"]),
            "trap": try GradingTests.answer(exercise, ["answer": "let y = x\nlet bigCount: Int = [1][2]"]),
        ]
        var results: [[String]] = []
        for fast in [true, false] {
            let work = root.appendingPathComponent(fast ? "fast" : "plain")
            let grader = ExerciseGrader(engine: engine, workDirectory: work)
            grader.isolate = Sandbox.isolationAvailable
            grader.compiler.reusesDriverPlan = fast
            grader.compiler.usesToolchainLinker = fast
            grader.presetsOpenBLASCoreType = fast
            let reference = grader.cachedReference(exercise: exercise, uid: 61990)
            XCTAssertNil(ExerciseGrader.referenceProblem(reference.grade))
            var graded: [String] = []
            for (student, text) in answers.sorted(by: { $0.key < $1.key }) {
                let folder = root.appendingPathComponent("submissions/\(student)")
                try fm.createDirectory(at: folder, withIntermediateDirectories: true)
                let file = folder.appendingPathComponent("q01-affine-map.md")
                try text.write(to: file, atomically: true, encoding: .utf8)
                var grade = grader.grade(student: student, exercise: exercise, file: file, uid: 62990, reference: reference.answers)
                grade.seconds = 0
                grade.compileSeconds = nil
                grade.runSeconds = nil
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                graded.append(String(decoding: try encoder.encode(grade), as: UTF8.self))
            }
            XCTAssertEqual(grader.stageTimes.summary["compile: frontend"] != nil, fast, "the fast path runs the planned jobs")
            results.append(graded)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertTrue(results[0].contains { $0.contains("\"status\":\"compile-error\"") })
        XCTAssertTrue(results[0].contains { $0.contains("\"status\":\"crash\"") })
    }
}
