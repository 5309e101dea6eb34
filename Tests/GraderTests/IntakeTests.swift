import XCTest
@testable import Grader
import Notebook
import ZIPFoundation

/// `SubmissionIntake` on the three layouts instructors receive, built here from small files:
/// a folder per student, Canvas's flat download (folder and zip, with and without its
/// submissions export), and a GitHub Classroom clone (real git repositories with fixed commit
/// dates). Each maps files to the right students and exercises and reports the rest with reasons.
final class IntakeTests: XCTestCase {
    static let exercises = ["q01-affine-map", "q02-freeze-body", "q03-accuracy"]
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("intake-tests-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    @discardableResult
    func write(_ relative: String, _ text: String = "# answer\n", in base: URL? = nil, mtime: Date? = nil) throws -> URL {
        let url = (base ?? root).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        if let mtime { try FileManager.default.setAttributes([.modificationDate: mtime], ofItemAtPath: url.path) }
        return url
    }

    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func reason(_ intake: SubmissionIntake, _ pathSuffix: String) -> String? {
        intake.unmapped.first { $0.path.hasSuffix(pathSuffix) }?.reason
    }

    // MARK: - A folder per student

    func testFolderPerStudent() throws {
        let folder = root.appendingPathComponent("submissions")
        let t = Self.date("2026-11-20T10:00:00Z")
        try write("alice/q01-affine-map.md", in: folder, mtime: t)
        try write("alice/notes.txt", in: folder)
        try write("bob/q1-renamed.md", in: folder)              // a renamed slug and an unpadded number
        try write("bob/q02-freeze-body.md", in: folder)
        try write("bob/q02-freeze-body (1).md", in: folder)      // two files for one exercise
        try write("carol/q07-extra.md", in: folder)              // no such exercise
        try write("stray.md", in: folder)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("dave"), withIntermediateDirectories: true)

        XCTAssertEqual(try SubmissionIntake.detectLayout(of: folder), .folders)
        let intake = try SubmissionIntake.read(folder, exercises: Self.exercises)
        XCTAssertEqual(intake.layout, .folders)
        XCTAssertEqual(intake.students.map(\.name), ["alice", "bob", "carol", "dave"])
        let alice = try XCTUnwrap(intake.file(student: "alice", exercise: "q01-affine-map"))
        XCTAssertEqual(alice.timeSource, .mtime)
        XCTAssertEqual(alice.submitted, t)
        XCTAssertEqual(intake.file(student: "bob", exercise: "q01-affine-map")?.file.lastPathComponent, "q1-renamed.md")
        XCTAssertNil(intake.file(student: "bob", exercise: "q02-freeze-body"), "ambiguous files must not be graded")
        XCTAssertEqual(intake.student(named: "carol")?.files, [:])
        XCTAssertEqual(intake.student(named: "dave")?.files, [:])

        XCTAssertEqual(intake.unmapped.count, 5, "\(intake.unmapped)")
        XCTAssertTrue(reason(intake, "alice/notes.txt")?.contains("not an exercise file") == true)
        for name in ["bob/q02-freeze-body.md", "bob/q02-freeze-body (1).md"] {
            let r = try XCTUnwrap(reason(intake, name))
            XCTAssertTrue(r.contains("ambiguous") && r.contains("q02-freeze-body") && r.contains("bob"), r)
        }
        XCTAssertTrue(reason(intake, "carol/q07-extra.md")?.contains("no exercise number 7") == true)
        XCTAssertTrue(reason(intake, "submissions/stray.md")?.contains("outside any student") == true)
        // The kept wrapper sees the same students.
        XCTAssertEqual(try SubmissionFolders.students(in: folder), ["alice", "bob", "carol", "dave"])
    }

    func testMissingSourceIsNamed() {
        let missing = root.appendingPathComponent("nothing-here")
        XCTAssertThrowsError(try SubmissionIntake.read(missing, exercises: Self.exercises)) {
            XCTAssertTrue("\($0)".contains("nothing-here") && "\($0)".contains("does not exist"), "\($0)")
        }
        let pdf = try? write("download.pdf")
        XCTAssertThrowsError(try SubmissionIntake.read(pdf!, exercises: Self.exercises)) {
            XCTAssertTrue("\($0)".contains("Canvas .zip"), "\($0)")
        }
    }

    // MARK: - Canvas

    func testCanvasNames() {
        XCTAssertEqual(CanvasIntake.parse("smithjohn_1001_5001_q01-affine-map.md"),
                       .init(name: "smithjohn", late: false, userID: "1001", submissionID: "5001", fileName: "q01-affine-map.md"))
        XCTAssertEqual(CanvasIntake.parse("doejane_LATE_1002_5002_q03-accuracy-1.md"),
                       .init(name: "doejane", late: true, userID: "1002", submissionID: "5002", fileName: "q03-accuracy-1.md"))
        XCTAssertEqual(CanvasIntake.parse("leeann_1003_q01_affine.md"),
                       .init(name: "leeann", late: false, userID: "1003", submissionID: nil, fileName: "q01_affine.md"))
        XCTAssertNil(CanvasIntake.parse("q01-affine-map.md"))
        XCTAssertNil(CanvasIntake.parse("smithjohn_q01.md"))
    }

    /// A Canvas download's files, as (name, text); the metadata names users 1001 and 1002.
    static let canvasFiles: [(String, String)] = [
        ("smithjohn_1001_5001_q01-affine-map.md", "john q01"),
        ("smithjohn_1001_5001_q02-freeze-body-1.md", "john q02"),    // Canvas's suffix for a repeated upload
        ("smithjohn_1001_5001_q09-other.md", "unknown exercise"),
        ("doejane_LATE_1002_5002_q01-affine-map.md", "jane q01"),
        ("doejane_LATE_1002_5002_q03-accuracy.md", "jane q03"),
        ("doejane_LATE_1002_5002_q03-accuracy-1.md", "jane q03 again"),
        ("leeann_1003_q01-affine-map.md", "ann q01"),                // no submission id
        ("leeann_1003_9003_report.pdf", "a pdf"),
        ("kimmin_1004_5004_q01-affine-map.md", "min 1004"),          // one name token, two students
        ("kimmin_1005_5005_q01-affine-map.md", "min 1005"),
        ("random-notes.txt", "not from Canvas"),
    ]

    static let canvasCSV = """
    user_id,name,submitted_at
    1001,John Smith,2026-11-20T21:30:00Z
    1002,"Doe, Jane",2026-11-22T08:00:00+01:00
    1004,Min Kim,

    """

    func checkCanvas(_ intake: SubmissionIntake, metadata: Bool, zip: Bool) throws {
        XCTAssertEqual(intake.layout, .canvas)
        XCTAssertEqual(intake.students.map(\.name), ["doejane", "kimmin-1004", "kimmin-1005", "leeann", "smithjohn"])
        let john = try XCTUnwrap(intake.student(named: "smithjohn"))
        XCTAssertEqual(john.lmsIDs, ["canvas_user_id": "1001", "canvas_submission_id": "5001"])
        XCTAssertEqual(Set(john.files.keys), ["q01-affine-map", "q02-freeze-body"])
        XCTAssertEqual(try String(contentsOf: john.files["q02-freeze-body"]!.file, encoding: .utf8), "john q02")
        let jane = try XCTUnwrap(intake.student(named: "doejane"))
        XCTAssertEqual(jane.lmsIDs["canvas_late"], "true")
        XCTAssertEqual(Set(jane.files.keys), ["q01-affine-map"])
        XCTAssertEqual(try String(contentsOf: intake.file(student: "kimmin-1005", exercise: "q01-affine-map")!.file, encoding: .utf8), "min 1005")
        // Its exercise file has no submission id; its PDF has one.
        XCTAssertEqual(intake.student(named: "leeann")?.lmsIDs, ["canvas_user_id": "1003", "canvas_submission_id": "9003"])

        if metadata {
            XCTAssertEqual(john.files["q01-affine-map"]?.timeSource, .canvas)
            XCTAssertEqual(john.files["q01-affine-map"]?.submitted, Self.date("2026-11-20T21:30:00Z"))
            XCTAssertEqual(jane.files["q01-affine-map"]?.submitted, Self.date("2026-11-22T07:00:00Z"))
            // No time for 1004 (empty) or 1003 (absent): the file's time, and a note says so.
            XCTAssertEqual(intake.file(student: "kimmin-1004", exercise: "q01-affine-map")?.timeSource, .mtime)
            XCTAssertEqual(intake.file(student: "leeann", exercise: "q01-affine-map")?.timeSource, .mtime)
            XCTAssertTrue(intake.notes.contains { $0.contains("user 1003") }, "\(intake.notes)")
        } else {
            XCTAssertEqual(john.files["q01-affine-map"]?.timeSource, .mtime)
        }

        func reason(_ name: String) -> String? { intake.unmapped.first { $0.path.hasSuffix(name) }?.reason }
        XCTAssertTrue(reason("smithjohn_1001_5001_q09-other.md")?.contains("no exercise number 9") == true)
        XCTAssertTrue(reason("doejane_LATE_1002_5002_q03-accuracy.md")?.contains("ambiguous") == true)
        XCTAssertTrue(reason("doejane_LATE_1002_5002_q03-accuracy-1.md")?.contains("ambiguous") == true)
        XCTAssertTrue(reason("leeann_1003_9003_report.pdf")?.contains("not an exercise file") == true)
        XCTAssertTrue(reason("random-notes.txt")?.contains("does not follow Canvas") == true)
        let extra = zip ? 2 : 0  // the zip also holds a file in a folder and a symbolic link
        XCTAssertEqual(intake.unmapped.count, 5 + extra, "\(intake.unmapped)")
        XCTAssertEqual(intake.unmapped.first { $0.path.hasSuffix("q03-accuracy-1.md") }?.student, "doejane")
    }

    func testCanvasFlatFolder() throws {
        let folder = root.appendingPathComponent("canvas")
        for (name, text) in Self.canvasFiles { try write(name, text, in: folder) }
        try write("__MACOSX/._smithjohn_1001_5001_q01-affine-map.md", in: folder)  // unzipped on a Mac
        XCTAssertEqual(try SubmissionIntake.detectLayout(of: folder), .canvas)
        try checkCanvas(try SubmissionIntake.read(folder, exercises: Self.exercises), metadata: false, zip: false)

        // The submissions export inside the folder gives the times (and is not a submission itself).
        try write("canvas-submissions.csv", Self.canvasCSV, in: folder)
        try checkCanvas(try SubmissionIntake.read(folder, exercises: Self.exercises), metadata: true, zip: false)
    }

    func makeZip(at url: URL, entryDate: Date) throws {
        let archive = try Archive(url: url, accessMode: .create)
        func add(_ path: String, _ text: String, type: Entry.EntryType = .file) throws {
            let data = Data(text.utf8)
            try archive.addEntry(with: path, type: type, uncompressedSize: Int64(data.count), modificationDate: entryDate,
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position) ..< Int(position) + size)
            }
        }
        for (name, text) in Self.canvasFiles { try add(name, text) }
        try add("__MACOSX/._smithjohn_1001_5001_q01-affine-map.md", "resource fork")
        try add("nested/smithjohn_1001_5001_q03-accuracy.md", "in a folder")
        try add("leeann_1003_9003_q02-freeze-body.md", "/etc/passwd", type: .symlink)
    }

    func testCanvasZip() throws {
        let zip = root.appendingPathComponent("submissions.zip")
        let entryDate = Self.date("2026-11-19T12:00:00Z")
        try makeZip(at: zip, entryDate: entryDate)
        XCTAssertEqual(try SubmissionIntake.detectLayout(of: zip), .canvas)

        let intake = try SubmissionIntake.read(zip, exercises: Self.exercises)
        try checkCanvas(intake, metadata: false, zip: true)
        let extracted = try XCTUnwrap(intake.extractedDirectory)
        // Only exercise files are extracted, each in a folder of its own, under the extraction folder.
        let john = try XCTUnwrap(intake.file(student: "smithjohn", exercise: "q01-affine-map"))
        XCTAssertTrue(john.file.path.hasPrefix(extracted.path + "/"), john.file.path)
        XCTAssertEqual(john.original, "\(zip.path):smithjohn_1001_5001_q01-affine-map.md")
        XCTAssertEqual(john.submitted.timeIntervalSince1970, entryDate.timeIntervalSince1970, accuracy: 86_400,
                       "a zip entry's date is local time without a zone")
        XCTAssertTrue(intake.unmapped.contains { $0.path.hasSuffix(":nested/smithjohn_1001_5001_q03-accuracy.md") && $0.reason.contains("flat") })
        XCTAssertTrue(intake.unmapped.contains { $0.path.hasSuffix(":leeann_1003_9003_q02-freeze-body.md") && $0.reason.contains("symbolic link") })
        XCTAssertNil(intake.file(student: "leeann", exercise: "q02-freeze-body"))
        intake.removeExtracted()
        XCTAssertFalse(FileManager.default.fileExists(atPath: extracted.path))
        // A killed run's extraction (its process is gone) is removed by the next one.
        let stale = FileManager.default.temporaryDirectory.appendingPathComponent("workbook-intake-2147483646-\(UUID().uuidString)")
        try write("1001/q01-affine-map.md", in: stale)
        try SubmissionIntake.read(zip, exercises: Self.exercises).removeExtracted()
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))

        // The API's JSON export beside the zip gives the times.
        let json = """
        [{"id": 5001, "user_id": 1001, "submitted_at": "2026-11-20T21:30:00Z", "late": false},
         {"id": 5002, "user_id": "1002", "submitted_at": "2026-11-22T07:00:00Z", "late": true},
         {"id": 5004, "user_id": 1004, "submitted_at": null}]
        """
        try write("canvas-submissions.json", json)
        let target = root.appendingPathComponent("extract-here")
        let timed = try SubmissionIntake.read(zip, exercises: Self.exercises, layout: .canvas, extractTo: target)
        XCTAssertEqual(timed.extractedDirectory, target)
        try checkCanvas(timed, metadata: true, zip: true)
        timed.removeExtracted()
    }

    func testZipEntriesNeverOverwriteEachOther() throws {
        let zip = root.appendingPathComponent("twice.zip")
        let archive = try Archive(url: zip, accessMode: .create)
        for text in ["first", "second"] {
            let data = Data(text.utf8)
            try archive.addEntry(with: "smithjohn_1001_5001_q01-affine-map.md", type: .file, uncompressedSize: Int64(data.count),
                                 compressionMethod: .none) { position, size in data.subdata(in: Int(position) ..< Int(position) + size) }
        }
        let intake = try SubmissionIntake.read(zip, exercises: Self.exercises)
        defer { intake.removeExtracted() }
        XCTAssertNil(intake.file(student: "smithjohn", exercise: "q01-affine-map"))
        XCTAssertEqual(intake.unmapped.count, 2)
        XCTAssertTrue(intake.unmapped.allSatisfy { $0.reason.contains("ambiguous") }, "\(intake.unmapped)")
        let folder = try XCTUnwrap(intake.extractedDirectory).appendingPathComponent("1001")
        let copies = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(copies.count, 2, "\(copies)")
        XCTAssertEqual(Set(try copies.map { try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8) }), ["first", "second"])
    }

    func testCanvasBadMetadataIsNamed() throws {
        let folder = root.appendingPathComponent("canvas")
        try write("smithjohn_1001_5001_q01-affine-map.md", in: folder)
        try write("canvas-submissions.csv", "user_id,submitted_at\n1001,yesterday\n", in: folder)
        XCTAssertThrowsError(try SubmissionIntake.read(folder, exercises: Self.exercises)) {
            XCTAssertTrue("\($0)".contains("canvas-submissions.csv:2:") && "\($0)".contains("yesterday"), "\($0)")
        }
        try write("canvas-submissions.csv", "user_id,when\n1001,2026-11-20T21:30:00Z\n", in: folder)
        XCTAssertThrowsError(try SubmissionIntake.read(folder, exercises: Self.exercises)) {
            XCTAssertTrue("\($0)".contains("submitted_at"), "\($0)")
        }
    }

    func testDamagedZipIsNamed() throws {
        let zip = try write("broken.zip", "PK not really a zip")
        XCTAssertThrowsError(try SubmissionIntake.read(zip, exercises: Self.exercises)) {
            XCTAssertTrue("\($0)".contains("broken.zip") && "\($0)".contains("zip archive"), "\($0)")
        }
    }

    // MARK: - GitHub Classroom

    func git(_ arguments: [String], in folder: URL, date: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-c", "user.name=Student", "-c", "user.email=student@example.com",
                             "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"] + arguments
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_AUTHOR_DATE"] = date
        environment["GIT_COMMITTER_DATE"] = date
        environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "git \(arguments.joined(separator: " ")) in \(folder.path)")
    }

    func repository(_ folder: URL, files: [String], commits: [String]) throws {
        for file in files { try write(file, "answer \(file)\n", in: folder) }
        try git(["init", "-q"], in: folder, date: commits[0])
        for (i, date) in commits.enumerated() {
            try write("log.txt", "commit \(i)\n", in: folder)
            try git(["add", "-A"], in: folder, date: date)
            try git(["commit", "-q", "-m", "work \(i)"], in: folder, date: date)
        }
    }

    func testClassroomClone() throws {
        guard (try? Process.run(URL(fileURLWithPath: "/usr/bin/env"), arguments: ["git", "--version"]))
            .map({ $0.waitUntilExit(); return $0.terminationStatus == 0 }) == true else {
            throw XCTSkip("git is not installed")
        }
        let clone = root.appendingPathComponent("hw1-submissions")
        try repository(clone.appendingPathComponent("hw1-alice"), files: ["q01-affine-map.md", "exercises/q02-freeze-body.md", "README.md"],
                       commits: ["2026-11-18T09:00:00+00:00", "2026-11-20T23:10:00+01:00"])
        try repository(clone.appendingPathComponent("hw1-bob-smith"),
                       files: ["exercises/q01-affine-map.md", "old/q03-accuracy.md", "q08-nothing.md"],
                       commits: ["2026-11-21T08:00:00Z"])
        // Downloaded without history: the files' own times.
        let t = Self.date("2026-11-19T15:00:00Z")
        try write("hw1-carol/q03-accuracy.md", in: clone, mtime: t)
        try write("notes.txt", in: clone)

        XCTAssertEqual(try SubmissionIntake.detectLayout(of: clone), .classroom)
        let intake = try SubmissionIntake.read(clone, exercises: Self.exercises)
        XCTAssertEqual(intake.layout, .classroom)
        XCTAssertEqual(intake.students.map(\.name), ["alice", "bob-smith", "carol"])
        let alice = try XCTUnwrap(intake.student(named: "alice"))
        XCTAssertEqual(Set(alice.files.keys), ["q01-affine-map", "q02-freeze-body"])
        XCTAssertEqual(alice.lmsIDs, ["github_username": "alice"])
        for file in alice.files.values {
            XCTAssertEqual(file.timeSource, .git)
            XCTAssertEqual(file.submitted, Self.date("2026-11-20T22:10:00Z"), "the last commit's committer date")
        }
        let bob = try XCTUnwrap(intake.student(named: "bob-smith"))
        XCTAssertEqual(Set(bob.files.keys), ["q01-affine-map"])
        XCTAssertEqual(bob.files["q01-affine-map"]?.submitted, Self.date("2026-11-21T08:00:00Z"))
        let carol = try XCTUnwrap(intake.file(student: "carol", exercise: "q03-accuracy"))
        XCTAssertEqual(carol.timeSource, .mtime)
        XCTAssertEqual(carol.submitted, t)

        XCTAssertEqual(intake.unmapped.count, 3, "\(intake.unmapped)")
        XCTAssertTrue(reason(intake, "hw1-bob-smith/old/q03-accuracy.md")?.contains("outside the repository's root and exercises/") == true)
        XCTAssertTrue(reason(intake, "hw1-bob-smith/q08-nothing.md")?.contains("no exercise number 8") == true)
        XCTAssertTrue(reason(intake, "hw1-submissions/notes.txt")?.contains("not a repository folder") == true)

        // With the roster beside the clone: named by identifier, matched by the username a folder ends with.
        try write("classroom_roster.csv", """
        "identifier","github_username","github_id","name"
        "A. Alice","alice","101","Alice A"
        "smith.bob","bob-smith","102","Bob Smith"
        "not.yet","","",""

        """)
        let named = try SubmissionIntake.read(clone, exercises: Self.exercises, layout: .classroom)
        XCTAssertEqual(named.students.map(\.name), ["A. Alice", "carol", "smith.bob"])
        XCTAssertEqual(named.student(named: "smith.bob")?.lmsIDs, ["github_username": "bob-smith", "roster_identifier": "smith.bob"])
        XCTAssertTrue(named.notes.contains { $0.contains("hw1-carol") && $0.contains("no roster entry") }, "\(named.notes)")
    }

    func testAssignmentPrefix() {
        XCTAssertEqual(ClassroomIntake.assignmentPrefix(["hw1-alice", "hw1-anna", "hw1-bob"]), "hw1-")
        XCTAssertEqual(ClassroomIntake.assignmentPrefix(["transfer-learning-ann-lee", "transfer-learning-zed"]), "transfer-learning-")
        XCTAssertEqual(ClassroomIntake.assignmentPrefix(["only-one"]), "")
    }

    func testSimilarityReadsTheSameIntake() throws {
        let exercises = root.appendingPathComponent("exercises")
        try FileManager.default.createDirectory(at: exercises, withIntermediateDirectories: true)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        for name in Self.exercises {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("\(name).md"), to: exercises.appendingPathComponent("\(name).md"))
        }
        let zip = root.appendingPathComponent("download.zip")
        try makeZip(at: zip, entryDate: Date())
        let report = try SimilarityRun(exercisesDirectory: exercises, submissions: zip).run()
        XCTAssertEqual(report.students, ["doejane", "kimmin-1004", "kimmin-1005", "leeann", "smithjohn"])
        // Unmapped files are named as not compared, by their place in the zip.
        XCTAssertTrue(report.problems.contains { $0.contains("download.zip:random-notes.txt") && $0.contains("not compared") }, "\(report.problems)")
        XCTAssertTrue(report.problems.contains { $0.contains("ambiguous") }, "\(report.problems)")
    }

    // MARK: - Through GradingRun

    func testGradingRunReadsEveryLayoutThroughTheIntake() throws {
        let engine = try EngineBuild()
        let exercises = root.appendingPathComponent("exercises")
        try FileManager.default.createDirectory(at: exercises, withIntermediateDirectories: true)
        for name in Self.exercises {
            try FileManager.default.copyItem(at: engine.packageRoot.appendingPathComponent("Tests/GraderTests/Fixtures/\(name).md"),
                                            to: exercises.appendingPathComponent("\(name).md"))
        }
        let zip = root.appendingPathComponent("download.zip")
        try makeZip(at: zip, entryDate: Date())
        try write("canvas-submissions.csv", Self.canvasCSV)
        var run = try GradingRun(exercisesDirectory: exercises, submissions: zip, output: root.appendingPathComponent("out"),
                                 engine: engine, workDirectory: root.appendingPathComponent("work"))
        XCTAssertEqual(try run.students(), ["doejane", "kimmin-1004", "kimmin-1005", "leeann", "smithjohn"])
        let q1 = try XCTUnwrap(run.exercises.first { $0.name == "q01-affine-map" })
        let file = try XCTUnwrap(run.submissionFile(student: "smithjohn", exercise: q1))
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "john q01")
        run.selectedStudents = ["smithjohn", "nobody"]
        XCTAssertThrowsError(try run.students()) { XCTAssertTrue("\($0)".contains("'nobody'"), "\($0)") }

        // After grading: times, ids and the late assessment; an ambiguous exercise says why it is missing.
        run.latePolicy = LatePolicy(due: Self.date("2026-11-20T23:00:00Z"), penaltyPerDay: .points(1))
        func grade(_ student: String, _ exercise: String, _ status: ExerciseStatus, _ points: Double) -> ExerciseGrade {
            ExerciseGrade(student: student, exercise: exercise, status: status, message: "", notes: [],
                          checks: [CheckGrade(name: "c", hidden: false, points: points, max: 4, status: points > 0 ? .passed : .failed, message: "")],
                          output: "", seconds: 0)
        }
        let annotated = run.assessLateness([grade("smithjohn", "q01-affine-map", .ok, 4), grade("doejane", "q01-affine-map", .ok, 4),
                                            grade("doejane", "q03-accuracy", .missing, 0)])
        XCTAssertEqual(annotated[0].timeSource, .canvas)
        XCTAssertEqual(annotated[0].submitted, "2026-11-20T21:30:00Z")
        XCTAssertEqual(annotated[0].late?.daysLate, 0)
        XCTAssertEqual(annotated[0].lmsIDs?["canvas_user_id"], "1001")
        XCTAssertEqual(annotated[1].late?.daysLate, 2)  // 2026-11-22T07:00Z, 32 hours after the deadline
        XCTAssertEqual(annotated[1].late?.penaltyPoints, 2)
        XCTAssertEqual(annotated[1].finalPoints, 2)
        XCTAssertNil(annotated[2].late)
        XCTAssertTrue(annotated[2].notes.contains { $0.contains("2 files could be this exercise") }, "\(annotated[2].notes)")
        (try? run.intake())?.removeExtracted()
    }
}
