import XCTest
@testable import Grader
import Notebook

/// The late policy's arithmetic at its edges, `course.yml` (and its errors, with lines), and the
/// penalties as rows of their own beside the raw grades.
final class LatePolicyTests: XCTestCase {
    static let due = ISO8601DateFormatter().date(from: "2026-11-20T22:59:00Z")!
    static let day: TimeInterval = 86_400

    func at(_ seconds: TimeInterval) -> Date { Self.due.addingTimeInterval(seconds) }

    func testDaysLateAtTheEdges() {
        let hour: TimeInterval = 3600
        func days(_ offset: TimeInterval, grace: TimeInterval = hour) -> Int {
            LatePolicy.daysLate(submitted: at(offset), due: Self.due, grace: grace)
        }
        XCTAssertEqual(days(-1), 0, "early")
        XCTAssertEqual(days(0), 0, "exactly on time")
        XCTAssertEqual(days(1), 0, "1 s late, inside the grace period")
        XCTAssertEqual(days(hour), 0, "exactly at the end of the grace period")
        XCTAssertEqual(days(hour + 1), 1, "1 s after the grace period")
        XCTAssertEqual(days(hour + Self.day), 1, "a whole day after the grace period")
        XCTAssertEqual(days(hour + Self.day + 1), 2)
        XCTAssertEqual(days(1, grace: 0), 1, "1 s late without grace")
        XCTAssertEqual(days(10 * Self.day, grace: 0), 10)
    }

    func testPenaltyCapFloorAndEarnedPoints() {
        func penalty(_ days: Int, earned: Double = 10, perDay: LatePolicy.Amount? = .percent(10),
                     cap: LatePolicy.Amount? = nil, floor: LatePolicy.Amount? = nil) -> Double {
            LatePolicy.penalty(days: days, earned: earned, maximum: 10, perDay: perDay, cap: cap, floor: floor)
        }
        XCTAssertEqual(penalty(0), 0)
        XCTAssertEqual(penalty(1), 1)
        XCTAssertEqual(penalty(3), 3)
        XCTAssertEqual(penalty(3, perDay: .points(2)), 6)
        XCTAssertEqual(penalty(4, cap: .percent(30)), 3, "held to the cap")
        XCTAssertEqual(penalty(20, cap: .points(5)), 5, "far beyond the cap")
        XCTAssertEqual(penalty(20), 10, "never more than the points earned")
        XCTAssertEqual(penalty(2, earned: 1), 1)
        XCTAssertEqual(penalty(5, earned: 6, floor: .points(4)), 2, "the floor keeps 4 points")
        XCTAssertEqual(penalty(5, earned: 3, floor: .percent(40)), 0, "already below the floor: nothing taken")
        XCTAssertEqual(penalty(9, earned: 10, cap: .points(5), floor: .points(7)), 3, "cap and floor: the smaller")
        XCTAssertEqual(penalty(3, perDay: nil), 0, "no penalty per day: lateness is only recorded")
    }

    func work(_ exercise: String, late days: Double?, earned: Double = 10) -> LatePolicy.Work {
        LatePolicy.Work(exercise: exercise, submitted: days.map { at($0 * Self.day) }, timeSource: .git, earned: earned, maximum: 10)
    }

    func testTokensAreSpentGreedilyInExerciseOrder() {
        let policy = LatePolicy(due: Self.due, penaltyPerDay: .points(1), tokens: 2)
        let result = policy.assess(student: "s", work: [
            work("q03-c", late: 0.5), work("q01-a", late: 0.2), work("q02-b", late: 2.5), work("q04-d", late: nil),
            work("q05-e", late: -1),
        ])
        XCTAssertEqual(result["q01-a"]?.daysLate, 1)
        XCTAssertEqual(result["q01-a"]?.tokensUsed, 1)
        XCTAssertEqual(result["q01-a"]?.penaltyPoints, 0)
        XCTAssertEqual(result["q02-b"]?.daysLate, 3)
        XCTAssertEqual(result["q02-b"]?.tokensUsed, 1, "tokens cover part of it")
        XCTAssertEqual(result["q02-b"]?.penaltyPoints, 2)
        XCTAssertEqual(result["q03-c"]?.tokensUsed, 0, "none left")
        XCTAssertEqual(result["q03-c"]?.penaltyPoints, 1)
        XCTAssertNil(result["q04-d"], "a missing submission has no assessment (no penalty row)")
        XCTAssertEqual(result["q05-e"]?.daysLate, 0)
        XCTAssertEqual(result["q05-e"]?.penaltyPoints, 0)
        XCTAssertTrue(result["q05-e"]!.reason.hasPrefix("on time"), result["q05-e"]!.reason)
        let reason = result["q02-b"]!.reason
        XCTAssertTrue(reason.contains("3 days late") && reason.contains("1 late token used") && reason.contains("-2 points") && reason.contains("(git)"), reason)
        XCTAssertFalse(reason.contains("\n"))
    }

    func testPerExerciseDeadlinesAndExtensions() {
        let later = Self.due.addingTimeInterval(7 * Self.day)
        let policy = LatePolicy(due: Self.due, exerciseDue: ["q02": later, "q03-c": later], penaltyPerDay: .points(1),
                                extensions: ["alice": .init(all: .by(2 * Self.day)),
                                             "bob": .init(all: .by(Self.day), exercises: ["q01": .until(later)])])
        XCTAssertEqual(policy.due(exercise: "q01-a", student: "carol"), Self.due)
        XCTAssertEqual(policy.due(exercise: "q02-b", student: "carol"), later, "by number")
        XCTAssertEqual(policy.due(exercise: "q03-c", student: "carol"), later, "by name")
        XCTAssertEqual(policy.due(exercise: "q01-a", student: "alice"), Self.due.addingTimeInterval(2 * Self.day))
        XCTAssertEqual(policy.due(exercise: "q02-b", student: "alice"), later.addingTimeInterval(2 * Self.day))
        XCTAssertEqual(policy.due(exercise: "q01-a", student: "bob"), later, "the exercise's extension wins over all")
        XCTAssertEqual(policy.due(exercise: "q02-b", student: "bob"), later.addingTimeInterval(Self.day))
        XCTAssertEqual(policy.assess(student: "alice", work: [work("q01-a", late: 1.5)])["q01-a"]?.daysLate, 0)
        XCTAssertEqual(policy.assess(student: "carol", work: [work("q01-a", late: 1.5)])["q01-a"]?.daysLate, 2)
    }

    // MARK: - course.yml

    func testExampleCourseFileParses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("exercises/course.example.yml").path
        let policy = try LatePolicy.load(path: path)
        XCTAssertEqual(policy.due, ISO8601DateFormatter().date(from: "2026-12-18T22:59:00Z"))
        XCTAssertEqual(policy.grace, 15 * 60)
        XCTAssertEqual(policy.penaltyPerDay, .percent(10))
        XCTAssertEqual(policy.cap, .percent(50))
        XCTAssertEqual(policy.floor, .points(0))
        XCTAssertEqual(policy.tokens, 2)
        XCTAssertEqual(policy.exerciseDue.count, 2)
        XCTAssertEqual(policy.extensions["alice"], .init(all: .by(3 * Self.day)))
        XCTAssertEqual(policy.extensions["bob"]?.exercises["q05"], .until(ISO8601DateFormatter().date(from: "2026-12-22T11:00:00Z")!))
        // Every exercise key names an exercise of the course.
        let course = URL(fileURLWithPath: path).deletingLastPathComponent()
        let names = try Release.exerciseFiles(in: course).map { $0.deletingPathExtension().lastPathComponent }
        XCTAssertEqual(policy.unknownExerciseKeys(exercises: names), [])
    }

    func testDatesAndZones() throws {
        let utc = try LatePolicy.parse(yaml: "due: 2026-11-20T22:59:00Z\n", file: "c.yml")
        XCTAssertEqual(utc.due, Self.due)
        let offset = try LatePolicy.parse(yaml: "due: 2026-11-20 23:59+01:00\n", file: "c.yml")
        XCTAssertEqual(offset.due, Self.due)
        // A declared zone reads times without one, with its own daylight saving rules.
        let berlin = try LatePolicy.parse(yaml: "timezone: Europe/Berlin\ndue: 2026-11-20T23:59\n", file: "c.yml")
        XCTAssertEqual(berlin.due, Self.due)
        let summer = try LatePolicy.parse(yaml: "due: 2026-07-01T12:00:00\ntimezone: Europe/Berlin\n", file: "c.yml")
        XCTAssertEqual(summer.due, ISO8601DateFormatter().date(from: "2026-07-01T10:00:00Z"))
        let quoted = try LatePolicy.parse(yaml: "due: \"2026-11-20T22:59:00Z\"\ngrace: 0\n", file: "c.yml")
        XCTAssertEqual(quoted.due, Self.due)
        XCTAssertEqual(quoted.grace, 0)
        XCTAssertEqual(try LatePolicy.parse(yaml: "", file: "c.yml"), LatePolicy(file: "c.yml"))
    }

    func expectError(_ yaml: String, line: Int?, _ words: [String], file: StaticString = #filePath, at: UInt = #line) {
        XCTAssertThrowsError(try LatePolicy.parse(yaml: yaml, file: "course.yml"), file: file, line: at) { error in
            guard let e = error as? NotebookError else { return XCTFail("\(error)", file: file, line: at) }
            XCTAssertEqual(e.file, "course.yml", file: file, line: at)
            XCTAssertEqual(e.line, line, "\(e)", file: file, line: at)
            for word in words { XCTAssertTrue(e.message.contains(word), "\(e) lacks '\(word)'", file: file, line: at) }
        }
    }

    func testBadCourseFilesNameTheLine() {
        expectError("grace: 1 hour\ndue: 2026-11-20T23:59\n", line: 2, ["no time zone", "timezone"])
        expectError("due: 2026-11-20\n", line: 1, ["no time of day"])
        expectError("due: 2026-02-30T10:00Z\n", line: 1, ["not a date"])
        expectError("due: next friday\n", line: 1, ["ISO 8601"])
        expectError("timezone: Mars/Olympus\n", line: 1, ["unknown time zone"])
        expectError("due: 2026-11-20T23:59Z\ngrace: 15\n", line: 2, ["needs a unit"])
        expectError("due: 2026-11-20T23:59Z\npenalty_per_day: 150%\n", line: 2, ["percent"])
        expectError("due: 2026-11-20T23:59Z\nmax_penalty: lots\n", line: 2, ["neither points"])
        expectError("due: 2026-11-20T23:59Z\nlate_tokens: -1\n", line: 2, ["whole number"])
        expectError("due: 2026-11-20T23:59Z\n\npenalty: 10%\n", line: 3, ["unknown key 'penalty'", "penalty_per_day"])
        expectError("due: 2026-11-20T23:59Z\nexercises:\n  q05:\n    deadline: 2026-11-21T23:59Z\n", line: 4, ["unknown setting"])
        expectError("due: [1, 2\n", line: 2, ["invalid YAML"])
        expectError("due: 2026-11-20T23:59Z\ndue: 2026-11-21T23:59Z\n", line: 2, ["duplicated key"])
        expectError("penalty_per_day: 10%\n", line: 1, ["without any deadline"])
        expectError("due: 2026-11-20T23:59Z\nextensions:\n  alice: soon\n", line: 3, ["duration"])
    }

    func testUnknownExerciseKeysAreNamedAtTheirLines() throws {
        let yaml = """
        due: 2026-11-20T23:59Z
        exercises:
          q01: 2026-11-27T23:59Z
          q02-freeze-body: 2026-11-27T23:59Z
          q09: 2026-11-27T23:59Z
        extensions:
          alice:
            q03-wrong-name: 1 day

        """
        let policy = try LatePolicy.parse(yaml: yaml, file: "course.yml")
        let problems = policy.unknownExerciseKeys(exercises: ["q01-affine-map", "q02-freeze-body", "q03-accuracy"])
        XCTAssertEqual(problems.map(\.line), [5, 8])
        XCTAssertTrue(problems[0].description.hasPrefix("course.yml:5: error: no exercise 'q09'"), problems[0].description)
    }

    // MARK: - The grade model and the gradebook

    func grade(_ student: String, _ exercise: String, points: Double) -> ExerciseGrade {
        ExerciseGrade(student: student, exercise: exercise, status: .ok, message: "", notes: [],
                      checks: [CheckGrade(name: "visible", hidden: false, points: points, max: 10, status: .passed, message: "")],
                      output: "", seconds: 1)
    }

    func testOldCachedGradesStillDecode() throws {
        let old = """
        {"student":"a","exercise":"q01-a","status":"ok","message":"","notes":[],"checks":[],"output":"","seconds":1,"cached":false}
        """
        let decoded = try JSONDecoder().decode(ExerciseGrade.self, from: Data(old.utf8))
        XCTAssertNil(decoded.late)
        XCTAssertNil(decoded.submitted)
        XCTAssertNil(decoded.timeSource)
        var g = grade("a", "q01-a", points: 8)
        g.submitted = "2026-11-21T10:00:00Z"
        g.timeSource = .canvas
        g.lmsIDs = ["canvas_user_id": "1"]
        g.late = LateAssessment(due: "2026-11-20T22:59:00Z", daysLate: 1, tokensUsed: 0, penaltyPoints: 1, reason: "1 day late")
        let again = try JSONDecoder().decode(ExerciseGrade.self, from: JSONEncoder().encode(g))
        XCTAssertEqual(again.late, g.late)
        XCTAssertEqual(again.timeSource, .canvas)
        XCTAssertEqual(again.finalPoints, 7)
    }

    func testPenaltiesAreRowsOfTheirOwn() throws {
        let policy = LatePolicy(due: Self.due, penaltyPerDay: .percent(10), cap: .points(3))
        var late = grade("bob", "q01-a", points: 8)
        late.submitted = LatePolicy.iso(at(2.5 * Self.day))
        late.timeSource = .mtime
        late.late = policy.assess(student: "bob", work: [work("q01-a", late: 2.5, earned: 8)])["q01-a"]
        var onTime = grade("bob", "q02-b", points: 10)
        onTime.late = policy.assess(student: "bob", work: [work("q02-b", late: 0, earned: 10)])["q02-b"]
        let missing = grade("ann", "q01-a", points: 0)

        XCTAssertEqual(PenaltyRow.rows(from: [late, onTime, missing]),
                       [PenaltyRow(student: "bob", exercise: "q01-a", kind: "late", points: -3, detail: late.late!.reason)])
        let book = Gradebook(grades: [late, onTime, missing])
        let rows = book.rows.filter { $0.check == "(late penalty)" }
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0].points, -3)
        XCTAssertEqual(rows[0].max, 0)
        XCTAssertEqual(rows[0].status, "late")
        // The raw score stays on the exercise's row, with the submission time and its source.
        let exerciseRow = try XCTUnwrap(book.rows.first { $0.exercise == "q01-a" && $0.student == "bob" && $0.check == "(exercise)" })
        XCTAssertEqual(exerciseRow.points, 8)
        XCTAssertEqual(exerciseRow.timeSource, "mtime")
        XCTAssertTrue(book.csv.contains("bob,q01-a,(late penalty),-3,0,late,"), book.csv)
        XCTAssertTrue(book.csv.hasPrefix("student,exercise,check,points,max,status,message\n"))
        let html = book.feedbackHTML(for: "bob")
        XCTAssertTrue(html.contains("Late penalty: -3"), html)
        XCTAssertTrue(html.contains("Total: <strong>15 / 20</strong>"), html)
        XCTAssertTrue(html.contains("(8 before the late penalty)"), html)
        XCTAssertTrue(html.contains("on time"), html)
        XCTAssertTrue(html.contains("Submitted \(late.submitted!) (time from the file&#39;s modification time)"), html)
        let json = try JSONSerialization.jsonObject(with: book.json()) as? [String: Any]
        let jsonRows = try XCTUnwrap(json?["rows"] as? [[String: Any]])
        XCTAssertTrue(jsonRows.contains { $0["check"] as? String == "(late penalty)" && $0["points"] as? Double == -3 })
    }
}
