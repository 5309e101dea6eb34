import XCTest
@testable import Grader
import Notebook

/// An exercise or a submission saved with CRLF, lone CR or a byte order mark reads as its LF twin
/// through the exercise path (roles, checks, explanation, handout, submission program).
final class LineEndingExerciseTests: XCTestCase {
    let sample = """
    ---
    title: Sample
    ---
    Intro.

    ```swift id=given
    let a = 1
    ```

    ```swift id=work
    let keep = 0
        // BEGIN SOLUTION
        let b = a + 1
        // STARTER
        // let b = 0   // your code
        // END SOLUTION
    export("c", b * 2)
    ```

    ```swift check id=visible points=0.5
    try expectEqual(try answers.int("c"), 4, "c")
    ```

    ```swift hidden-check id=secret points=2
    try expect(try answers.int("c") == 4, "hidden message")
    ```

    ## Explanation

    Because 2 * 2 = 4.

    ## After
    Kept.
    """

    func exercise(_ text: String, handout: Bool = false) throws -> Exercise {
        try Exercise(lesson: LessonParser(configuration: Exercise.parserConfiguration).parse(text: text, path: "exercises/q09-x.md"),
                     handout: handout)
    }

    func testCRLFExerciseMatchesItsLFTwin() throws {
        let expected = try exercise(sample)
        for (ending, bom) in [("\r\n", false), ("\r", false), ("\r\n", true), ("\n", true)] {
            let text = (bom ? "\u{FEFF}" : "") + sample.replacingOccurrences(of: "\n", with: ending)
            let e = try exercise(text)
            XCTAssertEqual(e.roles, expected.roles)
            XCTAssertEqual(e.checks, expected.checks)
            XCTAssertEqual(e.explanation, expected.explanation)
            XCTAssertEqual(e.explanationLines, expected.explanationLines)
            XCTAssertEqual(e.lesson.cells, expected.lesson.cells)
            XCTAssertEqual(try e.studentVersion(), try expected.studentVersion())
        }
    }

    func testCRLFExerciseFileLoads() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("q09-crlf-\(UUID().uuidString).md")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(sample.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: url)
        let e = try Exercise.load(path: url.path)
        XCTAssertEqual(e.roles, [.given, .answer, .check, .hiddenCheck])
        XCTAssertEqual(e.explanation, "Because 2 * 2 = 4.")
    }

    func testCRLFSubmissionBuildsTheSameProgram() throws {
        let e = try exercise(sample)
        let submission = "```swift id=work answer\nlet c = 4\nexport(\"c\", c)\n```\n"
        let parser = LessonParser(configuration: Exercise.parserConfiguration)
        let lf = try SubmissionProgram(exercise: e, student: parser.parse(text: submission, path: "q09-x.md"))
        let crlf = try SubmissionProgram(exercise: e, student: parser.parse(text: submission.replacingOccurrences(of: "\n", with: "\r\n"), path: "q09-x.md"))
        XCTAssertEqual(crlf.pieces.map(\.source), lf.pieces.map(\.source))
        XCTAssertEqual(crlf.pieces.map(\.id), ["given", "work"])
    }
}
