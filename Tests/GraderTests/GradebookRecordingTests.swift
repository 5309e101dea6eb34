import XCTest
@testable import Grader
import Notebook

/// `GradingRun.run()` records each run in `<out>/gradebook.sqlite` and renders its files from the
/// recorded run; the hooks the intake and the late policy fill (submission metadata, penalties)
/// land in their columns.
final class GradebookRecordingTests: XCTestCase {
    func testGradingRunRecordsMetadataAndPenaltiesAndRendersItsFilesFromTheDatabase() throws {
        let engine = try GradingTests.engine()
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("gradebook-recording-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: root) }
        let exercises = root.appendingPathComponent("exercises"), submissions = root.appendingPathComponent("submissions")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        try fm.copyItem(at: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/q01-affine-map.md"),
                        to: exercises.appendingPathComponent("q01-affine-map.md"))
        let q1 = try Exercise.load(path: exercises.appendingPathComponent("q01-affine-map.md").path)
        for (student, text) in [("ann", q1.lesson.text), ("bob", try GradingTests.answer(q1, ["answer": "let y = x * w\nlet bigCount = 3"]))] {
            try fm.createDirectory(at: submissions.appendingPathComponent(student), withIntermediateDirectories: true)
            try text.write(to: submissions.appendingPathComponent("\(student)/q01-affine-map.md"), atomically: true, encoding: .utf8)
        }
        let output = root.appendingPathComponent("gradebooks")
        var run = try GradingRun(exercisesDirectory: exercises, submissions: submissions, output: output, engine: engine,
                                 workDirectory: root.appendingPathComponent("work"))
        run.parallelism = 2
        let due = Date(timeIntervalSince1970: 1_800_000_000)
        // As a Canvas intake would: the time from Canvas's metadata, and the student's Canvas id.
        run.submissionMetadata = { key, file in
            var meta = SubmissionMetadata.reading(file)
            if key.student == "bob" {
                meta.submittedAt = due.addingTimeInterval(86_400 + 60)
                meta.timeSource = "canvas"
                meta.canvasUserID = "90210"
            }
            return meta
        }
        // As a late policy would: one day late costs a point.
        run.penalties = { grades, metadata in
            metadata.compactMap { key, meta in
                guard let at = meta.submittedAt, at > due.addingTimeInterval(86_400) else { return nil }
                return PenaltyRow(student: key.student, exercise: key.exercise, kind: "late", points: -1, detail: "2 days late")
            }.filter { $0.student == "bob" }
        }
        let (grades, written) = try run.run()
        XCTAssertEqual(grades.map(\.points), [4, 2])
        let db = try GradebookDatabase(url: output.appendingPathComponent("gradebook.sqlite"))
        XCTAssertEqual(written.database?.path, db.url.path)
        let id = try XCTUnwrap(written.runID)
        let recorded = try db.run(id)
        XCTAssertEqual(recorded.info.graderVersion, GradebookRunInfo.currentGraderVersion)
        XCTAssertEqual(recorded.info.toolchain, EngineBuild.toolchainVersion())
        XCTAssertEqual(recorded.info.engineFingerprint.count, 64)
        XCTAssertEqual(recorded.exercises.map(\.name), ["q01-affine-map"])
        let ann = try XCTUnwrap(recorded.submissions[SubmissionKey(student: "ann", exercise: "q01-affine-map")])
        XCTAssertEqual(ann.timeSource, "mtime")
        XCTAssertEqual(ann.fileSHA256, SHA256.hex(try Data(contentsOf: submissions.appendingPathComponent("ann/q01-affine-map.md"))))
        let bob = try XCTUnwrap(recorded.submissions[SubmissionKey(student: "bob", exercise: "q01-affine-map")])
        XCTAssertEqual(bob.timeSource, "canvas")
        XCTAssertEqual(bob.canvasUserID, "90210")
        XCTAssertEqual(recorded.penalties, [PenaltyRow(student: "bob", exercise: "q01-affine-map", kind: "late", points: -1, detail: "2 days late")])
        // The published files are the recorded run's views.
        XCTAssertEqual(try String(contentsOf: written.csv, encoding: .utf8), recorded.gradebook.csv)
        XCTAssertTrue(recorded.gradebook.csv.contains("bob,q01-affine-map,(late penalty),-1,0,late,2 days late\n"))
        let feedback = try String(contentsOf: written.feedback.appendingPathComponent("bob.html"), encoding: .utf8)
        XCTAssertTrue(feedback.contains("Total: <strong>1 / 4</strong> (2 before penalties)"), feedback)
        let canvas = CSVRows.parse(GradebookTable(try db.latest()).canvasCSV(perExercise: false))
        XCTAssertEqual(canvas[3], ["bob", "90210", "", "", "", "1"])
    }

    func testAGradebookThatIsNotOursStopsTheRunBeforeAnythingIsGraded() throws {
        let engine = try GradingTests.engine()
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("gradebook-refusal-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: root) }
        let exercises = root.appendingPathComponent("exercises"), submissions = root.appendingPathComponent("submissions/ann")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        try fm.createDirectory(at: submissions, withIntermediateDirectories: true)
        try fm.copyItem(at: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/q01-affine-map.md"),
                        to: exercises.appendingPathComponent("q01-affine-map.md"))
        let output = root.appendingPathComponent("gradebooks")
        try fm.createDirectory(at: output, withIntermediateDirectories: true)
        let stranger = output.appendingPathComponent("gradebook.sqlite")
        try Data("a spreadsheet someone saved here".utf8).write(to: stranger)
        let run = try GradingRun(exercisesDirectory: exercises, submissions: submissions.deletingLastPathComponent(), output: output,
                                 engine: engine, workDirectory: root.appendingPathComponent("work"))
        XCTAssertThrowsError(try run.run()) { error in
            XCTAssertTrue("\(error)".hasPrefix(stranger.path + ": not a gradebook database"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: stranger), Data("a spreadsheet someone saved here".utf8))
        XCTAssertFalse(fm.fileExists(atPath: output.appendingPathComponent(".grade-cache").path), "grading started")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: output.path), ["gradebook.sqlite"])
    }
}
