import Foundation
import Notebook
import Server
import XCTest

/// Runs through the real backend (CellEditor, LiveRunner) over HTTP: the lesson is saved and run
/// and its events stream to the event channel. Needs the release engine library.
final class LiveBackendTests: XCTestCase {
    func testALessonRunThroughTheRealBackendStreamsItsEvents() throws {
        let engine: EngineBuild
        do {
            engine = try EngineBuild()
            try engine.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
        } catch {
            throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`: \(error)")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("live-backend-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let course = try ServedCourse(backend: LiveBackend(engine: engine, workDirectory: work))
        defer { course.remove() }
        let stream = try EventStream(port: course.port, cookie: course.cookie)
        let reply = try course.post("/__workbook/run", ["file": "lessons/01-first.md", "cell": 1,
                                                        "code": "for i in 1...3 { print(\"line\", i) }"])
        XCTAssertEqual(reply.status, 200, reply.body)
        let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["run"] as? Int)
        let events = try stream.run(id, timeout: 300)
        let types = events.compactMap { $0["type"] as? String }
        XCTAssertEqual(types.first, "started")
        XCTAssertEqual(events.last?["succeeded"] as? Bool, true, "\(events)")
        let printed = events.filter { $0["type"] as? String == "text" && $0["cell"] as? Int == 1 }.compactMap { $0["text"] as? String }.joined()
        XCTAssertEqual(printed, "line 1\nline 2\nline 3\n")
        let finished = events.filter { $0["type"] as? String == "cellFinished" }
        XCTAssertEqual(finished.compactMap { $0["cell"] as? Int }, [0, 1])
        XCTAssertTrue((finished.last?["html"] as? String ?? "").contains("line 3"))
        let saved = try String(contentsOf: course.root.appendingPathComponent("lessons/01-first.md"), encoding: .utf8)
        XCTAssertEqual(saved, ServedCourse.lesson.replacingOccurrences(of: "print(\"two\")", with: "for i in 1...3 { print(\"line\", i) }"))
    }
}
