import XCTest
@testable import Notebook

/// Compiles and runs small lessons against the release engine build. Each compile+run costs
/// about a second, so the lessons are few and each checks several things.
final class LessonRunTests: XCTestCase {
    nonisolated(unsafe) static var engine: EngineBuild?

    var directory: URL!

    override func setUpWithError() throws {
        Self.engine = try ReleaseEngine.required()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("notebook-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("lessons"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func pipeline(force: Bool = false) -> LessonPipeline {
        var options = LessonPipeline.Options()
        options.force = force
        var p = LessonPipeline(engine: Self.engine!, options: options)
        p.cache = ExecutionCache(directory: directory.appendingPathComponent("cache"))
        p.workDirectory = directory.appendingPathComponent("build")
        return p
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent("lessons/\(name)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testSharedStateStreamsRichOutputsExpectedErrorAndTrap() throws {
        let path = try write("main.md", """
        ---
        seed: 3
        ---
        Set up.

        ```swift
        var total = Tensor.zeros(2, 3) + 1
        print("made", total.shape)
        fputs("warn 1\\n", stderr)
        ```

        ```swift
        total = total * 2
        print("sum", total.scalars.reduce(0, +))
        show(table: Table(headers: ["k", "v"], rows: [["a", 1], ["b", 2.5]]))
        print("between")
        show(LineChart(title: "Loss", series: [.init("train", y: [3, 2, 1])]))
        show(html: "<b>hi</b>")
        fputs("warn 2\\n", stderr)
        ```

        ```swift expect-error
        total = Tensor.zeros(7)
        let bad = Tensor.zeros(2, 3) + Tensor.zeros(4)
        ```

        ```swift
        print("still", total.shape)
        let boom = total + Tensor.zeros(4)
        print("unreachable")
        ```

        ```swift
        print("never")
        ```
        """)
        let run = try pipeline().run(path: path)
        XCTAssertFalse(run.cached)
        let cells = run.result.cells
        XCTAssertEqual(cells.map(\.status), [.ok, .ok, .expectedError, .error, .notRun])
        XCTAssertFalse(run.result.succeeded)

        XCTAssertEqual(cells[0].outputs, [CellOutput(kind: .stdout, text: "made [2, 3]\n"),
                                          CellOutput(kind: .stderr, text: "warn 1\n")])
        // Shared state: cell 2 sees `total` from cell 1; outputs keep their order around records.
        let kinds = cells[1].outputs.map(\.kind)
        XCTAssertEqual(kinds, [.stdout, .table, .stdout, .svg, .html, .stderr])
        XCTAssertEqual(cells[1].outputs[0].text, "sum 12.0\n")
        XCTAssertEqual(cells[1].outputs[1].headers, ["k", "v"])
        XCTAssertEqual(cells[1].outputs[1].rows, [["a", "1"], ["b", "2.5000"]])
        XCTAssertEqual(cells[1].outputs[1].align, ["left", "right"])
        XCTAssertEqual(cells[1].outputs[2].text, "between\n")
        XCTAssertTrue(cells[1].outputs[3].svg?.hasPrefix("<svg") ?? false)
        XCTAssertTrue(cells[1].outputs[3].svg?.contains("train") ?? false)
        XCTAssertEqual(cells[1].outputs[4].html, "<b>hi</b>")
        XCTAssertEqual(cells[1].outputs[5].text, "warn 2\n")

        // The expected error ran in a child: its assignment did not reach the parent.
        XCTAssertTrue(cells[2].error?.contains("shapes [2, 3] and [4] cannot be broadcast") ?? false, "\(cells[2].error ?? "nil")")
        XCTAssertEqual(cells[3].outputs.first, CellOutput(kind: .stdout, text: "still [2, 3]\n"))
        let error = try XCTUnwrap(cells[3].error)
        XCTAssertTrue(error.hasPrefix("\(path):29:"), "the line of the failing statement: \(error)")
        XCTAssertTrue(error.contains("cell 4"), error)
        XCTAssertTrue(error.contains("[2, 3] and [4]"), error)
        XCTAssertFalse(cells[3].outputs.contains { $0.text?.contains("unreachable") ?? false })
        XCTAssertTrue(cells[4].outputs.isEmpty)

        // The stored result is the documented JSON.
        let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: pipeline().cache.entryURL(for: run.lesson))) as? [String: Any]
        XCTAssertEqual(stored?["lesson"] as? String, path)
        XCTAssertEqual((stored?["cells"] as? [[String: Any]])?.count, 5)
    }

    func testCompileErrorPointsAtMarkdownLine() throws {
        let path = try write("broken.md", """
        # Broken

        ```swift
        let a = 1
        ```

        Prose.

        ```swift
        let b = a +
        let c = undefinedName
        ```

        ```swift
        print(a)
        ```
        """)
        let run = try pipeline().run(path: path)
        XCTAssertEqual(run.result.cells.map(\.status), [.notRun, .compileError, .notRun])
        let error = try XCTUnwrap(run.result.cells[1].error)
        XCTAssertTrue(error.contains("\(path):11:"), error)
        XCTAssertTrue(error.contains("cannot find 'undefinedName' in scope"), error)
        XCTAssertEqual(pipeline().check(path: path).first { $0.contains("undefinedName") }?.hasPrefix("\(path):11:"), true)
    }

    func testCellTimeoutAndExpectErrorThatDoesNotFail() throws {
        let path = try write("slow.md", """
        ```swift expect-error
        let fine = 1
        ```

        ```swift timeout=1
        print("start")
        while true { usleep(10_000) }
        ```

        ```swift
        print("after")
        ```
        """)
        let started = Date()
        let run = try pipeline().run(path: path)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        XCTAssertEqual(run.result.cells.map(\.status), [.error, .timeout, .notRun])
        XCTAssertTrue(run.result.cells[0].error?.contains("ran without an error") ?? false)
        XCTAssertTrue(run.result.cells[1].error?.contains("time limit of 1 s") ?? false)
        XCTAssertEqual(run.result.cells[1].outputs.first?.text, "start\n")
    }

    func testCacheHitOnProseEditMissOnCodeEdit() throws {
        let text = """
        Intro.

        ```swift
        print(Tensor.randn(3).shape, Tensor.zeros(2).shape)
        ```
        """
        let path = try write("cached.md", text)
        let first = try pipeline().run(path: path)
        XCTAssertFalse(first.cached)
        XCTAssertEqual(first.result.cells[0].outputs.first?.text, "[3] [2]\n")

        try write("cached.md", "Intro, rewritten.\n\nWith a new paragraph.\n" + text)
        let second = try pipeline().run(path: path)
        XCTAssertTrue(second.cached, "prose edits re-use the stored outputs")
        XCTAssertEqual(second.result.cells[0].line, 6, "cached cells take the lesson's new lines")
        XCTAssertEqual(second.result.cells[0].outputs, first.result.cells[0].outputs)
        XCTAssertFalse(try pipeline(force: true).run(path: path).cached, "--force re-runs")

        try write("cached.md", text.replacingOccurrences(of: "zeros(2)", with: "zeros(5)"))
        let third = try pipeline().run(path: path)
        XCTAssertFalse(third.cached)
        XCTAssertEqual(third.result.cells[0].outputs.first?.text, "[3] [5]\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("cache").path).count, 1,
                       "one entry per lesson")
    }
}
