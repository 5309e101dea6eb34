import XCTest
@testable import Grader
import Notebook

/// `workbook grade --shard` and `workbook gradebook ...` as an instructor runs them: the real
/// CLI beside the test bundle.
final class GradebookCLITests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gradebook-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    func workbook(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (ChildProcess.Result, String, String) {
        let executable = try WorkbookExecutable.required()
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        let started = Date()
        // Bounded: a stale engine would make the CLI wait for the package lock `swift test` holds.
        let result = try ChildProcess(executable: executable.path, arguments: arguments, environment: env)
            .run(check: { Date().timeIntervalSince(started) > 600 })
        return (result, String(decoding: result.stdout, as: UTF8.self), String(decoding: result.stderr, as: UTF8.self))
    }

    /// Three partial gradebooks made by hand (shard i of 3), for the commands that need no grading.
    func partials() throws -> [URL] {
        let students = ["ann", "bob", "cyd", "fay", "hal"]
        return try (1...3).map { i in
            let url = root.appendingPathComponent("shard-\(i)/gradebook.sqlite")
            let db = try GradebookDatabase(url: url, create: true)
            let mine = students.filter { Shard(index: i, count: 3).contains($0) }
            try db.record(GradebookDatabaseTests.run(mine.flatMap { s in
                [GradebookDatabaseTests.grade(s, "q01-affine-map", passed: [true, s != "bob"]),
                 GradebookDatabaseTests.grade(s, "q02-freeze-body", passed: [s == "ann", true])]
            }, shard: Shard(index: i, count: 3)))
            return url
        }
    }

    func testKilledMergeLeavesTheGradebookWholeAndTheNextMergeWorks() throws {
        let parts = try partials()
        let out = root.appendingPathComponent("gradebooks")
        // An earlier run is in the output gradebook already.
        let db = try GradebookDatabase(url: out.appendingPathComponent("gradebook.sqlite"), create: true)
        let earlier = try db.record(GradebookDatabaseTests.run([GradebookDatabaseTests.grade("ann", "q01-affine-map", passed: [true, true])]))
        let before = try GradebookDatabaseTests.snapshot(try db.run(earlier))
        // Killed inside the transaction, after the merged run's submissions and checks were inserted.
        let (killed, _, killedErr) = try workbook(["gradebook", "merge", out.path] + parts.map(\.path),
                                                  environment: ["WORKBOOK_TEST_KILL_AT": "gradebook-record"])
        XCTAssertEqual(killed.termination, .signalled(SIGKILL), killedErr)
        let reopened = try GradebookDatabase(url: out.appendingPathComponent("gradebook.sqlite"))
        XCTAssertEqual(try reopened.runs().map(\.id), [earlier])
        XCTAssertEqual(try GradebookDatabaseTests.snapshot(try reopened.run(earlier)), before)
        XCTAssertEqual(try reopened.integrityCheck(), "ok")
        XCTAssertEqual(try reopened.studentCount(run: earlier + 1), 0, "rows of the killed merge were left")

        let (merged, stdout, stderr) = try workbook(["gradebook", "merge", out.path] + parts.map(\.path))
        XCTAssertEqual(merged.termination, .exited(0), stdout + stderr)
        XCTAssertTrue(stdout.contains("merged 3 shards: 5 students x 2 exercises as run \(earlier + 1)"), stdout)
        XCTAssertTrue(stdout.contains("gradebook: \(out.path)/gradebook-"), stdout)
        XCTAssertEqual(try reopened.runs().map(\.id), [earlier, earlier + 1])
        XCTAssertEqual(try reopened.run(earlier + 1).students, ["ann", "bob", "cyd", "fay", "hal"])

        // A missing shard is refused, naming it; nothing is recorded.
        let (refused, _, message) = try workbook(["gradebook", "merge", out.path, parts[0].path, parts[2].path])
        XCTAssertNotEqual(refused.termination, .exited(0))
        XCTAssertTrue(message.contains("missing shard 2/3"), message)
        XCTAssertEqual(try reopened.runs().count, 2)
    }

    func testShowExportDiffAndRunsCommands() throws {
        let out = root.appendingPathComponent("gradebooks")
        let db = try GradebookDatabase(url: out.appendingPathComponent("gradebook.sqlite"), create: true)
        let g = GradebookDatabaseTests.self
        try db.record(g.run([g.grade("ann", "q01-affine-map", passed: [true, false]), g.grade("bob", "q01-affine-map", passed: [true, true])]))
        var fixed = g.run([g.grade("ann", "q01-affine-map", passed: [true, true]), g.grade("bob", "q01-affine-map", passed: [true, true])],
                          hash: "set-2", started: Date(timeIntervalSince1970: 1_800_050_000))
        fixed.exercises[0].hash = "h1-fixed"
        try db.record(fixed)

        let (show, table, e1) = try workbook(["gradebook", "show", "--gradebook", out.path])
        XCTAssertEqual(show.termination, .exited(0), e1)
        XCTAssertTrue(table.contains("student  q01  q02  total  run"), table)
        let (one, student, _) = try workbook(["gradebook", "show", "--gradebook", out.path, "--student", "ann", "--run", "1"])
        XCTAssertEqual(one.termination, .exited(0))
        XCTAssertTrue(student.contains("✗ y-values (hidden): 0/3"), student)
        let (unknown, _, unknownErr) = try workbook(["gradebook", "show", "--gradebook", out.path, "--student", "zed"])
        XCTAssertNotEqual(unknown.termination, .exited(0))
        XCTAssertTrue(unknownErr.contains("no grades for 'zed'"), unknownErr)

        let canvasFile = root.appendingPathComponent("canvas.csv")
        let (export, _, e2) = try workbook(["gradebook", "export", "--gradebook", out.path, "--format", "canvas",
                                            "--assignment-id", "7001", "--output", canvasFile.path])
        XCTAssertEqual(export.termination, .exited(0), e2)
        let rows = CSVRows.parse(try String(contentsOf: canvasFile, encoding: .utf8))
        XCTAssertEqual(rows[0], ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Workbook exercises (7001)"])
        XCTAssertEqual(rows[2], ["ann", "4242", "", "", "", "4"])
        let (json, jsonText, _) = try workbook(["gradebook", "export", "--gradebook", out.path, "--format", "json", "--per-exercise"])
        XCTAssertEqual(json.termination, .exited(0))
        XCTAssertTrue(jsonText.contains("\"canvasUserID\" : \"4242\""), jsonText)

        let (diff, diffText, e3) = try workbook(["gradebook", "diff", "1", "2", "--gradebook", out.path])
        XCTAssertEqual(diff.termination, .exited(0), e3)
        XCTAssertTrue(diffText.contains("checks changed in: q01-affine-map"), diffText)
        XCTAssertTrue(diffText.contains("ann: 1 -> 4 (+3)"), diffText)
        let (runs, runsText, _) = try workbook(["gradebook", "runs", "--gradebook", out.path])
        XCTAssertEqual(runs.termination, .exited(0))
        XCTAssertTrue(runsText.contains("run 2 ") && runsText.contains("(changed)"), runsText)

        // Not a gradebook: refused, naming the file, untouched.
        let stranger = root.appendingPathComponent("stranger.sqlite")
        try Data("hello".utf8).write(to: stranger)
        let (refused, _, why) = try workbook(["gradebook", "show", "--gradebook", stranger.path])
        XCTAssertNotEqual(refused.termination, .exited(0))
        XCTAssertTrue(why.contains(stranger.path) && why.contains("not a gradebook"), why)
        XCTAssertEqual(try Data(contentsOf: stranger), Data("hello".utf8))
    }

    /// Five students on the Q1 fixture graded once whole, then as three shards merged: the merged
    /// run equals the whole one check by check.
    func testThreeShardsMergedEqualOneUnshardedRun() throws {
        let engine = try GradingTests.engine()
        let fm = FileManager.default
        let exercises = root.appendingPathComponent("exercises")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        try fm.copyItem(at: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/q01-affine-map.md"),
                        to: exercises.appendingPathComponent("q01-affine-map.md"))
        let q1 = try Exercise.load(path: exercises.appendingPathComponent("q01-affine-map.md").path)
        let submissions = root.appendingPathComponent("submissions")
        // By the hash of their names: fay in shard 1, cyd and hal in 2, ann and bob in 3.
        let answers: [String: String?] = [
            "ann": q1.lesson.text,
            "bob": try GradingTests.answer(q1, ["answer": "let y = x * w\nlet bigCount = 3"]),
            "cyd": try GradingTests.answer(q1, ["answer": "let y = x * w +\nlet bigCount = 3"]),
            "fay": nil,
            "hal": try GradingTests.answer(q1, ["answer": "let y = x * w + b\nlet bigCount = 2"]),
        ]
        for (student, text) in answers {
            let folder = submissions.appendingPathComponent(student)
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            if let text { try text.write(to: folder.appendingPathComponent("q01-affine-map.md"), atomically: true, encoding: .utf8) }
        }
        let env = ["WORKBOOK_PACKAGE_ROOT": engine.packageRoot.path]
        func grade(_ out: String, _ extra: [String]) throws -> String {
            let (result, stdout, stderr) = try workbook(["grade", submissions.path, "--exercises", exercises.path,
                                                         "--out", root.appendingPathComponent(out).path, "--jobs", "2"] + extra,
                                                        environment: env)
            XCTAssertEqual(result.termination, .exited(0), stdout + stderr)
            return stdout
        }
        let whole = try grade("whole", [])
        XCTAssertTrue(whole.contains("[5/5] "), whole)
        XCTAssertTrue(whole.contains("database:  \(root.appendingPathComponent("whole").path)/gradebook.sqlite (run 1)"), whole)
        var shardStudents: [[String]] = []
        for i in 1...3 {
            let out = try grade("shard-\(i)", ["--shard", "\(i)/3"])
            XCTAssertTrue(out.contains("partial: shard \(i)/3"), out)
            shardStudents.append(try GradebookDatabase(url: root.appendingPathComponent("shard-\(i)/gradebook.sqlite")).run(1).students)
        }
        XCTAssertEqual(shardStudents, [["fay"], ["cyd", "hal"], ["ann", "bob"]])

        // The merge goes into the whole run's gradebook, so the tool's own diff compares them too.
        let (merged, stdout, stderr) = try workbook(["gradebook", "merge", root.appendingPathComponent("whole").path]
                                                    + (1...3).map { root.appendingPathComponent("shard-\($0)").path })
        XCTAssertEqual(merged.termination, .exited(0), stdout + stderr)
        let db = try GradebookDatabase(url: root.appendingPathComponent("whole/gradebook.sqlite"))
        let one = try db.run(1), combined = try db.run(2)
        XCTAssertEqual(one.info.exerciseSetHash, combined.info.exerciseSetHash)
        XCTAssertEqual(one.info.engineFingerprint, combined.info.engineFingerprint)
        XCTAssertEqual(one.students, ["ann", "bob", "cyd", "fay", "hal"])
        XCTAssertEqual(one.grades.map(\.student), combined.grades.map(\.student))
        for (a, b) in zip(one.grades, combined.grades) {
            let what = "\(a.student)/\(a.exercise)"
            XCTAssertEqual(a.exercise, b.exercise, what)
            XCTAssertEqual(a.status, b.status, what)
            XCTAssertEqual(a.message, b.message, what)
            XCTAssertEqual(a.notes, b.notes, what)
            XCTAssertEqual(a.checks, b.checks, what)
            let key = SubmissionKey(student: a.student, exercise: a.exercise)
            XCTAssertEqual(one.submissions[key]?.fileSHA256, combined.submissions[key]?.fileSHA256, what)
        }
        XCTAssertEqual(one.grades.map(\.points), [4, 2, 0, 0, 3])
        XCTAssertEqual(one.grades.map(\.status), [.ok, .ok, .compileError, .missing, .ok])
        let (diff, diffText, _) = try workbook(["gradebook", "diff", "1", "2", "--gradebook", root.appendingPathComponent("whole").path])
        XCTAssertEqual(diff.termination, .exited(0))
        XCTAssertTrue(diffText.contains("exercises: unchanged"), diffText)
        XCTAssertTrue(diffText.contains("0 gained, 0 lost, 0 changed"), diffText)
    }

    /// The Slurm example as Slurm would run it: `submit` asks for an array of N tasks and a merge
    /// that waits for all of them (a stand-in `sbatch` records the requests), and its `merge` step
    /// merges real partial gradebooks with the real CLI.
    func testSlurmExampleSubmitsAnArrayAndADependentMergeThatMerges() throws {
        let executable = try WorkbookExecutable.required()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/grading/slurm-grade.sh")
        let bin = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let log = root.appendingPathComponent("sbatch.log")
        try """
            #!/bin/sh
            echo "$*" >> \(log.path)
            echo 4711
            """.write(to: bin.appendingPathComponent("sbatch"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("sbatch").path, 0o755)
        let course = root.appendingPathComponent("course")
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["COURSE"] = course.path
        env["SHARDS"] = "3"
        env["WORKBOOK"] = executable.path
        let submitted = try ChildProcess(executable: "/bin/bash", arguments: [script.path, "submit"], environment: env).run()
        XCTAssertEqual(submitted.termination, .exited(0), String(decoding: submitted.stderr, as: UTF8.self))
        let requests = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(requests.count, 2, "\(requests)")
        XCTAssertTrue(requests[0].contains("--array=1-3") && requests[0].hasSuffix("shard"), requests[0])
        XCTAssertTrue(requests[1].contains("--dependency=afterok:4711") && requests[1].hasSuffix("merge"), requests[1])

        // The merge step, over three partial gradebooks where the array tasks leave them.
        for (i, url) in try partials().enumerated() {
            let target = course.appendingPathComponent("gradebooks/shards/\(i + 1)")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: url, to: target.appendingPathComponent("gradebook.sqlite"))
        }
        let merged = try ChildProcess(executable: "/bin/bash", arguments: [script.path, "merge"], environment: env).run()
        let out = String(decoding: merged.stdout + merged.stderr, as: UTF8.self)
        XCTAssertEqual(merged.termination, .exited(0), out)
        XCTAssertTrue(out.contains("merged 3 shards: 5 students"), out)
        let db = try GradebookDatabase(url: course.appendingPathComponent("gradebooks/gradebook.sqlite"))
        XCTAssertEqual(try db.run(try db.runID("latest")).students, ["ann", "bob", "cyd", "fay", "hal"])
    }
}
