import XCTest
import GRDB
@testable import Grader
import Notebook

/// The gradebook database without grading anything: runs made by hand are recorded, read back,
/// protected from change, refused when the file is not theirs, migrated from an older schema,
/// exported for Canvas, compared and merged.
final class GradebookDatabaseTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gradebook-db-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    static let exercises = [RecordedExercise(name: "q01-affine-map", title: "An affine map", hash: "h1", explanation: "y = xW + b"),
                            RecordedExercise(name: "q02-freeze-body", title: "Freeze the body", hash: "h2")]

    /// A grade with two checks worth 1 and 3 points; `passed` says which pass.
    static func grade(_ student: String, _ exercise: String, passed: [Bool], status: ExerciseStatus = .ok,
                      cached: Bool = false) -> ExerciseGrade {
        let names = exercise == "q01-affine-map" ? ["y-shape", "y-values"] : ["names", "frozen"]
        var g = ExerciseGrade(student: student, exercise: exercise, status: status, message: status == .ok ? "" : "went wrong at line 3",
                              notes: student == "ann" ? ["a note, with \"quotes\""] : [],
                              checks: zip(names, [1.0, 3.0]).enumerated().map { i, pair in
                                  CheckGrade(name: pair.0, hidden: i == 1, points: passed[i] ? pair.1 : 0, max: pair.1,
                                             status: passed[i] ? .passed : .failed, message: passed[i] ? "" : "the values of y")
                              },
                              output: "printed by \(student)\n", seconds: 1.25, compileSeconds: 0.75, runSeconds: 0.5)
        g.cached = cached
        return g
    }

    static func run(_ grades: [ExerciseGrade], hash: String = "set-1", exercises: [RecordedExercise] = exercises,
                    shard: Shard? = nil, engine: String = "engine-1", penalties: [PenaltyRow] = [],
                    files: [String: String] = [:], started: Date = Date(timeIntervalSince1970: 1_800_000_000.123)) -> RecordedRun {
        var run = RecordedRun(info: GradebookRunInfo(startedAt: started, finishedAt: started.addingTimeInterval(61.5),
                                                     exerciseSetHash: hash, engineFingerprint: engine, toolchain: "Swift 6.3.1",
                                                     graderVersion: GradebookRunInfo.currentGraderVersion, shard: shard))
        run.exercises = exercises
        for var g in grades {
            let key = SubmissionKey(student: g.student, exercise: g.exercise)
            let submitted = GradebookTime.rounded(started.addingTimeInterval(-3600))
            run.submissions[key] = SubmissionMetadata(fileName: g.exercise + ".md", fileSHA256: files["\(g.student)/\(g.exercise)"] ?? "sha-\(g.student)-\(g.exercise)",
                                                      submittedAt: submitted, timeSource: "mtime",
                                                      canvasUserID: g.student == "ann" ? "4242" : nil)
            // As `publish` records them: the grade states the recorded time; the late verdict and
            // LMS ids ride along (migration v3).
            g.submitted = LatePolicy.iso(submitted)
            g.timeSource = .mtime
            if g.student == "ann" { g.lmsIDs = ["canvas_user_id": "4242"] }
            if g.student == "bob" && g.exercise == "q02-freeze-body" {
                g.late = LateAssessment(due: "2027-01-14T07:00:00Z", daysLate: 1, tokensUsed: 0, penaltyPoints: 0.5, reason: "1 day late")
            }
            run.grades.append(g)
        }
        run.penalties = penalties
        return run
    }

    /// Everything a run holds, as sorted JSON: equal exactly when the runs are.
    static func snapshot(_ run: RecordedRun) throws -> String {
        struct Whole: Encodable {
            var info: GradebookRunInfo; var exercises: [RecordedExercise]; var grades: [ExerciseGrade]
            var submissions: [String: SubmissionMetadata]; var penalties: [PenaltyRow]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let whole = Whole(info: run.info, exercises: run.exercises, grades: run.grades,
                          submissions: Dictionary(uniqueKeysWithValues: run.submissions.map { ("\($0.key.student)/\($0.key.exercise)", $0.value) }),
                          penalties: run.penalties)
        return String(decoding: try encoder.encode(whole), as: UTF8.self)
    }

    var dbURL: URL { root.appendingPathComponent("gradebooks/gradebook.sqlite") }

    func classRun(started: Date = Date(timeIntervalSince1970: 1_800_000_000.123)) -> RecordedRun {
        Self.run([Self.grade("ann", "q01-affine-map", passed: [true, true], cached: true),
                  Self.grade("ann", "q02-freeze-body", passed: [true, false]),
                  Self.grade("bob", "q01-affine-map", passed: [true, false]),
                  Self.grade("bob", "q02-freeze-body", passed: [false, false], status: .compileError)],
                 penalties: [PenaltyRow(student: "bob", exercise: "q02-freeze-body", kind: "late", points: -0.5, detail: "1 day late")],
                 started: started)
    }

    func testRunRoundTripsWhole() throws {
        let db = try GradebookDatabase(url: dbURL, create: true)
        let run = classRun()
        let id = try db.record(run)
        var expected = run
        expected.info.id = id
        let back = try db.run(id)
        XCTAssertEqual(try Self.snapshot(back), try Self.snapshot(expected))
        XCTAssertEqual(back.grades.map(\.cached), [true, false, false, false])
        XCTAssertEqual(back.submissions[SubmissionKey(student: "ann", exercise: "q01-affine-map")]?.timeSource, "mtime")
        XCTAssertEqual(try db.runs().map(\.id), [id])
        // A reopened file gives the same run back, and the files rendered from it are today's.
        let again = try GradebookDatabase(url: dbURL)
        XCTAssertEqual(try Self.snapshot(try again.run(id)), try Self.snapshot(expected))
        let book = back.gradebook
        XCTAssertTrue(book.csv.hasPrefix("student,exercise,check,points,max,status,message\n"), book.csv)
        XCTAssertTrue(book.csv.contains("ann,q01-affine-map,(exercise),4,4,ok,\"a note, with \"\"quotes\"\"\"\n"), book.csv)
        XCTAssertTrue(book.csv.contains("bob,q02-freeze-body,(late penalty),-0.5,0,late,1 day late\n"), book.csv)
        XCTAssertTrue(book.feedbackHTML(for: "bob").contains("Total: <strong>0.5 / 8</strong> (1 before penalties)"), book.feedbackHTML(for: "bob"))
        XCTAssertTrue(book.feedbackHTML(for: "ann").contains("Total: <strong>5 / 8</strong>"))
        XCTAssertEqual(try db.integrityCheck(), "ok")
    }

    func testOldRunsAreUntouchedByNewOnesAndCannotBeChanged() throws {
        let db = try GradebookDatabase(url: dbURL, create: true)
        let first = try db.record(classRun())
        let before = try Self.snapshot(try db.run(first))
        // The checks were fixed and bob resubmitted: a second run of the same students.
        var second = Self.run([Self.grade("ann", "q01-affine-map", passed: [true, false]),
                               Self.grade("bob", "q01-affine-map", passed: [true, true])],
                              hash: "set-2", files: ["bob/q01-affine-map": "sha-new"], started: Date(timeIntervalSince1970: 1_800_090_000))
        second.exercises[0].hash = "h1-fixed"
        let next = try db.record(second)
        XCTAssertEqual(try Self.snapshot(try db.run(first)), before)
        XCTAssertEqual(try db.runs().map(\.id), [first, next])

        // Structural: the database itself refuses to change or add to a recorded run.
        let queue = try DatabaseQueue(path: dbURL.path)
        for sql in ["UPDATE checks SET points = 99", "DELETE FROM submissions", "UPDATE runs SET exercise_set_hash = 'x'",
                    "DELETE FROM penalties", "DELETE FROM run_seals", "UPDATE run_exercises SET hash = 'x'"] {
            XCTAssertThrowsError(try queue.write { try $0.execute(sql: sql) }, sql) { error in
                XCTAssertTrue("\(error)".contains("recorded runs are never changed"), "\(sql): \(error)")
            }
        }
        XCTAssertThrowsError(try queue.write { db in
            try db.execute(sql: """
                INSERT INTO submissions (run_id, student, exercise, status, message, notes, output, seconds, cached)
                VALUES (?, 'eve', 'q01-affine-map', 'ok', '', '[]', '', 0, 0)
                """, arguments: [first])
        }) { XCTAssertTrue("\($0)".contains("sealed"), "\($0)") }
        XCTAssertThrowsError(try queue.write { db in
            try db.execute(sql: "INSERT INTO penalties (run_id, student, kind, points, detail) VALUES (?, 'ann', 'late', -1, '')", arguments: [first])
        }) { XCTAssertTrue("\($0)".contains("sealed"), "\($0)") }
        try queue.close()
        XCTAssertEqual(try Self.snapshot(try db.run(first)), before)
    }

    func testAFailingInsertWritesNothing() throws {
        let db = try GradebookDatabase(url: dbURL, create: true)
        let first = try db.record(classRun())
        let before = try Self.snapshot(try db.run(first))
        // A positive penalty breaks a CHECK constraint after the run's submissions and checks
        // were inserted: the whole transaction is rolled back.
        var bad = classRun(started: Date(timeIntervalSince1970: 1_800_100_000))
        bad.penalties.append(PenaltyRow(student: "ann", exercise: nil, kind: "bonus", points: 2, detail: "not a penalty"))
        XCTAssertThrowsError(try db.record(bad)) { error in
            XCTAssertTrue("\(error)".contains(self.dbURL.path), "\(error)")
            XCTAssertTrue("\(error)".contains("nothing was written"), "\(error)")
        }
        XCTAssertEqual(try db.runs().map(\.id), [first])
        XCTAssertEqual(try Self.snapshot(try db.run(first)), before)
        let counts = try DatabaseQueue(path: dbURL.path).read { db in
            try ["runs", "submissions", "checks", "penalties", "run_exercises"].map { try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \($0)")! }
        }
        XCTAssertEqual(counts, [1, 4, 8, 1, 2], "rows of the failed run were left behind")
        XCTAssertEqual(try db.integrityCheck(), "ok")
        // The next good run gets recorded.
        XCTAssertEqual(try db.runs().count, 1)
        try db.record(classRun(started: Date(timeIntervalSince1970: 1_800_200_000)))
        XCTAssertEqual(try db.runs().count, 2)
    }

    func testFilesThatAreNotGradebooksOrAreNewerAreRefusedUntouched() throws {
        let fm = FileManager.default
        func refusal(_ url: URL) -> String {
            do { _ = try GradebookDatabase(url: url); return "opened" } catch { return "\(error)" }
        }
        // No file: a clear message, nothing created.
        let none = root.appendingPathComponent("none/gradebook.sqlite")
        XCTAssertTrue(refusal(none).contains("no gradebook database here"), refusal(none))
        XCTAssertFalse(fm.fileExists(atPath: none.path))
        // A text file.
        let text = root.appendingPathComponent("notes.sqlite")
        try Data("student,points\nann,3\n".utf8).write(to: text)
        let textMessage = refusal(text)
        XCTAssertTrue(textMessage.hasPrefix(text.path + ": "), textMessage)
        XCTAssertTrue(textMessage.contains("not a gradebook database"), textMessage)
        XCTAssertEqual(try Data(contentsOf: text), Data("student,points\nann,3\n".utf8))
        // Another program's SQLite database.
        let other = root.appendingPathComponent("other.sqlite")
        try DatabaseQueue(path: other.path).write { try $0.execute(sql: "CREATE TABLE songs (title TEXT)") }
        let otherBytes = try Data(contentsOf: other)
        let otherMessage = refusal(other)
        XCTAssertTrue(otherMessage.contains(other.path) && otherMessage.contains("not a workbook gradebook"), otherMessage)
        XCTAssertTrue(otherMessage.contains("songs"), otherMessage)
        XCTAssertEqual(try Data(contentsOf: other), otherBytes)
        // A gradebook from a newer workbook (a schema this one does not know).
        let db = try GradebookDatabase(url: dbURL, create: true)
        try db.record(classRun())
        try DatabaseQueue(path: dbURL.path).write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')") }
        let newerBytes = try Data(contentsOf: dbURL)
        let newer = refusal(dbURL)
        XCTAssertTrue(newer.contains(dbURL.path) && newer.contains("newer workbook") && newer.contains("v9-from-the-future"), newer)
        XCTAssertEqual(try Data(contentsOf: dbURL), newerBytes)
    }

    func testAnOlderSchemaIsMigratedKeepingItsRuns() throws {
        // A gradebook as the first schema left it: no submission times, no penalties.
        try FileManager.default.createDirectory(at: dbURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: dbURL.path)
        try GradebookDatabase.migrator.migrate(old, upTo: "v1-runs")
        try old.write { db in
            try db.execute(sql: """
                INSERT INTO runs (started_at, finished_at, exercise_set_hash, engine_fingerprint, toolchain, grader_version)
                VALUES ('2026-09-01T10:00:00.000Z', '2026-09-01T10:05:00.000Z', 'set-0', 'engine-0', 'Swift 6.2', 'grade-2');
                INSERT INTO run_exercises (run_id, position, name, title, hash, explanation) VALUES (1, 0, 'q01-affine-map', 'An affine map', 'h0', '');
                INSERT INTO submissions (run_id, student, exercise, file_name, file_sha256, status, message, notes, output, seconds, cached)
                VALUES (1, 'ann', 'q01-affine-map', 'q01-affine-map.md', 'abc', 'ok', '', '[]', '', 2.5, 0);
                INSERT INTO checks (submission_id, position, name, hidden, points, max, status, message) VALUES (1, 0, 'y-shape', 0, 1, 1, 'passed', '');
                INSERT INTO run_seals (run_id, sealed_at) VALUES (1, '2026-09-01T10:05:00.000Z');
                """)
        }
        try old.close()
        let db = try GradebookDatabase(url: dbURL)
        let migrated = try DatabaseQueue(path: dbURL.path).read { try GradebookDatabase.migrator.appliedIdentifiers($0) }
        XCTAssertEqual(migrated, Set(GradebookDatabase.schemaVersions))
        let first = try db.run(1)
        XCTAssertEqual(first.grades.map(\.points), [1])
        XCTAssertEqual(first.info.startedAt, GradebookTime.date("2026-09-01T10:00:00.000Z"))
        XCTAssertNil(first.submissions.values.first?.timeSource)
        XCTAssertEqual(first.penalties, [])
        let next = try db.record(classRun())
        XCTAssertEqual(try db.run(next).penalties.count, 1)
        XCTAssertEqual(try db.run(1).grades.map(\.points), [1])
        XCTAssertEqual(try db.integrityCheck(), "ok")
    }

    /// `Tests/GraderTests/Fixtures/canvas-gradebook-import.csv`, written from Canvas's documented
    /// import format: the identity columns, assignment columns named `Name (id)`, a Points
    /// Possible row.
    func testCanvasExportHasTheColumnsOfCanvasImportFormat() throws {
        let fixture = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/canvas-gradebook-import.csv"), encoding: .utf8)
        let fixtureRows = CSVRows.parse(fixture)
        let db = try GradebookDatabase(url: dbURL, create: true)
        try db.record(classRun())
        let table = GradebookTable(try db.latest())

        let total = CSVRows.parse(table.canvasCSV(perExercise: false, assignment: "Workbook exercises", assignmentIDs: ["": "7001"]))
        XCTAssertEqual(Array(total[0].prefix(5)), Array(fixtureRows[0].prefix(5)))
        XCTAssertEqual(total[0].count, 6)
        XCTAssertEqual(total[0][5], "Workbook exercises (7001)")
        // Canvas's assignment header: a name, then the assignment id in parentheses.
        let assignmentHeader = try NSRegularExpression(pattern: #"^.+ \(\d+\)$"#)
        for header in fixtureRows[0].dropFirst(5) + total[0].dropFirst(5) {
            XCTAssertNotNil(assignmentHeader.firstMatch(in: header, range: NSRange(header.startIndex..., in: header)), header)
        }
        // The Points Possible row: its label in the first column, the identity columns empty.
        XCTAssertEqual(fixtureRows[1][0].trimmingCharacters(in: .whitespaces), "Points Possible")
        XCTAssertEqual(total[1][0], "Points Possible")
        XCTAssertEqual(Array(total[1][1..<5]), Array(fixtureRows[1][1..<5]))
        XCTAssertEqual(total[1][5], "8")
        // Students: Canvas id where the submissions carried it; final points (penalty applied).
        XCTAssertEqual(total[2], ["ann", "4242", "", "", "", "5"])
        XCTAssertEqual(total[3], ["bob", "", "", "", "", "0.5"])
        XCTAssertEqual(Set(total.map(\.count)), [6])
        XCTAssertEqual(Set(fixtureRows.map(\.count)), [fixtureRows[0].count])

        let per = CSVRows.parse(table.canvasCSV(perExercise: true, assignmentIDs: ["q01-affine-map": "7101"]))
        XCTAssertEqual(Array(per[0].prefix(5)), Array(fixtureRows[0].prefix(5)))
        XCTAssertEqual(Array(per[0].dropFirst(5)), ["An affine map (7101)", "Freeze the body"])
        XCTAssertEqual(Array(per[1].dropFirst(5)), ["4", "4"])
        XCTAssertEqual(per[3], ["bob", "", "", "", "", "1", "-0.5"])
        XCTAssertEqual(Set(per.map(\.count)), [7])
    }

    func testShowUsesEachStudentsLatestRun() throws {
        let db = try GradebookDatabase(url: dbURL, create: true)
        let first = try db.record(classRun())
        // `--student bob` regraded only bob.
        let second = try db.record(Self.run([Self.grade("bob", "q01-affine-map", passed: [true, true]),
                                             Self.grade("bob", "q02-freeze-body", passed: [true, true])],
                                            started: Date(timeIntervalSince1970: 1_800_090_000)))
        let table = GradebookTable(try db.latest())
        XCTAssertEqual(table.lines.map(\.student), ["ann", "bob"])
        XCTAssertEqual(table.lines.map(\.run), [first, second])
        XCTAssertEqual(table.lines.map(\.final), [5, 8])
        let text = table.render()
        XCTAssertTrue(text.contains("student  q01  q02  total  run"), text)
        XCTAssertTrue(text.contains("ann        4    1      5    \(first)"), text)
        let only = GradebookTable(try db.latest(run: first))
        XCTAssertEqual(only.lines.map(\.final), [5, 0.5])
        XCTAssertTrue(only.render().contains(" 0c "), only.render())
        XCTAssertTrue(only.render().contains("marks: c compile-error"), only.render())
        XCTAssertTrue(GradebookReport.checks(of: "bob", in: try db.latest(run: first)).contains("✗ frozen (hidden): 0/3"))
        XCTAssertEqual(try db.runID("previous"), first)
        XCTAssertThrowsError(try db.runID("77")) { XCTAssertTrue("\($0)".contains("runs recorded: \(first), \(second)"), "\($0)") }
    }

    func testDiffNamesGainsLossesChecksAndTheirCause() throws {
        let a = Self.run([Self.grade("ann", "q01-affine-map", passed: [true, true]), Self.grade("ann", "q02-freeze-body", passed: [true, true]),
                          Self.grade("bob", "q01-affine-map", passed: [true, false]), Self.grade("bob", "q02-freeze-body", passed: [true, false]),
                          Self.grade("cyd", "q01-affine-map", passed: [true, true])])
        var b = Self.run([Self.grade("ann", "q01-affine-map", passed: [true, false]), Self.grade("ann", "q02-freeze-body", passed: [true, true]),
                          Self.grade("bob", "q01-affine-map", passed: [true, false]), Self.grade("bob", "q02-freeze-body", passed: [true, true]),
                          Self.grade("cyd", "q01-affine-map", passed: [true, true])],
                         hash: "set-2", files: ["bob/q02-freeze-body": "sha-resubmitted"])
        b.exercises[0].hash = "h1-fixed"
        let diff = GradebookDiff(a, b)
        XCTAssertEqual(diff.changedExercises, ["q01-affine-map"])
        XCTAssertEqual(diff.lost.map(\.student), ["ann"])
        XCTAssertEqual(diff.gained.map(\.student), ["bob"])
        XCTAssertEqual(diff.changes.first { $0.student == "ann" }?.checks,
                       [.init(exercise: "q01-affine-map", check: "y-values", before: 3, after: 0, statusBefore: "passed", statusAfter: "failed")])
        XCTAssertEqual(diff.changes.first { $0.student == "bob" }?.resubmitted, ["q02-freeze-body"])
        XCTAssertFalse(diff.changes.contains { $0.student == "cyd" })
        let text = diff.render()
        XCTAssertTrue(text.contains("checks changed in: q01-affine-map"), text)
        XCTAssertTrue(text.contains("1 gained, 1 lost"), text)
        XCTAssertTrue(text.contains("ann: 8 -> 5 (-3)"), text)
        XCTAssertTrue(text.contains("q01-affine-map y-values: 3 -> 0 (passed -> failed)  [checks changed]"), text)
        XCTAssertTrue(text.contains("q02-freeze-body: submission changed"), text)
    }

    func testShardsAreStableAndMergeRefusesWhatDoesNotBelongTogether() throws {
        let names = (0..<300).map { "student\($0)" }
        let counts = (1...3).map { i in names.filter { Shard(index: i, count: 3).contains($0) }.count }
        XCTAssertEqual(counts.reduce(0, +), 300)
        XCTAssertTrue(counts.allSatisfy { $0 > 70 }, "\(counts)")
        XCTAssertEqual(names.shuffled().filter { Shard(index: 2, count: 3).contains($0) }.sorted(),
                       names.filter { Shard(index: 2, count: 3).contains($0) }.sorted())
        XCTAssertEqual(Shard.of(student: "ann", count: 3), Shard.of(student: "ann", count: 3))
        XCTAssertEqual(try Shard(parsing: "2/8"), Shard(index: 2, count: 8))
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] { XCTAssertThrowsError(try Shard(parsing: bad), bad) }

        func partial(_ i: Int, _ students: [String], hash: String = "set-1", engine: String = "engine-1", n: Int = 3) -> (file: String, run: RecordedRun) {
            ("shard\(i).sqlite", Self.run(students.map { Self.grade($0, "q01-affine-map", passed: [true, false]) }, hash: hash,
                                          shard: Shard(index: i, count: n), engine: engine))
        }
        func refusal(_ parts: [(file: String, run: RecordedRun)]) -> String {
            do { _ = try GradebookMerge.combine(parts); return "merged" } catch { return "\(error)" }
        }
        let good = [partial(2, ["bob"]), partial(1, ["ann", "cyd"]), partial(3, [])]
        let merged = try GradebookMerge.combine(good)
        XCTAssertEqual(merged.grades.map(\.student), ["ann", "bob", "cyd"])
        XCTAssertNil(merged.info.shard)
        XCTAssertTrue(merged.info.mergedFrom?.contains("1/3 run 0 of shard1.sqlite") == true, merged.info.mergedFrom ?? "")
        XCTAssertTrue(refusal([partial(1, ["ann"]), partial(2, ["bob"])]).contains("missing shard 3/3"))
        XCTAssertTrue(refusal([partial(1, ["ann"]), partial(1, ["bob"]), partial(3, [])]).contains("shard 1/3 is given twice"))
        XCTAssertTrue(refusal([partial(1, ["ann"]), partial(2, ["ann"]), partial(3, [])]).contains("student 'ann' was also graded in shard1.sqlite"))
        XCTAssertTrue(refusal([partial(1, ["ann"]), partial(2, ["bob"], hash: "set-2"), partial(3, [])]).contains("different set of exercises"))
        XCTAssertTrue(refusal([partial(1, ["ann"]), partial(2, ["bob"], engine: "engine-2"), partial(3, [])]).contains("different engine build"))
        XCTAssertTrue(refusal([partial(1, ["ann"]), partial(2, ["bob"], n: 4), partial(3, [])]).contains("different N"))
        XCTAssertTrue(refusal([("whole.sqlite", Self.run([]))]).contains("not a partial run"))
    }

    func testProgressRewritesOneLinePerStudentOnATerminalAndPrintsPlainLinesElsewhere() {
        var now = Date(timeIntervalSince1970: 0)
        var screen = ""
        let progress = GradingProgress(exercisesPerStudent: 2, interactive: true, width: 80, write: { screen += $0 }, clock: { now })
        var plain = ""
        let lines = GradingProgress(exercisesPerStudent: 2, interactive: false, write: { plain += $0 })
        let grades = [Self.grade("ann", "q01-affine-map", passed: [true, true]), Self.grade("bob", "q01-affine-map", passed: [true, false]),
                      Self.grade("ann", "q02-freeze-body", passed: [true, false], status: .timeout),
                      Self.grade("bob", "q02-freeze-body", passed: [false, false], cached: true)]
        for (i, g) in grades.enumerated() {
            now = now.addingTimeInterval(10)
            progress.update(done: i + 1, total: 4, grade: g)
            lines.update(done: i + 1, total: 4, grade: g)
        }
        XCTAssertEqual(plain, """
            [1/4] ann q01-affine-map: 4/4
            [2/4] bob q01-affine-map: 1/4
            [3/4] ann q02-freeze-body: 1/4 timeout
            [4/4] bob q02-freeze-body: 0/4 (cached)

            """)
        XCTAssertTrue(screen.contains("\u{1B}[2A"), "the block is rewritten in place")
        XCTAssertTrue(screen.contains("  ann  1/2 exercises  4/4 points"), screen)
        XCTAssertTrue(screen.contains("ETA 20s"), screen)  // 2 of 4 after 20 s
        XCTAssertTrue(screen.contains("✓ ann  2/2 exercises  5/8 points  (1 timeout)"), screen)
        XCTAssertTrue(screen.contains("✓ bob  2/2 exercises  1/8 points  (1 cached)"), screen)
        let summary = GradingProgress.summary(grades: grades, exercises: 2, seconds: 40)
        XCTAssertEqual(summary[0], "graded 2 students x 2 exercises in 40.0 s")
        XCTAssertEqual(summary[1], "4 exercise grades: 3 graded now, 1 from the cache; 3 ok, 1 timeout")
        XCTAssertTrue(summary[2].hasPrefix("slowest exercises: "), summary[2])
    }
}

/// A small RFC 4180 reader for the tests' CSV files (quoted fields, doubled quotes).
enum CSVRows {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var chars = Array(text).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { row.append(field); field = "" }
            else if c == "\n" || c == "\r\n" { row.append(field); rows.append(row); row = []; field = "" }
            else if c != "\r" { field.append(c) }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
