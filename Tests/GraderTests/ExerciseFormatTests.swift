import XCTest
@testable import Grader
import Notebook

/// The exercise format, the handout and the gradebook files: no compiler needed.
final class ExerciseFormatTests: XCTestCase {
    func exercise(_ text: String, handout: Bool = false) throws -> Exercise {
        try Exercise(lesson: LessonParser(configuration: Exercise.parserConfiguration).parse(text: text, path: "exercises/q09-x.md"),
                     handout: handout)
    }

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
    // BEGIN SOLUTION
    let c = b * 2
    // END SOLUTION
    export("c", c)
    ```

    ```swift check id=visible points=0.5
    try expectEqual(try answers.int("c"), 4, "c")
    ```

    ```swift hidden-check id=secret points=2
    try expect(try answers.int("c") == 4, "hidden message")
    ```

    Outro stays.

    ## Explanation

    Because 2 * 2 = 4.

    ## After
    Kept.
    """

    func testRolesChecksAndExplanation() throws {
        let e = try exercise(sample)
        XCTAssertEqual(e.roles, [.given, .answer, .check, .hiddenCheck])
        XCTAssertEqual(e.checks, [.init(id: "visible", points: 0.5, hidden: false, cell: 2),
                                  .init(id: "secret", points: 2, hidden: true, cell: 3)])
        XCTAssertEqual(e.maxPoints, 2.5)
        XCTAssertEqual(e.explanation, "Because 2 * 2 = 4.")
        XCTAssertEqual(e.title, "Sample")
    }

    func testStudentVersionRemovesSolutionsHiddenChecksAndExplanation() throws {
        let handout = try exercise(sample).studentVersion()
        XCTAssertFalse(handout.contains("BEGIN SOLUTION"))
        XCTAssertFalse(handout.contains("a + 1"))
        XCTAssertFalse(handout.contains("b * 2"))
        XCTAssertFalse(handout.contains("hidden"))
        XCTAssertFalse(handout.contains("secret"))
        XCTAssertFalse(handout.contains("Because"))
        XCTAssertTrue(handout.contains("```swift id=work answer\nlet keep = 0\n    // YOUR CODE HERE\n    let b = 0   // your code\n// YOUR CODE HERE\nfatalError(\"not yet answered\")\nexport(\"c\", c)\n```"), handout)
        XCTAssertTrue(handout.contains("```swift check id=visible points=0.5"))
        XCTAssertTrue(handout.contains("Outro stays."))
        XCTAssertTrue(handout.contains("## After\nKept."))
        // The handout is itself a valid exercise for `workbook test`, with the visible check only.
        let h = try exercise(handout, handout: true)
        XCTAssertEqual(h.roles, [.given, .answer, .check])
        XCTAssertEqual(h.checks.map(\.id), ["visible"])
    }

    func testFormatErrorsNameTheLine() {
        func problem(_ text: String) -> String {
            do { _ = try exercise(text); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(problem("```swift\n// BEGIN SOLUTION\nlet x = 1\n// END SOLUTION\n```\n```swift check id=c\n```\n")
            .contains("exercises/q09-x.md:1: error: an answer cell needs a stable name"))
        XCTAssertTrue(problem("```swift id=a\n// BEGIN SOLUTION\nlet x = 1\n```\n```swift check id=c\n```\n")
            .contains("q09-x.md:2: error: '// BEGIN SOLUTION' has no '// END SOLUTION'"))
        XCTAssertTrue(problem("```swift id=a\n// BEGIN SOLUTION\n// STARTER\nlet x = 0\n// END SOLUTION\n```\n```swift check id=c\n```\n")
            .contains("q09-x.md:4: error: starter lines must be commented out"))
        XCTAssertTrue(problem("```swift id=a answer\nlet x = 1\n```\n```swift check\n```\n").contains("a check cell needs a name"))
        XCTAssertTrue(problem("```swift id=a answer\nlet x = 1\n```\n```swift check id=c points=lots\n```\n").contains("points=2"))
        XCTAssertTrue(problem("```swift id=a answer\nlet x = 1\n```\n").contains("at least one check"))
        XCTAssertTrue(problem("```swift id=a\nlet x = 1\n```\n```swift check id=c\n```\n").contains("at least one answer cell"))
    }

    func testSubmissionProgramTakesOnlyAnswerCellsFromTheStudent() throws {
        let e = try exercise(sample)
        let student = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: """
        ```swift id=given
        let a = 100  // edited given cell: ignored
        ```

        ```swift
        let helper = 5  // added cell: ignored, reported
        ```

        ```swift id=work answer
        let c = 4
        export("c", c)
        ```

        ```swift check id=visible
        // the student's copy of a check never runs
        ```
        """, path: "q09-x.md")
        let program = try SubmissionProgram(exercise: e, student: student)
        XCTAssertEqual(program.pieces.map(\.id), ["given", "work"])
        XCTAssertEqual(program.pieces[0].source, "let a = 1\n")
        XCTAssertEqual(program.pieces[1].source, "let c = 4\nexport(\"c\", c)\n")
        XCTAssertEqual(program.ignoredCells, [5])
        let source = program.source(seed: nil, threads: nil)
        XCTAssertTrue(source.contains("#sourceLocation(file: \"q09-x.md\", line: 10)"), source)
        XCTAssertFalse(source.contains("hidden message"))
        XCTAssertFalse(source.contains("answers."))
        let (checker, checks) = SubmissionProgram.checkerSource(exercise: e, includeHidden: false)
        XCTAssertEqual(checks.map(\.id), ["visible"])
        XCTAssertFalse(checker.contains("hidden message"))
        XCTAssertTrue(SubmissionProgram.checkerSource(exercise: e, includeHidden: true).source.contains("hidden message"))
        // A student without the answer cell gets the starter in its place.
        let empty = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: "Nothing.\n", path: "q09-x.md")
        let fallback = try SubmissionProgram(exercise: e, student: empty)
        XCTAssertEqual(fallback.missingCells, ["work"])
        XCTAssertTrue(fallback.pieces[1].source.contains("fatalError(\"not yet answered\")"))
    }

    /// `workbook test` has no reference run, so a visible check may not read `reference`: an
    /// authoring error at the line that does; hidden checks get it as a closure parameter.
    func testOnlyHiddenChecksReadTheReference() throws {
        let head = "```swift id=work\n// BEGIN SOLUTION\nlet c = 4\n// END SOLUTION\nexport(\"c\", c)\n```\n\n"
        XCTAssertThrowsError(try exercise(head + """
            ```swift check id=peek
            let mine = try answers.int("c")
            try expectEqual(mine, try reference.int("c"), "c")
            ```
            """)) { error in
            XCTAssertTrue("\(error)".hasPrefix("exercises/q09-x.md:10:"), "\(error)")
            XCTAssertTrue("\(error)".contains("visible check 'peek' reads `reference`"), "\(error)")
        }
        // The word in a comment, a string or as a member is not a use.
        let fine = try exercise(head + """
            ```swift check id=words
            // compared with the reference later
            let note = "no reference here", model = try answers.model("m")
            try expect(model.names.count > 0 && !note.isEmpty, "the reference model /* reference */")
            _ = model.reference
            ```

            ```swift hidden-check id=compare points=2
            try expectEqual(try answers.int("c"), try reference.int("c"), "c")
            ```
            """)
        XCTAssertEqual(fine.checks.map(\.id), ["words", "compare"])
        XCTAssertEqual(Exercise.referenceUseLine(in: "let a = 1\n  reference.int(\"x\")\n"), 1)
        XCTAssertNil(Exercise.referenceUseLine(in: "/* reference /* nested reference */ reference */ let x = \"\"\"\nreference\n\"\"\"\n"))
        let source = SubmissionProgram.checkerSource(exercise: fine, includeHidden: true).source
        XCTAssertTrue(source.contains("_Check(id: \"words\") { answers, _ in"), source)
        XCTAssertTrue(source.contains("_Check(id: \"compare\") { answers, reference in"), source)
    }

    func testGradebookEscapesAndNeverOverwrites() throws {
        let g = ExerciseGrade(student: "<script>x</script>", exercise: "q01", status: .crash,
                              message: "=HYPERLINK(\"evil\"), and <b>", notes: [],
                              checks: [CheckGrade(name: "c1", hidden: true, points: 0, max: 2, status: .failed, message: "a,b \"q\"")],
                              output: "<img src=x>", seconds: 1)
        let book = Gradebook(grades: [g], date: Date(timeIntervalSince1970: 1_800_000_000))
        XCTAssertTrue(book.csv.contains("\"'=HYPERLINK(\"\"evil\"\"), and <b>\""), book.csv)
        XCTAssertTrue(book.csv.contains(",c1,0,2,failed,\"a,b \"\"q\"\"\"\n"), book.csv)
        let html = book.feedbackHTML(for: g.student)
        XCTAssertFalse(html.contains("<script>x"))
        XCTAssertFalse(html.contains("<img src=x>"))
        XCTAssertTrue(html.contains("&lt;script&gt;x&lt;/script&gt;"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gradebook-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try book.write(to: dir)
        let second = try book.write(to: dir)
        XCTAssertNotEqual(first.csv, second.csv)
        XCTAssertTrue(second.csv.lastPathComponent.hasSuffix("-2.csv"), second.csv.path)
        XCTAssertTrue(first.csv.lastPathComponent.hasPrefix("gradebook-20"))
        XCTAssertEqual(try String(contentsOf: first.csv, encoding: .utf8), book.csv)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(files, [])
    }

    func testReleaseWritesEveryHandoutAtomically() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("release-test-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: dir) }
        let exercises = dir.appendingPathComponent("exercises")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        try sample.write(to: exercises.appendingPathComponent("q09-x.md"), atomically: true, encoding: .utf8)
        try "format notes".write(to: exercises.appendingPathComponent("FORMAT.md"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("handout")
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try "old".write(to: out.appendingPathComponent("stale.md"), atomically: true, encoding: .utf8)
        let written = try Release(exercisesDirectory: exercises).write(to: out)
        XCTAssertEqual(written.map { URL(fileURLWithPath: $0).lastPathComponent }, ["q09-x.md"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: out.path), ["q09-x.md"])
        // A broken exercise: nothing is written, the previous handout stays.
        try "```swift id=a\n// BEGIN SOLUTION\n```\n".write(to: exercises.appendingPathComponent("q10-bad.md"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Release(exercisesDirectory: exercises).write(to: out)) { error in
            XCTAssertTrue("\(error)".contains("q10-bad.md:2"), "\(error)")
        }
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: out.path), ["q09-x.md"])
    }
}
