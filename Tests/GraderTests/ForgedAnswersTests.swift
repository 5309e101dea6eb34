import XCTest
@testable import Grader
import Notebook

/// A student's answer cell runs in the same process as the given cells after it, so it can forge
/// what that process exports. With the course's Q22 (test accuracy), three forgeries that used to
/// score full marks with no work (consistent fake `predictions`, `referencePredictions`, `labels`
/// and `accuracy`) must now earn no more than the untouched starter, because every hidden check
/// compares with the grader's own reference run. The same forgeries graded against the old Q22
/// (Fixtures/q90-forgeable-accuracy.md, whose checks read "reference" values exported by a given
/// cell in the student's process) still take full marks there: that shows each forgery runs and
/// is read. Also: a failed hidden check shows neither the expected value nor the check's code, in
/// the gradebook or the feedback.
final class ForgedAnswersTests: XCTestCase {
    struct Fixture {
        var root: URL
        var exercises: URL
        var work: URL
        var grades: [ExerciseGrade]
        var written: Gradebook.Written
    }

    nonisolated(unsafe) static var fixture: Fixture?
    nonisolated(unsafe) static var problem: String?

    static let exerciseName = "q22-test-accuracy"
    static let forgeableName = "q90-forgeable-accuracy"

    /// Starter answers first (what an honest student who did nothing hands in), then the forgery.
    static let starter = """
        let predictions = Tensor.zerosInt64([1000])
        let accuracy = 0.0
        """

    /// JSON lines that are consistent with each other: every image "predicted" as its own label,
    /// accuracy 1 (the old checks compared these with each other).
    static let forgedLines = """
        var forgedLines = ""
        for name in ["predictions", "referencePredictions", "labels"] {
            forgedLines += "{\\"name\\":\\"\\(name)\\",\\"value\\":\\(testY.answer.json)}\\n"
        }
        forgedLines += "{\\"name\\":\\"accuracy\\",\\"value\\":{\\"num\\":1}}\\n"
        """

    static let forgeries: [String: String] = [
        // (1) An exit handler appends the forged lines after the given cells' exports ("a later
        // export of the same name replaces an earlier one").
        "atexit": starter + "\n" + forgedLines + """

            try! forgedLines.write(toFile: "forged.jsonl", atomically: true, encoding: .utf8)
            atexit {
                guard let path = getenv("WORKBOOK_ANSWERS_FILE"), let handle = FileHandle(forWritingAtPath: String(cString: path)),
                      let forged = FileManager.default.contents(atPath: "forged.jsonl") else { return }
                handle.seekToEndOfFile()
                handle.write(forged)
                try? handle.close()
            }
            """,
        // (2) A top-level `export` with Workbook's signature shadows it for the hand-in cell.
        "shadow": starter + """

            func export(_ name: String, _ value: some AnswerConvertible) {
                var forged = value.answer
                if ["predictions", "referencePredictions", "labels"].contains(name) { forged = testY.answer }
                if name == "accuracy" { forged = .number(1) }
                guard let path = ProcessInfo.processInfo.environment["WORKBOOK_ANSWERS_FILE"],
                      let handle = FileHandle(forWritingAtPath: path) else { return }
                handle.seekToEndOfFile()
                handle.write(Data("{\\"name\\":\\"\\(name)\\",\\"value\\":\\(forged.json)}\\n".utf8))
                try? handle.close()
            }
            """,
        // (4) The kept reference run's exports (next to the student's scratch folder, outside the
        // sandbox) appended at exit: only a sandbox that hides the grader's folders stops this.
        "peek": starter + """

            let kept = "../../../references"
            let file = ((try? FileManager.default.contentsOfDirectory(atPath: kept)) ?? [])
                .first { $0.hasPrefix("q22-") && $0.hasSuffix(".jsonl") }
            let stolen = file.flatMap { FileManager.default.contents(atPath: kept + "/" + $0) } ?? Data()
            print("read \\(stolen.count) bytes of the reference's answers")
            try! stolen.write(to: URL(fileURLWithPath: "forged.jsonl"))
            atexit {
                guard let path = getenv("WORKBOOK_ANSWERS_FILE"), let handle = FileHandle(forWritingAtPath: String(cString: path)),
                      let forged = FileManager.default.contents(atPath: "forged.jsonl") else { return }
                handle.seekToEndOfFile()
                handle.write(forged)
                try? handle.close()
            }
            """,
        // (3) The answers file written directly, then exit(0) before the given cells run.
        "direct": starter + "\n" + forgedLines + """

            try! forgedLines.write(toFile: ProcessInfo.processInfo.environment["WORKBOOK_ANSWERS_FILE"]!,
                                   atomically: false, encoding: .utf8)
            exit(0)
            """,
    ]

    static func makeFixture() throws -> Fixture {
        let engine = try GradingTests.engine()
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("forged-answers-\(UUID().uuidString.prefix(8))")
        let exercises = root.appendingPathComponent("exercises")
        let submissions = root.appendingPathComponent("submissions")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        try fm.copyItem(at: CourseExercisesTests.exercisesDirectory.appendingPathComponent(exerciseName + ".md"),
                        to: exercises.appendingPathComponent(exerciseName + ".md"))
        try fm.copyItem(at: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/\(forgeableName).md"),
                        to: exercises.appendingPathComponent(forgeableName + ".md"))
        for name in [exerciseName, forgeableName] {
            let exercise = try Exercise.load(path: exercises.appendingPathComponent(name + ".md").path)
            func put(_ student: String, _ text: String) throws {
                let folder = submissions.appendingPathComponent(student)
                try fm.createDirectory(at: folder, withIntermediateDirectories: true)
                try text.write(to: folder.appendingPathComponent(name + ".md"), atomically: true, encoding: .utf8)
            }
            try put("honest", try GradingTests.answer(exercise, ["answer": starter]))
            try put("solved", exercise.lesson.text)
            for (student, code) in forgeries where student != "peek" || name == exerciseName {
                try put(student, try GradingTests.answer(exercise, ["answer": code]))
            }
        }
        let work = root.appendingPathComponent("work")
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions,
                                 output: root.appendingPathComponent("gradebooks"), engine: engine, workDirectory: work)
        run.parallelism = 2
        let (grades, written) = try run.run()
        return Fixture(root: root, exercises: exercises, work: work, grades: grades, written: written)
    }

    override func setUpWithError() throws {
        if Self.fixture == nil && Self.problem == nil {
            do { _ = try GradingTests.engine() } catch { Self.problem = "\(error)" }
            if Self.problem == nil { Self.fixture = try Self.makeFixture() }
        }
        if let problem = Self.problem {
            throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`: \(problem)")
        }
    }

    override class func tearDown() {
        if let root = fixture?.root { try? FileManager.default.removeItem(at: root) }
        fixture = nil
    }

    var f: Fixture { Self.fixture! }

    func grade(_ student: String, _ exercise: String = exerciseName) throws -> ExerciseGrade {
        try XCTUnwrap(f.grades.first { $0.student == student && $0.exercise == exercise }, "no grade for \(student)/\(exercise)")
    }

    /// The reference run's exports, as the checker read them.
    func referenceExports() throws -> [String: [String: Any]] {
        let folder = f.work.appendingPathComponent("references")
        let file = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .first { $0.hasPrefix(Self.exerciseName) && $0.hasSuffix(".jsonl") }, "no kept reference run")
        var out: [String: [String: Any]] = [:]
        for line in try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8).split(separator: "\n") {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            out[object["name"] as! String] = object["value"] as? [String: Any]
        }
        return out
    }

    func testForgedAnswersEarnNoMoreThanTheStarter() throws {
        let honest = try grade("honest")
        XCTAssertEqual(honest.checks.map(\.status), [.passed, .failed, .failed], "\(honest.checks)")
        for student in Self.forgeries.keys.sorted() where student != "peek" {
            let forged = try grade(student)
            XCTAssertLessThanOrEqual(forged.points, honest.points,
                                     "\(student): " + forged.checks.map { "\($0.name)=\($0.status.rawValue)" }.joined(separator: " "))
            XCTAssertEqual(forged.checks.first { $0.name == "predictions" }?.status, .failed, student)
            XCTAssertEqual(forged.checks.first { $0.name == "accuracy" }?.status, .failed, student)
            for secret in ["BEGIN SOLUTION", "hidden-check", "reference.tensor"] {
                XCTAssertFalse((forged.output + forged.message + forged.notes.joined()).contains(secret), "\(student): \(secret)")
            }
            // Against checks that trust the student's process, the same forgery takes everything.
            let fooled = try grade(student, Self.forgeableName)
            XCTAssertEqual(fooled.points, fooled.maxPoints,
                           "\(student) on \(Self.forgeableName): \(fooled.message) " + fooled.checks.map { "\($0.name)=\($0.status.rawValue)" }.joined(separator: " "))
        }
        XCTAssertEqual(try grade("honest", Self.forgeableName).points, honest.points)
        // The grader went on: everyone has a grade, and the real solution still earns full marks.
        XCTAssertEqual(Set(f.grades.map(\.student)), Set(["honest", "solved"]).union(Self.forgeries.keys))
        let solved = try grade("solved")
        XCTAssertEqual(solved.points, solved.maxPoints, "\(solved.message) \(solved.checks)")
        // The reference run's own exports hold no forged value.
        let exports = try referenceExports()
        XCTAssertNil(exports["referencePredictions"])
        XCTAssertNotNil(exports["predictions"])
    }

    /// The kept reference runs sit in the grader's work folder beside the students' scratch
    /// folders; a sandboxed program cannot read them.
    func testKeptReferenceRunIsHiddenFromStudents() throws {
        guard Sandbox.isolationAvailable else {
            throw XCTSkip("needs the sandbox (root and Linux namespaces): without it a student program can read the grader's folders")
        }
        let peek = try grade("peek"), honest = try grade("honest")
        XCTAssertTrue(peek.output.contains("read 0 bytes"), peek.output)
        XCTAssertLessThanOrEqual(peek.points, honest.points, peek.checks.map { "\($0.name)=\($0.status.rawValue)" }.joined(separator: " "))

        // The control: without the sandbox the same program finds the kept run and takes everything.
        let fm = FileManager.default
        let submissions = f.root.appendingPathComponent("unsandboxed")
        try fm.createDirectory(at: submissions.appendingPathComponent("peek"), withIntermediateDirectories: true)
        try fm.copyItem(at: f.root.appendingPathComponent("submissions/peek/\(Self.exerciseName).md"),
                        to: submissions.appendingPathComponent("peek/\(Self.exerciseName).md"))
        var run = try GradingRun(exercisesDirectory: f.exercises, submissions: submissions,
                                 output: f.root.appendingPathComponent("unsandboxed-gradebooks"),
                                 engine: try GradingTests.engine(), workDirectory: f.work)
        run.grader.isolate = false
        run.useCache = false
        let unsandboxed = try XCTUnwrap(try run.run().grades.first { $0.exercise == Self.exerciseName })
        XCTAssertFalse(unsandboxed.output.contains("read 0 bytes"), unsandboxed.output)
        XCTAssertEqual(unsandboxed.points, unsandboxed.maxPoints, unsandboxed.output)
    }

    func testFailedHiddenChecksShowNeitherExpectedValuesNorCode() throws {
        let exports = try referenceExports()
        let predictions = try XCTUnwrap((exports["predictions"]?["tensor"] as? [String: Any])?["values"] as? [Any])
            .map { "\($0)" }
        let accuracy = try XCTUnwrap(exports["accuracy"]?["num"] as? Double)
        let honest = try grade("honest")
        XCTAssertEqual(honest.checks.first { $0.name == "predictions" }?.message,
                       "the predicted classes (argmax over each image's logits)")
        XCTAssertEqual(honest.checks.first { $0.name == "accuracy" }?.message, "the test accuracy")

        // The honest student's rows (the solved student's printed output holds the accuracy).
        let csv = try String(contentsOf: f.written.csv, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("honest,\(Self.exerciseName),") }.joined(separator: "\n")
        XCTAssertEqual(csv.split(separator: "\n").count, 4, csv)
        var book = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: f.written.json)) as? [String: Any])
        for key in ["rows", "exercises"] {
            book[key] = (book[key] as? [[String: Any]] ?? []).filter {
                $0["student"] as? String == "honest" && $0["exercise"] as? String == Self.exerciseName
            }
        }
        XCTAssertEqual((book["rows"] as? [Any])?.count, 4)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: book), as: UTF8.self)
        let feedback = try String(contentsOf: f.written.feedback.appendingPathComponent("honest.html"), encoding: .utf8)
        for (name, text) in [("csv", csv), ("json", json), ("feedback", feedback)] {
            // The expected classes, as `expectEqual` would print them, and the expected accuracy.
            for separator in [", ", ","] {
                let run = predictions.prefix(12).joined(separator: separator)
                XCTAssertFalse(text.contains(run), "\(name) holds the expected predictions")
            }
            XCTAssertFalse(text.contains(String(accuracy)), "\(name) holds the expected accuracy \(accuracy)")
            // Nothing of the checks' code.
            for code in ["reference.tensor", "reference.number", "expectEqual", "int64Scalars", "hidden-check"] {
                XCTAssertFalse(text.contains(code), "\(name) holds check code: \(code)")
            }
        }
    }

    /// A later grading run reuses the kept reference run while the exercise is unchanged, runs it
    /// again before a program that does not compile counts against its student (the kept run
    /// vouches for its values, not for today's machine), and runs it again (dropping the old
    /// entry) once the exercise file changes.
    func testReferenceRunIsKeptAcrossGradingRuns() throws {
        let fm = FileManager.default
        let engine = try GradingTests.engine()
        let submissions = f.root.appendingPathComponent("later")
        try fm.createDirectory(at: submissions.appendingPathComponent("late"), withIntermediateDirectories: true)
        let file = f.exercises.appendingPathComponent(Self.exerciseName + ".md")
        let original = try String(contentsOf: file, encoding: .utf8)
        try GradingTests.answer(try Exercise.load(path: file.path), ["answer": Self.starter])
            .write(to: submissions.appendingPathComponent("late/\(Self.exerciseName).md"), atomically: true, encoding: .utf8)
        func grade(_ student: String = "late") throws -> (ExerciseGrade, ExerciseGrade) {
            var run = try GradingRun(exercisesDirectory: f.exercises, submissions: submissions,
                                     output: f.root.appendingPathComponent("later-gradebooks"), engine: engine, workDirectory: f.work)
            run.useCache = false
            let (grades, _) = try run.run()
            let mine = try XCTUnwrap(grades.first { $0.student == student && $0.exercise == Self.exerciseName })
            return (mine, try XCTUnwrap(run.references[Self.exerciseName], "no reference run"))
        }
        let (kept, keptReference) = try grade()
        XCTAssertTrue(keptReference.cached, "the reference ran again for an unchanged exercise")
        XCTAssertEqual(kept.points, try self.grade("honest").points)
        let entries = { try fm.contentsOfDirectory(atPath: self.f.work.appendingPathComponent("references").path)
            .filter { $0.hasPrefix(Self.exerciseName + "-") }.sorted() }
        let before = try entries()
        XCTAssertEqual(before.count, 2, "\(before)")

        try fm.createDirectory(at: submissions.appendingPathComponent("typo"), withIntermediateDirectories: true)
        try GradingTests.answer(try Exercise.load(path: file.path), ["answer": "let predictions = \nlet accuracy = 0.0"])
            .write(to: submissions.appendingPathComponent("typo/\(Self.exerciseName).md"), atomically: true, encoding: .utf8)
        let (typo, checkedReference) = try grade("typo")
        XCTAssertEqual(typo.status, .compileError)
        XCTAssertFalse(checkedReference.cached, "a compile error was blamed on the student on a kept reference's word")
        XCTAssertNil(ExerciseGrader.referenceProblem(checkedReference))
        XCTAssertEqual(try entries(), before)
        try fm.removeItem(at: submissions.appendingPathComponent("typo"))

        defer { try? original.write(to: file, atomically: true, encoding: .utf8) }
        try (original + "\nA note added after the first run.\n").write(to: file, atomically: true, encoding: .utf8)
        let (changed, changedReference) = try grade()
        XCTAssertFalse(changedReference.cached, "a changed exercise must run its reference again")
        XCTAssertNil(ExerciseGrader.referenceProblem(changedReference))
        XCTAssertEqual(changed.points, kept.points)
        let after = try entries()
        XCTAssertEqual(after.count, 2, "\(after)")
        XCTAssertTrue(Set(after).isDisjoint(with: before), "the entry of the old exercise text is still there")
    }
}
