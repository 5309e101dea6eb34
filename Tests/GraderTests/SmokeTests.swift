import XCTest
@testable import Grader
import Notebook

final class SmokeTests: XCTestCase {
    func testReferenceQ1() throws {
        let engine = try EngineBuild()
        try engine.ensureBuilt()
        let root = engine.packageRoot
        let exercise = try Exercise.load(path: root.appendingPathComponent("exercises/q01-affine-map.md").path)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("grader-smoke")
        let grader = ExerciseGrader(engine: engine, workDirectory: work)
        let handout = try exercise.studentVersion()
        print(handout)
        let file = work.appendingPathComponent("alice/q01-affine-map.md")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try exercise.lesson.text.write(to: file, atomically: true, encoding: .utf8)
        let g = grader.grade(student: "alice", exercise: exercise, file: file, uid: 62001)
        print(g)
        try handout.write(to: file, atomically: true, encoding: .utf8)
        let h = grader.grade(student: "alice", exercise: exercise, file: file, uid: 62001)
        print(h)
    }
}
