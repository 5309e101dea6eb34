import XCTest
@testable import Grader
import Notebook

/// `workbook check` compiles an exercise's checks the way the grader will: a hidden check with a
/// typo is reported at its Markdown line before any student is graded.
final class CheckerCompileTests: XCTestCase {
    func testBrokenHiddenCheckIsReportedAtItsMarkdownLine() throws {
        let engine = try GradingTests.engine()
        let fixture = engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/q01-affine-map.md")
        let good = try Exercise.load(path: fixture.path)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("checker-compile-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let compiler = ProgramCompiler.exercises(engine: engine, moduleCache: scratch.appendingPathComponent("modules"))
        XCTAssertEqual(try compiler.checkerErrors(for: good, in: scratch.appendingPathComponent("good")), [])

        // Break the last hidden check cell: its first code line names an undefined variable.
        let hidden = try XCTUnwrap(good.checks.last { $0.hidden }, "the fixture has a hidden check")
        let cell = good.lesson.cells[hidden.cell]
        var lines = good.lesson.text.components(separatedBy: "\n")
        lines.insert("let broken = notDefinedAnywhere + 1", at: cell.codeLine - 1)
        let badLesson = try LessonParser(configuration: Exercise.parserConfiguration)
            .parse(text: lines.joined(separator: "\n"), path: "exercises/q01-affine-map.md")
        let bad = try Exercise(lesson: badLesson)
        let errors = try compiler.checkerErrors(for: bad, in: scratch.appendingPathComponent("bad"))
        XCTAssertEqual(errors.count, 1, "\(errors)")
        XCTAssertTrue(errors.first?.hasPrefix("exercises/q01-affine-map.md:\(cell.codeLine):") == true, "\(errors)")
        XCTAssertTrue(errors.first?.contains("notDefinedAnywhere") == true, "\(errors)")
    }
}
