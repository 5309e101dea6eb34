import XCTest
@testable import Notebook

final class LessonParserTests: XCTestCase {
    let sample = """
    ---
    title: Tensors
    order: 2
    summary: "Shapes and broadcasting"
    timeout: 30
    inputs: [models/a.safetensors, data/*.bin]
    threads: 2
    seed: 7
    ---
    # Tensors

    Text before.

    ```swift
    let a = 1
    ```

    ```sh
    echo not a cell
    ```

    - a list item

      ```swift hide-source timeout=5 id=setup
      let b = a + 1
      print(b)
      ```

    End.
    """

    func testFrontMatterCellsAndLines() throws {
        let lesson = try LessonParser().parse(text: sample, path: "lessons/tensors.md")
        let fm = lesson.frontMatter
        XCTAssertEqual(fm.title, "Tensors")
        XCTAssertEqual(fm.order, 2)
        XCTAssertEqual(fm.summary, "Shapes and broadcasting")
        XCTAssertEqual(fm.timeout, 30)
        XCTAssertEqual(fm.inputs, ["models/a.safetensors", "data/*.bin"])
        XCTAssertEqual(fm.threads, 2)
        XCTAssertEqual(fm.seed, 7)
        XCTAssertEqual(fm.lines, 1...9)

        let cells = lesson.cells
        XCTAssertEqual(cells.count, 2, "the sh fence is plain code, not a cell")
        XCTAssertEqual(cells[0].line, 14)
        XCTAssertEqual(cells[0].codeLine, 15)
        XCTAssertEqual(cells[0].endLine, 16)
        XCTAssertEqual(cells[0].source, "let a = 1\n")
        XCTAssertEqual(cells[0].id, "cell-1")
        XCTAssertEqual(cells[1].line, 24)
        XCTAssertEqual(cells[1].source, "let b = a + 1\nprint(b)\n", "list indentation is removed")
        XCTAssertTrue(cells[1].options.hideSource)
        XCTAssertEqual(cells[1].options.timeout, 5)
        XCTAssertEqual(cells[1].id, "setup")
        XCTAssertEqual(lesson.name, "tensors")

        let prose = lesson.prose
        XCTAssertEqual(prose.count, 3)
        XCTAssertEqual(prose[0].lines, 10...13)
        XCTAssertTrue(prose[0].markdown.hasPrefix("# Tensors"))
        XCTAssertTrue(prose[1].markdown.contains("echo not a cell"))
        XCTAssertEqual(prose[2].lines, 28...29)
        // Blocks alternate in document order.
        guard case .prose = lesson.blocks[0], case .cell = lesson.blocks[1], case .prose = lesson.blocks[2],
              case .cell = lesson.blocks[3], case .prose = lesson.blocks[4] else {
            return XCTFail("unexpected block order")
        }
    }

    func testNoFrontMatter() throws {
        let lesson = try LessonParser().parse(text: "Hi\n```swift\nprint(1)\n```\n", path: "x.md")
        XCTAssertNil(lesson.frontMatter.lines)
        XCTAssertEqual(lesson.cells.map(\.line), [2])
    }

    func testOptions() throws {
        let lesson = try LessonParser().parse(text: "```swift no-run\nx\n```\n```swift expect-error hide-output\ny\n```\n", path: "x.md")
        XCTAssertTrue(lesson.cells[0].options.noRun)
        XCTAssertTrue(lesson.cells[1].options.expectError)
        XCTAssertTrue(lesson.cells[1].options.hideOutput)
        XCTAssertEqual(lesson.cells[1].options.canonical, "hide-output expect-error")
        // Extra options allowed by a configuration (the grader's markers) are kept.
        let parser = LessonParser(configuration: .init(extraFrontMatterKeys: ["points"], extraCellOptions: ["solution"]))
        let ex = try parser.parse(text: "---\npoints: 3\n---\n```swift solution\nz\n```\n", path: "e.md")
        XCTAssertEqual(ex.cells[0].options.extra, ["solution": ""])
        XCTAssertEqual(ex.frontMatter.extra, ["points": "3"])
    }

    func assertError(_ text: String, line: Int?, contains fragment: String,
                     file: StaticString = #filePath, testLine: UInt = #line) {
        XCTAssertThrowsError(try LessonParser().parse(text: text, path: "lessons/bad.md"), file: file, line: testLine) { error in
            guard let e = error as? NotebookError else { return XCTFail("\(error)", file: file, line: testLine) }
            XCTAssertEqual(e.file, "lessons/bad.md", file: file, line: testLine)
            XCTAssertEqual(e.line, line, "\(e)", file: file, line: testLine)
            XCTAssertTrue(e.message.contains(fragment), "\(e)", file: file, line: testLine)
            XCTAssertTrue(e.description.hasPrefix("lessons/bad.md:"), file: file, line: testLine)
        }
    }

    func testMalformedLessons() {
        assertError("---\ntitle: x\n\nno end\n", line: 1, contains: "unterminated front matter")
        assertError("---\ntitle: x\nseed: [1, 2\n---\n", line: 4, contains: "invalid YAML")
        assertError("---\ntitle: x\ntimout: 3\n---\n", line: 3, contains: "unknown front matter key 'timout'")
        assertError("---\nthreads: zero\n---\n", line: 2, contains: "'threads' must be a positive integer")
        assertError("text\n\n```swift hide-sorce\nx\n```\n", line: 3, contains: "unknown cell option 'hide-sorce'")
        assertError("```swift timeout=soon\nx\n```\n", line: 1, contains: "timeout=120")
        assertError("```swift hide-source hide-source\nx\n```\n", line: 1, contains: "given twice")
        assertError("a\n```swift\nx\ny\n", line: 2, contains: "unterminated ```swift cell")
        assertError("```swift id=a\nx\n```\n```swift id=a\ny\n```\n", line: 4, contains: "two cells have the id 'a'")
    }

    func testSHA256() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(String(repeating: "a", count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testCacheKeyIgnoresProseButNotCode() throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory())
        func key(_ text: String) throws -> String {
            try ExecutionCache.key(for: LessonParser().parse(text: text, path: "l.md"), engine: "e", toolchain: "t",
                                   packageRoot: root).key
        }
        let base = "# A\n```swift\nlet x = 1\n```\nafter\n"
        XCTAssertEqual(try key(base), try key("# A, edited\n\nmore text\n```swift\nlet x = 1\n```\nafter!\n"))
        XCTAssertNotEqual(try key(base), try key("# A\n```swift\nlet x = 2\n```\nafter\n"))
        XCTAssertNotEqual(try key(base), try key("# A\n```swift hide-output\nlet x = 1\n```\nafter\n"))
        XCTAssertNotEqual(try key(base), try key("---\nseed: 3\n---\n# A\n```swift\nlet x = 1\n```\nafter\n"))
    }

    func testStreamSegmentsByMarker() {
        let segments = OutputCollector.segments("pre\n\u{1E}WB:1\nA\npartial\u{1E}WB:3\nB\n\u{1E}WB:4\n")
        XCTAssertEqual(segments[0], "pre\n")
        XCTAssertEqual(segments[1], "A\npartial")
        XCTAssertEqual(segments[3], "B\n")
        XCTAssertEqual(segments[4], "")
    }

    func testAlignedTable() {
        let text = TerminalReport.alignedTable(headers: ["name", "n"], rows: [["a", "1"], ["bbb", "22"]], align: ["left", "right"])
        XCTAssertEqual(text, "name   n\n────  ──\na      1\nbbb   22\n")
    }
}
