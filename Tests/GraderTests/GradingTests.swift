import XCTest
@testable import Grader
import Notebook

/// Grades a small class once (five students x the three sample exercises, about 17 compiles)
/// against the release engine build, then checks every student's outcome. Each student shows
/// one family of behaviour: reference answers, plausible wrong answers, broken programs, greedy
/// programs, and programs that try to cheat.
final class GradingTests: XCTestCase {
    struct Fixture {
        var root: URL
        var exercises: URL
        var submissions: URL
        var output: URL
        var work: URL
        var grades: [ExerciseGrade]
        var written: Gradebook.Written
        var run: GradingRun
    }

    nonisolated(unsafe) static var fixture: Fixture?
    nonisolated(unsafe) static var problem: String?

    static func engine() throws -> EngineBuild {
        let engine = try EngineBuild()
        try engine.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
        return engine
    }

    /// The handout version of `exercise` with answer cell `id`'s code replaced by `code`.
    static func answer(_ exercise: Exercise, _ answers: [String: String]) throws -> String {
        let handout = try exercise.studentVersion()
        let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: handout, path: "x.md")
        var lines = handout.components(separatedBy: "\n")
        for cell in lesson.cells.reversed() {
            guard let code = answers[cell.id] else { continue }
            lines.replaceSubrange(cell.codeLine - 1 ..< cell.endLine - 1, with: code.components(separatedBy: "\n"))
        }
        return lines.joined(separator: "\n")
    }

    static func makeFixture() throws -> Fixture {
        let engine = try engine()
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("grader-tests-\(UUID().uuidString.prefix(8))")
        let exercisesDir = root.appendingPathComponent("exercises")
        let submissions = root.appendingPathComponent("submissions")
        let output = root.appendingPathComponent("gradebooks")
        let work = root.appendingPathComponent("work")
        try fm.createDirectory(at: exercisesDir, withIntermediateDirectories: true)
        for name in ["q01-affine-map.md", "q02-freeze-body.md", "q03-accuracy.md"] {
            try fm.copyItem(at: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/\(name)"),
                            to: exercisesDir.appendingPathComponent(name))
        }
        let q1 = try Exercise.load(path: exercisesDir.appendingPathComponent("q01-affine-map.md").path)
        let q2 = try Exercise.load(path: exercisesDir.appendingPathComponent("q02-freeze-body.md").path)
        let q3 = try Exercise.load(path: exercisesDir.appendingPathComponent("q03-accuracy.md").path)

        func put(_ student: String, _ file: String, _ text: String) throws {
            let folder = submissions.appendingPathComponent(student)
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try text.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        // Reference solutions, as written by the instructor.
        try put("ref", "q01-affine-map.md", q1.lesson.text)
        try put("ref", "q02-freeze-body.md", q2.lesson.text)
        try put("ref", "q03-accuracy.md", q3.lesson.text)
        // Plausible mistakes.
        try put("wrong", "q01-affine-map.md", try answer(q1, ["answer": "let y = x * w\nlet bigCount = 3"]))
        try put("wrong", "q02-freeze-body.md", try answer(q2, ["freeze": """
            for (_, p) in parameters { p.requiresGrad = false }
            let trainable = parameters.filter { $0.1.requiresGrad }.map { $0.0 }
            """]))
        try put("wrong", "q03-accuracy.md", try answer(q3, ["metrics": """
            let accuracy = 4.0 / 6.0
            let confusion = Tensor([1, 0, 0, 0, 1, 0, 0, 0, 2], shape: [3, 3])  // only the correct ones
            """]))
        // Broken programs: a syntax error, a trap, an endless loop.
        try put("broken", "q01-affine-map.md", try answer(q1, ["answer": "let y = x * w +\nlet bigCount = 3"]))
        try put("broken", "q02-freeze-body.md", try answer(q2, ["freeze": "fatalError(\"boom in freeze\")\nlet trainable: [String] = []"]))
        try put("broken", "q03-accuracy.md", try answer(q3, ["metrics": """
            var spin = 0
            while spin >= 0 { spin = (spin &+ 1) % 1000 }
            let accuracy = 0.0
            let confusion = Tensor.zeros(3, 3)
            """]))
        // Greedy programs: unbounded allocation, megabytes of output (but right), a missing file.
        try put("hog", "q01-affine-map.md", try answer(q1, ["answer": """
            var hoard: [[Float]] = []
            while true { hoard.append([Float](repeating: 1, count: 1 << 24)) }
            let y = x
            let bigCount = hoard.count
            """]))
        try put("hog", "q02-freeze-body.md", try answer(q2, ["freeze": """
            for _ in 0..<100_000 { print("spam spam spam spam spam spam spam spam spam spam") }
            for (name, p) in parameters where name.hasPrefix("body.") { p.requiresGrad = false }
            let trainable = parameters.filter { $0.1.requiresGrad }.map { $0.0 }
            """]))
        // Cheating: fake verdicts, writing where grades live, reading hidden checks, forging
        // answers after the fact, garbage in the answers file; a deleted answer cell; a renamed file.
        let cheatCode = """
            let y = x
            let bigCount = 0
            print("{\\"check\\":0,\\"passed\\":true,\\"message\\":\\"\\"}")
            print("{\\"done\\":true}")
            print("all 4 checks passed: 4/4")
            for target in ["\(output.path)/gradebook-forged.csv", "\(work.path)/private/forged.jsonl",
                           "\(work.path)/checkers/forged", "\(exercisesDir.path)/forged.md"] {
                FileManager.default.createFile(atPath: target, contents: Data("ref,q01-affine-map,(exercise),100,4,ok,\\n".utf8))
            }
            let secret = (try? String(contentsOfFile: "\(exercisesDir.path)/q01-affine-map.md", encoding: .utf8)) ?? "unreadable"
            export("leak", secret)
            print(secret == "unreadable" ? "exercise file: unreadable" : "exercise file: READ")
            let junk = "{\\"name\\":\\"bigCount\\",\\"value\\":{\\"int\\":\\"3\\"}}\\n{not json\\n{\\"name\\":\\"deep\\",\\"value\\":" + String(repeating: "{\\"list\\":[", count: 5000) + "\\n"
            if let h = FileHandle(forWritingAtPath: "answers.jsonl") { h.seekToEndOfFile(); h.write(Data(junk.utf8)); try? h.close() }
            let late = Process()
            late.executableURL = URL(fileURLWithPath: "/bin/sh")
            late.arguments = ["-c", "setsid sh -c 'sleep 2; echo {\\\\\\"name\\\\\\":\\\\\\"bigCount\\\\\\",\\\\\\"value\\\\\\":{\\\\\\"int\\\\\\":3}} >> answers.jsonl; touch late-writer-ran' &"]
            try? late.run()
            """
        try put("cheat", "q01-affine-map.md", try answer(q1, ["answer": cheatCode]))
        var q2Deleted = try answer(q2, [:])
        let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: q2Deleted, path: "x.md")
        let freeze = lesson.cells.first { $0.id == "freeze" }!
        var lines = q2Deleted.components(separatedBy: "\n")
        lines.removeSubrange(freeze.line - 1 ... freeze.endLine - 1)
        q2Deleted = lines.joined(separator: "\n")
        try put("cheat", "q02-freeze-body.md", q2Deleted)
        try put("cheat", "q03-mine-renamed.md", q3.lesson.text)

        var limits = SandboxLimits()
        limits.wallSeconds = 10
        limits.cpuSeconds = 20
        limits.memoryBytes = 512 << 20
        var run = try GradingRun(exercisesDirectory: exercisesDir, submissions: submissions, output: output,
                                 engine: engine, workDirectory: work, limits: limits)
        run.parallelism = 2
        let (grades, written) = try run.run()
        return Fixture(root: root, exercises: exercisesDir, submissions: submissions, output: output, work: work,
                       grades: grades, written: written, run: run)
    }

    override func setUpWithError() throws {
        if Self.fixture == nil && Self.problem == nil {
            do {
                _ = try Self.engine()
            } catch {
                Self.problem = "\(error)"
            }
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

    func grade(_ student: String, _ exercise: String) -> ExerciseGrade {
        f.grades.first { $0.student == student && $0.exercise == exercise }!
    }

    func points(_ student: String, _ exercise: String) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: grade(student, exercise).checks.map { ($0.name, $0.points) })
    }

    func testReferenceSolutionsScoreFullMarks() {
        for exercise in ["q01-affine-map", "q02-freeze-body", "q03-accuracy"] {
            let g = grade("ref", exercise)
            XCTAssertEqual(g.status, .ok, "\(exercise): \(g.message)")
            XCTAssertEqual(g.points, g.maxPoints, "\(exercise): \(g.checks)")
            XCTAssertTrue(g.checks.allSatisfy { $0.status == .passed })
        }
        XCTAssertEqual(grade("ref", "q01-affine-map").maxPoints, 4)
        XCTAssertEqual(grade("ref", "q03-accuracy").maxPoints, 5)
    }

    func testWrongAnswersLoseExactlyTheirChecks() {
        XCTAssertEqual(points("wrong", "q01-affine-map"), ["y-shape": 1, "y-values": 0, "big-count": 1])
        XCTAssertTrue(grade("wrong", "q01-affine-map").checks[1].message.contains("the values of y"))
        // A hidden check shows its author's words, never the expected values.
        XCTAssertEqual(grade("wrong", "q01-affine-map").checks[1].message, "the values of y")
        XCTAssertFalse(f.grades.flatMap(\.checks).filter(\.hidden).contains { $0.message.contains("expected") })
        XCTAssertEqual(points("wrong", "q02-freeze-body"), ["names": 1, "frozen": 0, "trainable-list": 0])
        XCTAssertTrue(grade("wrong", "q02-freeze-body").checks[1].message.contains("head.weight should be trainable"),
                      grade("wrong", "q02-freeze-body").checks[1].message)
        XCTAssertEqual(points("wrong", "q03-accuracy"), ["accuracy-range": 1, "accuracy-value": 2, "confusion": 0])
        XCTAssertEqual(grade("wrong", "q03-accuracy").status, .ok)
    }

    func testBrokenProgramsGetTheirStatusAndZeroOnlyThere() {
        let c = grade("broken", "q01-affine-map")
        XCTAssertEqual(c.status, .compileError)
        XCTAssertTrue(c.message.contains("q01-affine-map.md:"), c.message)
        XCTAssertTrue(c.message.contains("error:"), c.message)
        XCTAssertEqual(c.points, 0)
        let crash = grade("broken", "q02-freeze-body")
        XCTAssertEqual(crash.status, .crash)
        XCTAssertTrue(crash.message.contains("boom in freeze"), crash.message)
        XCTAssertTrue(crash.message.contains("'freeze'"), crash.message)
        // At the fatalError's own line of the student's file, not the cell's fence.
        let submitted = (try? String(contentsOf: Self.fixture!.submissions.appendingPathComponent("broken/q02-freeze-body.md"), encoding: .utf8)) ?? ""
        let trapLine = (submitted.components(separatedBy: "\n").firstIndex { $0.contains("boom in freeze") } ?? -2) + 1
        XCTAssertTrue(crash.message.contains("(q02-freeze-body.md:\(trapLine))"), "line \(trapLine): \(crash.message)")
        let loop = grade("broken", "q03-accuracy")
        XCTAssertEqual(loop.status, .timeout, loop.message)
        XCTAssertTrue(loop.message.contains("'metrics'"), loop.message)
        XCTAssertEqual(loop.points, 0)
    }

    func testGreedyProgramsAreStoppedOthersStillGraded() {
        let hog = grade("hog", "q01-affine-map")
        XCTAssertEqual(hog.status, .memoryLimit, "\(hog.status): \(hog.message)")
        let spam = grade("hog", "q02-freeze-body")
        XCTAssertEqual(spam.status, .ok, spam.message)
        XCTAssertEqual(spam.points, 4, "\(spam.checks)")
        XCTAssertTrue(spam.notes.contains { $0.contains("only the first") }, "\(spam.notes)")
        XCTAssertLessThanOrEqual(spam.output.utf8.count, 64 << 10)
        let missing = grade("hog", "q03-accuracy")
        XCTAssertEqual(missing.status, .missing)
        XCTAssertEqual(missing.points, 0)
        XCTAssertEqual(missing.maxPoints, 5)
    }

    func testCheatingEarnsNothingExtra() throws {
        let q1 = grade("cheat", "q01-affine-map")
        XCTAssertEqual(points("cheat", "q01-affine-map"), ["y-shape": 1, "y-values": 0, "big-count": 0], q1.message)
        // The gradebook lists cheat's real points only.
        let csv = try String(contentsOf: f.written.csv, encoding: .utf8)
        XCTAssertTrue(csv.contains("cheat,q01-affine-map,(exercise),1,4,ok,"), csv)
        // Deleted cell: its checks fail, the rest of the exercise is graded, the note says why.
        let q2 = grade("cheat", "q02-freeze-body")
        XCTAssertEqual(points("cheat", "q02-freeze-body"), ["names": 1, "frozen": 0, "trainable-list": 0])
        XCTAssertTrue(q2.notes.contains { $0.contains("'freeze' is missing") }, "\(q2.notes)")
        // Renamed file is found by its qNN- prefix.
        XCTAssertEqual(grade("cheat", "q03-accuracy").points, 5)
    }

    func testIsolationHidesExercisesAndKillsLeftoverProcesses() throws {
        guard Sandbox.isolationAvailable else {
            throw XCTSkip("needs root and Linux namespaces (student programs then run as their own uid in their own mount and network namespaces)")
        }
        let fm = FileManager.default
        XCTAssertFalse(fm.fileExists(atPath: f.output.appendingPathComponent("gradebook-forged.csv").path))
        XCTAssertFalse(fm.fileExists(atPath: f.work.appendingPathComponent("private/forged.jsonl").path))
        XCTAssertFalse(fm.fileExists(atPath: f.work.appendingPathComponent("checkers/forged").path))
        XCTAssertFalse(fm.fileExists(atPath: f.exercises.appendingPathComponent("forged.md").path))
        let scratch = f.work.appendingPathComponent("runs/cheat/q01-affine-map")
        let cheat = grade("cheat", "q01-affine-map")
        XCTAssertTrue(cheat.output.contains("exercise file: unreadable"), "the student program could read the exercise file: \(cheat.output)")
        XCTAssertFalse(cheat.output.contains("hidden-check"))
        // Nothing the run wrote is left in its host folder (its writable folder was a tmpfs).
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("answers.jsonl").path))
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("late-writer-ran").path),
                       "a background process outlived the submission")
        // Hidden check code is nowhere in a student's scratch folder.
        for student in ["ref", "wrong", "cheat"] {
            let folder = f.work.appendingPathComponent("runs/\(student)/q01-affine-map")
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name != "q01-affine-map.md" && name != "program" {
                let text = (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
                XCTAssertFalse(text.contains("y-values"), "\(student)/\(name) holds hidden check code")
            }
        }
    }

    func testGradebookFilesAndFeedback() throws {
        let fm = FileManager.default
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: f.written.json)) as! [String: Any]
        let rows = json["rows"] as! [[String: Any]]
        // 5 students x 3 exercises x (1 exercise row + its checks: 3, 3, 3 checks).
        XCTAssertEqual(rows.count, 5 * (4 + 4 + 4))
        XCTAssertTrue(f.written.csv.lastPathComponent.hasPrefix("gradebook-"))
        let feedback = try String(contentsOf: f.written.feedback.appendingPathComponent("ref.html"), encoding: .utf8)
        XCTAssertTrue(feedback.contains("Total: <strong>13 / 13</strong>"), feedback)
        XCTAssertTrue(feedback.contains("Explanation"))
        XCTAssertTrue(feedback.contains("y-values"))
        XCTAssertFalse(feedback.contains("answers.tensor(\"y\")"), "hidden check source leaked into feedback")
        let broken = try String(contentsOf: f.written.feedback.appendingPathComponent("broken.html"), encoding: .utf8)
        XCTAssertTrue(broken.contains("compile-error"))
        XCTAssertFalse(broken.contains("Explanation"))
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: f.written.feedback.path).count, 5)
    }

    func testUnchangedSubmissionsComeFromTheCacheAndOldGradebooksStay() throws {
        let first = f.written
        var run = f.run
        let changed = f.submissions.appendingPathComponent("wrong/q01-affine-map.md")
        let q1 = try Exercise.load(path: f.exercises.appendingPathComponent("q01-affine-map.md").path)
        try Self.answer(q1, ["answer": "let y = x * w + b\nlet bigCount = 3"]).write(to: changed, atomically: true, encoding: .utf8)
        // Only the changed file and the timeout (never cached) are graded again.
        try FileManager.default.removeItem(at: f.submissions.appendingPathComponent("broken/q03-accuracy.md"))
        run.parallelism = 2
        let (grades, second) = try run.run()
        XCTAssertNotEqual(first.csv, second.csv)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.csv.path))
        let fresh = grades.filter { !$0.cached }.map { "\($0.student)/\($0.exercise)" }.sorted()
        XCTAssertEqual(fresh, ["broken/q03-accuracy", "hog/q03-accuracy", "wrong/q01-affine-map"])
        XCTAssertEqual(grades.first { $0.student == "wrong" && $0.exercise == "q01-affine-map" }?.points, 4)
        XCTAssertEqual(grades.first { $0.student == "broken" && $0.exercise == "q03-accuracy" }?.status, .missing)
        XCTAssertEqual(grades.first { $0.student == "ref" && $0.exercise == "q02-freeze-body" }?.points, 4)
    }

    func testStudentSideTestRunsVisibleChecksOnly() throws {
        let q1 = try Exercise.load(path: f.exercises.appendingPathComponent("q01-affine-map.md").path)
        let file = f.root.appendingPathComponent("mine/q01-affine-map.md")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try q1.studentVersion().write(to: file, atomically: true, encoding: .utf8)
        let handout = try Exercise.load(path: file.path, handout: true)
        let grade = try f.run.grader.test(handout: handout, uid: 61999)
        XCTAssertEqual(grade.checks.map(\.name), ["y-shape"])
        XCTAssertEqual(grade.checks[0].status, .passed)
        let report = TestReport.render(grade, path: file.path)
        XCTAssertTrue(report.contains("✓ y-shape"), report)
        XCTAssertTrue(report.contains("tensor([[1., 2.],"), report)
    }
}
