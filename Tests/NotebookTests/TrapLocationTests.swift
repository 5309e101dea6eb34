import XCTest
@testable import Notebook

/// Traps and thrown errors are reported as one line at their own statement, without the Swift
/// runtime's stack trace (unless asked for).
extension LessonRunTests {
    func assertNoBacktrace(_ cells: [CellResult], file: StaticString = #filePath, line: UInt = #line) {
        for cell in cells {
            for output in cell.outputs {
                let text = output.text ?? ""
                XCTAssertFalse(text.contains("Current stack trace"), text, file: file, line: line)
                XCTAssertFalse(text.contains("<unavailable>"), text, file: file, line: line)
                XCTAssertFalse(text.contains("Error thrown at"), text, file: file, line: line)
            }
        }
    }

    func testTrapIsReportedAtItsStatementWithoutBacktrace() throws {
        let path = try write("trap.md", """
        # Index

        ```swift
        let xs = [1, 2, 3]
        let i = xs.count + 2
        print("before")
        print(xs[i])
        print("after")
        ```
        """)
        let run = try pipeline().run(path: path)
        let cell = run.result.cells[0]
        XCTAssertEqual(cell.status, .error)
        XCTAssertEqual(cell.error, "\(path):7: in cell 1: Fatal error: Index out of range")
        XCTAssertEqual(cell.outputs, [CellOutput(kind: .stdout, text: "before\n")])
        assertNoBacktrace(run.result.cells)

        // The raw trace stays available on request, and such a run is not cached.
        var options = LessonPipeline.Options()
        options.keepsBacktrace = true
        var verbose = LessonPipeline(engine: Self.engine!, options: options)
        verbose.cache = ExecutionCache(directory: directory.appendingPathComponent("cache-verbose"))
        verbose.workDirectory = directory.appendingPathComponent("build")
        let raw = try verbose.run(path: path)
        XCTAssertEqual(raw.result.cells[0].error, "\(path):7: in cell 1: Fatal error: Index out of range")
        XCTAssertTrue(raw.result.cells[0].outputs.contains { $0.text?.contains("Current stack trace") ?? false })
        XCTAssertNil(verbose.cache.lookup(raw.lesson, key: raw.result.key))
    }

    func testEngineOperatorTrapAndThrownErrorsPointAtTheirStatements() throws {
        let path = try write("errors.md", """
        ```swift
        let a = Tensor.zeros(2, 3)
        let b = Tensor.zeros(4)
        print("x")
        let c = a + b
        ```

        ```swift
        print("loading")
        let data = try ImageFolder(root: URL(fileURLWithPath: "/nonexistent/cifar/train"))
        ```

        ```swift
        print("checkpoint")
        let weights = try Checkpoint.load(URL(fileURLWithPath: "/nonexistent/model.safetensors"))
        ```
        """)
        let run = try pipeline().run(path: path)
        let cells = run.result.cells
        // An engine operator cannot take its caller's #line; the stack leads to the statement.
        XCTAssertEqual(cells[0].error, "\(path):5: in cell 1: add: shapes [2, 3] and [4] cannot be broadcast together")
        XCTAssertEqual(cells.map(\.status), [.error, .notRun, .notRun])
        assertNoBacktrace(cells)

        // Each thrown error on its own (a lesson stops at its first failing cell).
        let second = try write("dataset.md", """
        ```swift
        print("loading")
        let data = try ImageFolder(root: URL(fileURLWithPath: "/nonexistent/cifar/train"))
        ```
        """)
        let dataset = try pipeline().run(path: second).result.cells[0]
        let datasetError = try XCTUnwrap(dataset.error)
        XCTAssertTrue(datasetError.hasPrefix("\(second):3: in cell 1: "), datasetError)
        XCTAssertTrue(datasetError.contains("/nonexistent/cifar/train"), datasetError)
        XCTAssertFalse(datasetError.contains("\n"), datasetError)
        XCTAssertEqual(dataset.outputs, [CellOutput(kind: .stdout, text: "loading\n")])

        let third = try write("checkpoint.md", """
        Load weights.

        ```swift
        let name = "model"
        print("checkpoint")
        let weights = try Checkpoint.load(URL(fileURLWithPath: "/nonexistent/\\(name).safetensors"))
        ```
        """)
        let checkpoint = try pipeline().run(path: third).result.cells[0]
        let checkpointError = try XCTUnwrap(checkpoint.error)
        XCTAssertTrue(checkpointError.hasPrefix("\(third):6: in cell 1: "), checkpointError)
        XCTAssertTrue(checkpointError.contains("model.safetensors"), checkpointError)
        XCTAssertFalse(checkpointError.contains("Error raised at top level"), checkpointError)
        assertNoBacktrace([dataset, checkpoint])
    }
}

/// Where runs write: nothing into the package with the cache off; lessons outside the package
/// get build folders keyed by their full path.
extension LessonRunTests {
    func testNoCacheWritesNothingAndOutsideLessonsDoNotShareBuildFolders() throws {
        let first = try write("a.md", "```swift\nprint(\"first\")\n```\n")
        let otherFolder = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherFolder, withIntermediateDirectories: true)
        let second = otherFolder.appendingPathComponent("a.md").path
        try "```swift\nprint(\"second\")\n```\n".write(toFile: second, atomically: true, encoding: .utf8)

        let p = pipeline()
        let lessonA = try LessonParser().load(path: first), lessonB = try LessonParser().load(path: second)
        XCTAssertNotEqual(p.buildFolder(for: lessonA), p.buildFolder(for: lessonB))
        XCTAssertEqual(p.buildFolder(for: lessonA), p.buildFolder(for: try LessonParser().load(path: first)))
        XCTAssertEqual(try p.run(path: first).result.cells[0].outputs, [CellOutput(kind: .stdout, text: "first\n")])
        XCTAssertEqual(try p.run(path: second).result.cells[0].outputs, [CellOutput(kind: .stdout, text: "second\n")])

        var options = LessonPipeline.Options()
        options.useCache = false
        var uncached = LessonPipeline(engine: Self.engine!, options: options)
        let checkout = directory.appendingPathComponent("checkout/.workbook")
        uncached.cache = ExecutionCache(directory: checkout.appendingPathComponent("cache"))
        uncached.workDirectory = checkout.appendingPathComponent("build")
        XCTAssertEqual(try uncached.run(path: first).result.cells[0].outputs, [CellOutput(kind: .stdout, text: "first\n")])
        XCTAssertEqual(uncached.check(path: second), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkout.path), "--no-cache wrote into the checkout")
    }
}

/// A lesson saved with CRLF line endings runs, and its errors name the file's own lines.
extension LessonRunTests {
    func testCRLFLessonRunsAndReportsItsOwnLines() throws {
        let text = "---\r\ntitle: Windows\r\n---\r\n# CRLF\r\n\r\n```swift\r\nprint(\"one\")\r\n```\r\n\r\n```swift\r\nlet xs = [1]\r\nprint(xs[3])\r\n```\r\n"
        let url = directory.appendingPathComponent("lessons/crlf.md")
        try Data(text.utf8).write(to: url)
        let run = try pipeline().run(path: url.path)
        XCTAssertEqual(run.result.cells.map(\.status), [.ok, .error])
        XCTAssertEqual(run.result.cells[0].outputs, [CellOutput(kind: .stdout, text: "one\n")])
        XCTAssertEqual(run.result.cells[1].line, 10)
        XCTAssertEqual(run.result.cells[1].error, "\(url.path):12: in cell 2: Fatal error: Index out of range")
    }
}
