import XCTest
@testable import Grader
import Notebook

/// `workbook test` in the notebook page: a student's copy of a course exercise, saved from the
/// page and run live, with each visible check's verdict as an event.
final class LiveExerciseTests: XCTestCase {
    nonisolated(unsafe) static var engine: EngineBuild?
    var directory: URL!

    override func setUpWithError() throws {
        do { Self.engine = try GradingTests.engine() } catch { throw XCTSkip("needs the engine release build: \(error)") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("live-exercise-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("handout"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The handout copy of a course exercise in a folder outside the package, as a student has it.
    func handout(_ name: String) throws -> (file: URL, reference: Exercise) {
        let reference = try Exercise.load(path: CourseExercisesTests.exercisesDirectory.appendingPathComponent(name + ".md").path)
        let file = directory.appendingPathComponent("handout/\(name).md")
        try Data(try reference.studentVersion().utf8).write(to: file)
        return (file, reference)
    }

    final class Events: @unchecked Sendable {
        let lock = NSLock()
        var list: [LiveEvent] = []
        func add(_ e: LiveEvent) { lock.lock(); list.append(e); lock.unlock() }
        var all: [LiveEvent] { lock.lock(); defer { lock.unlock() }; return list }
        var checks: [LiveCheck] { all.compactMap { if case .check(let c) = $0 { return c } else { return nil } } }
        func finished(_ cell: Int) -> CellResult? {
            all.lazy.compactMap { if case .cellFinished(let r) = $0, r.index == cell { return r } else { return nil } }.first
        }
    }

    func grader() -> ExerciseGrader {
        ExerciseGrader(engine: Self.engine!, workDirectory: directory.appendingPathComponent("work"))
    }

    func testReferenceAnswerSavedFromThePagePassesEveryVisibleCheck() throws {
        let (file, reference) = try handout("q03-device")
        let answer = reference.lesson.cells.first { $0.id == "answer" }!
        // The page saves the answer cell, then runs the file.
        let saved = try CellEditor.replaceCode(ofCell: answer.index, in: file, with: Exercise.solutionSource(of: answer))
        let solution = Exercise.solutionSource(of: answer)
        XCTAssertEqual(saved.cells[answer.index].source, solution.hasSuffix("\n") ? solution : solution + "\n")
        let events = Events()
        let grade = try grader().runLive(exerciseAt: file, control: LiveRunControl(), onEvent: { events.add($0) })
        XCTAssertEqual(grade.status, .ok, grade.message)
        let visible = reference.checks.filter { !$0.hidden }.map(\.id)
        XCTAssertEqual(events.checks.map(\.name), visible)
        XCTAssertTrue(events.checks.allSatisfy(\.passed), "\(events.checks)")
        XCTAssertEqual(events.checks.first?.points, 1)
        // The cells streamed: the hand-in cell's print arrived as stdout, then its final result.
        let handIn = saved.cells.first { $0.id == "hand-in" }!.index
        XCTAssertTrue(events.all.contains { if case .output(handIn, let o) = $0 { return o.kind == .stdout && o.text!.contains("device: cpu") }; return false })
        XCTAssertEqual(events.finished(handIn)?.status, .ok)
        XCTAssertEqual(events.finished(answer.index)?.status, .ok)
        guard case .finished(let succeeded, let stopped, _) = events.all.last else { return XCTFail("no finished event") }
        XCTAssertTrue(succeeded)
        XCTAssertFalse(stopped)
    }

    func testBrokenAnswerFailsAtItsCell() throws {
        let (file, reference) = try handout("q03-device")
        let answer = reference.lesson.cells.first { $0.id == "answer" }!
        let lesson = try CellEditor.replaceCode(ofCell: answer.index, in: file, with: """
            let device = "cpu"
            let counts: [Int] = []
            let threads = counts[Threads.count]
            let coreType = ""
            """)
        let events = Events()
        let grade = try grader().runLive(exerciseAt: file, control: LiveRunControl(), onEvent: { events.add($0) })
        XCTAssertEqual(grade.status, .crash)
        let cell = try XCTUnwrap(events.finished(answer.index))
        XCTAssertEqual(cell.status, .error)
        let line = lesson.cells[answer.index].codeLine + 2
        XCTAssertTrue(cell.error?.hasPrefix("\(file.path):\(line): in cell \(answer.index + 1):") == true, cell.error ?? "nil")
        XCTAssertEqual(events.finished(answer.index + 1)?.status, .notRun, "the hand-in cell after it did not run")
        XCTAssertFalse(events.checks.isEmpty)
        XCTAssertTrue(events.checks.allSatisfy { !$0.passed }, "nothing was exported: \(events.checks)")
    }

    func testCompileErrorInTheAnswerIsAtItsCell() throws {
        let (file, reference) = try handout("q03-device")
        let answer = reference.lesson.cells.first { $0.id == "answer" }!
        let lesson = try CellEditor.replaceCode(ofCell: answer.index, in: file, with: "let device = \"cpu\"\nlet threads: Int = \"two\"\nlet coreType = \"\"")
        let events = Events()
        let grade = try grader().runLive(exerciseAt: file, control: LiveRunControl(), onEvent: { events.add($0) })
        XCTAssertEqual(grade.status, .compileError)
        let problems = events.all.compactMap { if case .compileFailed(let p) = $0 { return p } else { return nil } }.first
        XCTAssertEqual(problems?.first?.cell, answer.index)
        XCTAssertEqual(problems?.first?.line, lesson.cells[answer.index].codeLine + 1)
        XCTAssertEqual(events.finished(answer.index)?.status, .compileError)
        XCTAssertEqual(events.checks.count, reference.checks.filter { !$0.hidden }.count)
    }
}
