import XCTest
@testable import Grader
import Notebook

/// Grading never blames a student for the machine, and an interrupted grading run leaves either a
/// whole gradebook set or none.
final class GradingEnvironmentTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("grading-env-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    /// One exercise (the Q1 fixture) and two students: the reference answer and a wrong one.
    func makeClass() throws -> (exercises: URL, submissions: URL, engine: EngineBuild) {
        let engine = try GradingTests.engine()
        let fm = FileManager.default
        let exercises = root.appendingPathComponent("exercises")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        let source = engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/q01-affine-map.md")
        try fm.copyItem(at: source, to: exercises.appendingPathComponent("q01-affine-map.md"))
        let q1 = try Exercise.load(path: exercises.appendingPathComponent("q01-affine-map.md").path)
        let submissions = root.appendingPathComponent("submissions")
        for (student, text) in [("ann", q1.lesson.text),
                                ("bob", try GradingTests.answer(q1, ["answer": "let y = x * w\nlet bigCount = 3"]))] {
            try fm.createDirectory(at: submissions.appendingPathComponent(student), withIntermediateDirectories: true)
            try text.write(to: submissions.appendingPathComponent("\(student)/q01-affine-map.md"), atomically: true, encoding: .utf8)
        }
        return (exercises, submissions, engine)
    }

    func testBrokenEngineIsAnEnvironmentErrorAndNothingIsCached() throws {
        let (exercises, submissions, engine) = try makeClass()
        let output = root.appendingPathComponent("gradebooks")
        // An engine build folder without the library: every program fails to compile, the
        // reference's included, as with a module cache from another machine.
        let empty = root.appendingPathComponent("no-engine")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let broken = try EngineBuild(root: engine.packageRoot.path, buildDirectory: empty.path)
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions, output: output,
                                 engine: broken, workDirectory: root.appendingPathComponent("work"))
        run.parallelism = 1
        let (grades, written) = try run.run()
        XCTAssertEqual(grades.map(\.status), [.environmentError, .environmentError])
        XCTAssertTrue(grades.allSatisfy { $0.message.contains("reference solution fails") }, "\(grades.map(\.message))")
        XCTAssertTrue(grades.allSatisfy { $0.checks.allSatisfy { $0.status == .notRun } })
        XCTAssertNotNil(ExerciseGrader.referenceProblem(try XCTUnwrap(run.references["q01-affine-map"])))
        let cached = try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent(".grade-cache").path)
        XCTAssertEqual(cached, [], "no result of a broken environment may be cached")
        XCTAssertTrue(try String(contentsOf: written.csv, encoding: .utf8).contains("environment-error"))

        // Fixed: the same submissions get their real grades, none from the cache.
        var fixed = try GradingRun(exercisesDirectory: exercises, submissions: submissions, output: output,
                                   engine: engine, workDirectory: root.appendingPathComponent("work"))
        fixed.parallelism = 1
        let (real, _) = try fixed.run()
        XCTAssertEqual(real.map(\.status), [.ok, .ok])
        XCTAssertEqual(real.map(\.points), [4, 2])
        XCTAssertEqual(real.map(\.cached), [false, false])
        XCTAssertNil(ExerciseGrader.referenceProblem(try XCTUnwrap(fixed.references["q01-affine-map"])))

        // Everything cached now: no reference run is needed.
        var again = try GradingRun(exercisesDirectory: exercises, submissions: submissions, output: output,
                                   engine: engine, workDirectory: root.appendingPathComponent("work"))
        again.parallelism = 1
        let (cachedGrades, _) = try again.run()
        XCTAssertEqual(cachedGrades.map(\.cached), [true, true])
        XCTAssertTrue(again.references.isEmpty)
    }

    /// `workbook grade --student`: only the named folders are graded and written; a name with no
    /// folder stops the run before anything is graded, naming it.
    func testSelectedStudentsOnly() throws {
        let (exercises, submissions, engine) = try makeClass()
        let output = root.appendingPathComponent("gradebooks-selected")
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions, output: output,
                                 engine: engine, workDirectory: root.appendingPathComponent("work-selected"))
        run.selectedStudents = ["bob"]
        XCTAssertEqual(try run.students(), ["bob"])
        let (grades, written) = try run.run()
        XCTAssertEqual(Set(grades.map(\.student)), ["bob"])
        let csv = try String(contentsOf: written.csv, encoding: .utf8)
        XCTAssertTrue(csv.contains("bob") && !csv.contains("ann"), csv)
        run.selectedStudents = ["bob", "zed"]
        XCTAssertThrowsError(try run.students()) { XCTAssertTrue("\($0)".contains("'zed'") && "\($0)".contains("--student"), "\($0)") }
    }

    func testModuleCacheFromAnotherPlaceIsRebuilt() throws {
        let (exercises, submissions, engine) = try makeClass()
        let fm = FileManager.default
        let first = root.appendingPathComponent("project-a/.workbook/grade")
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions,
                                 output: root.appendingPathComponent("gradebooks-a"), engine: engine, workDirectory: first)
        run.parallelism = 1
        XCTAssertEqual(try run.run().grades.map(\.points), [4, 2])
        let modules = first.appendingPathComponent("modules")
        XCTAssertTrue(try String(contentsOf: modules.appendingPathComponent("workbook-stamp.txt"), encoding: .utf8)
            .contains("location: \(modules.resolvingSymlinksInPath().path)"))

        // The project copied elsewhere, module cache and all, then graded without the grade cache.
        let second = root.appendingPathComponent("project-b/.workbook/grade")
        try fm.createDirectory(at: second.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.copyItem(at: first, to: second)
        try Data("junk".utf8).write(to: second.appendingPathComponent("modules/left-over.pcm"))
        var copied = try GradingRun(exercisesDirectory: exercises, submissions: submissions,
                                    output: root.appendingPathComponent("gradebooks-b"), engine: engine, workDirectory: second)
        copied.parallelism = 1
        copied.useCache = false
        let grades = try copied.run().grades
        XCTAssertEqual(grades.map(\.status), [.ok, .ok], "\(grades.map(\.message))")
        XCTAssertEqual(grades.map(\.points), [4, 2])
        XCTAssertFalse(fm.fileExists(atPath: second.appendingPathComponent("modules/left-over.pcm").path))
        XCTAssertTrue(try String(contentsOf: second.appendingPathComponent("modules/workbook-stamp.txt"), encoding: .utf8)
            .contains("location: \(second.appendingPathComponent("modules").resolvingSymlinksInPath().path)"))
    }

    /// The `workbook` executable beside the test bundle.
    func workbookExecutable() throws -> URL { try WorkbookExecutable.required() }

    func testKillAtGradebookPublishLeavesTheEarlierSetWholeAndNoTemporaries() throws {
        let (exercises, submissions, engine) = try makeClass()
        let workbook = try workbookExecutable()
        let output = root.appendingPathComponent("gradebooks")
        func grade(killAt: String?) throws -> ChildProcess.Result {
            // Bounded: a stale engine would make the CLI wait for the package lock `swift test` holds.
            let started = Date()
            var env = ProcessInfo.processInfo.environment
            env["WORKBOOK_PACKAGE_ROOT"] = engine.packageRoot.path
            env["WORKBOOK_TEST_KILL_AT"] = killAt
            return try ChildProcess(executable: workbook.path,
                                    arguments: ["grade", submissions.path, "--exercises", exercises.path, "--out", output.path,
                                                "--jobs", "1"],
                                    environment: env).run(check: { Date().timeIntervalSince(started) > 300 })
        }
        let fm = FileManager.default
        let good = try grade(killAt: nil)
        XCTAssertEqual(good.termination, .exited(0), String(decoding: good.stderr + good.stdout, as: UTF8.self))
        let sets = try fm.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix("gradebook-") }
        XCTAssertEqual(sets.count, 1)

        let killed = try grade(killAt: "gradebook-publish")
        XCTAssertEqual(killed.termination, .signalled(SIGKILL))
        // The earlier set is whole; the killed run published nothing, and left only its staging folder.
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix("gradebook-") }, sets)
        let set = output.appendingPathComponent(sets[0])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: set.path).sorted(), ["feedback", sets[0] + ".csv", sets[0] + ".json"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: set.appendingPathComponent("feedback").path).sorted(), ["ann.html", "bob.html"])
        XCTAssertTrue(try fm.contentsOfDirectory(atPath: output.path).contains { $0.hasPrefix(".gradebook-") })

        // The next run removes the killed run's leftovers and publishes a second whole set.
        let next = try grade(killAt: nil)
        XCTAssertEqual(next.termination, .exited(0))
        let names = try fm.contentsOfDirectory(atPath: output.path)
        XCTAssertFalse(names.contains { $0.hasPrefix(".gradebook-") }, "\(names)")
        XCTAssertEqual(names.filter { $0.hasPrefix("gradebook-") }.count, 2)
    }
}

/// The grader copies a student's answers file without following links or reading special files.
extension GradingEnvironmentTests {
    func testAnswersFileSwappedForLinkFifoOrFolderIsNotRead() throws {
        let (exercises, submissions, engine) = try makeClass()
        let fm = FileManager.default
        // A host file the grader can read and the student must never see.
        let secret = root.appendingPathComponent("instructor-secret.jsonl")
        try Data("{\"name\":\"bigCount\",\"value\":{\"int\":\"3\"}}\nSECRET-MARKER\n".utf8).write(to: secret)
        let q1 = try Exercise.load(path: exercises.appendingPathComponent("q01-affine-map.md").path)
        let swaps = [
            "link": "try? FileManager.default.removeItem(atPath: \"answers.jsonl\"); try? FileManager.default.createSymbolicLink(atPath: \"answers.jsonl\", withDestinationPath: \"\(secret.path)\")",
            "hardlink": "try? FileManager.default.removeItem(atPath: \"answers.jsonl\"); try? FileManager.default.linkItem(atPath: \"\(secret.path)\", toPath: \"answers.jsonl\")",
            "fifo": "try? FileManager.default.removeItem(atPath: \"answers.jsonl\"); _ = mkfifo(\"answers.jsonl\", 0o666)",
            "folder": "try? FileManager.default.removeItem(atPath: \"answers.jsonl\"); try? FileManager.default.createDirectory(atPath: \"answers.jsonl\", withIntermediateDirectories: false)",
        ]
        // The same wrong answer without a swap: what the swappers honestly earn.
        try fm.createDirectory(at: submissions.appendingPathComponent("plainwrong"), withIntermediateDirectories: true)
        try GradingTests.answer(q1, ["answer": "let y = x\nlet bigCount = 0"])
            .write(to: submissions.appendingPathComponent("plainwrong/q01-affine-map.md"), atomically: true, encoding: .utf8)
        for (student, code) in swaps {
            // Wrong values, then the swap after the hand-in cell's exports would have been written.
            let text = try GradingTests.answer(q1, ["answer": "let y = x\nlet bigCount = 0\natexit { \(code) }"])
            try fm.createDirectory(at: submissions.appendingPathComponent(student), withIntermediateDirectories: true)
            try text.write(to: submissions.appendingPathComponent("\(student)/q01-affine-map.md"), atomically: true, encoding: .utf8)
        }
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions,
                                 output: root.appendingPathComponent("gradebooks"), engine: engine,
                                 workDirectory: root.appendingPathComponent("work"))
        run.parallelism = 2
        let (grades, written) = try run.run()
        let byStudent = Dictionary(uniqueKeysWithValues: grades.map { ($0.student, $0) })
        XCTAssertEqual(byStudent["ann"]?.points, 4, "the honest reference still grades")
        if Sandbox.isolationAvailable {
            // Sandboxed, the answers file is a bind mount: it cannot be removed or replaced, so
            // each swap fails and the student keeps exactly what the honest wrong answer earns.
            let honest = try XCTUnwrap(byStudent["plainwrong"]).points
            for student in swaps.keys {
                let g = try XCTUnwrap(byStudent[student])
                XCTAssertLessThanOrEqual(g.points, honest, "\(student): \(g.checks)")
            }
        }
        for student in swaps.keys where !Sandbox.isolationAvailable {
            let g = try XCTUnwrap(byStudent[student])
            // No answers read at all: not even the shape check (1 point) the honest wrong answer gets.
            XCTAssertEqual(g.points, 0, "\(student): \(g.checks)")
            // Under its own uid the kernel refuses the hard link itself (fs.protected_hardlinks).
            if student == "hardlink" && Sandbox.isolationAvailable { continue }
            XCTAssertTrue(g.notes.contains { $0.contains("the answers file") }, "\(student): \(g.notes)")
        }
        if !Sandbox.isolationAvailable {
            XCTAssertTrue(byStudent["link"]!.notes.joined().contains("symbolic link"))
            XCTAssertTrue(byStudent["hardlink"]!.notes.joined().contains("hard links"))
            XCTAssertTrue(byStudent["fifo"]!.notes.joined().contains("not a regular file"))
        }
        for file in [written.csv, written.json] {
            XCTAssertFalse(try String(contentsOf: file, encoding: .utf8).contains("SECRET-MARKER"))
        }
        for page in try fm.contentsOfDirectory(atPath: written.feedback.path) {
            XCTAssertFalse(try String(contentsOf: written.feedback.appendingPathComponent(page), encoding: .utf8).contains("SECRET-MARKER"))
        }
    }
}

/// A submission saved on Windows (CRLF, a BOM) is graded like any other, beside the others.
extension GradingEnvironmentTests {
    func testCRLFSubmissionIsGradedBesideANormalOne() throws {
        let (exercises, submissions, engine) = try makeClass()
        let q1 = try Exercise.load(path: exercises.appendingPathComponent("q01-affine-map.md").path)
        let windows = "\u{FEFF}" + q1.lesson.text.replacingOccurrences(of: "\n", with: "\r\n")
        let crlfBroken = try GradingTests.answer(q1, ["answer": "let y = x * w +\nlet bigCount = 3"])
            .replacingOccurrences(of: "\n", with: "\r\n")
        for (student, text) in [("win", windows), ("winbroken", crlfBroken), ("cr", q1.lesson.text.replacingOccurrences(of: "\n", with: "\r"))] {
            try FileManager.default.createDirectory(at: submissions.appendingPathComponent(student), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: submissions.appendingPathComponent("\(student)/q01-affine-map.md"))
        }
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions,
                                 output: root.appendingPathComponent("gradebooks"), engine: engine,
                                 workDirectory: root.appendingPathComponent("work"))
        run.parallelism = 2
        let grades = Dictionary(uniqueKeysWithValues: try run.run().grades.map { ($0.student, $0) })
        XCTAssertEqual(grades["ann"]?.points, 4)
        XCTAssertEqual(grades["bob"]?.points, 2)
        XCTAssertEqual(grades["win"]?.status, .ok, grades["win"]?.message ?? "")
        XCTAssertEqual(grades["win"]?.points, 4)
        XCTAssertEqual(grades["cr"]?.points, 4, grades["cr"]?.message ?? "")
        // A compile error in a CRLF file is reported at the file's own line.
        let broken = try XCTUnwrap(grades["winbroken"])
        XCTAssertEqual(broken.status, .compileError)
        let line = (crlfBroken.components(separatedBy: "\r\n").firstIndex { $0.contains("x * w +") } ?? -2) + 1
        XCTAssertTrue(broken.message.contains("q01-affine-map.md:\(line + 1):") || broken.message.contains("q01-affine-map.md:\(line):"),
                      "line \(line): \(broken.message)")
    }
}
