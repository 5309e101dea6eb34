import XCTest
@testable import Notebook

/// Lessons saved on Windows (CRLF), classic Mac (lone CR) or with a UTF-8 byte order mark read
/// exactly as their LF twins, with the same line numbers.
final class LineEndingTests: XCTestCase {
    let lf = """
    ---
    title: Endings
    seed: 3
    ---
    # Endings

    ```swift id=first
    let a = 1
    print(a)
    ```

    Between.

    ```swift
    print(2)
    ```
    """ + "\n"

    func converted(_ text: String, to ending: String, bom: Bool = false) -> String {
        (bom ? "\u{FEFF}" : "") + text.replacingOccurrences(of: "\n", with: ending)
    }

    func assertSameLesson(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try LessonParser().parse(text: lf, path: "l.md")
        let lesson = try LessonParser().parse(text: text, path: "l.md")
        XCTAssertEqual(lesson.frontMatter, expected.frontMatter, file: file, line: line)
        XCTAssertEqual(lesson.cells, expected.cells, file: file, line: line)
        XCTAssertEqual(lesson.prose, expected.prose, file: file, line: line)
        XCTAssertEqual(lesson.text, lf, "the lesson's text is normalised", file: file, line: line)
        XCTAssertEqual(lesson.cells.map(\.line), [7, 14], file: file, line: line)
        XCTAssertEqual(lesson.cells.map(\.source), ["let a = 1\nprint(a)\n", "print(2)\n"], file: file, line: line)
    }

    func testCRLFLesson() throws { try assertSameLesson(converted(lf, to: "\r\n")) }
    func testCROnlyLesson() throws { try assertSameLesson(converted(lf, to: "\r")) }
    func testBOMLesson() throws {
        try assertSameLesson(converted(lf, to: "\n", bom: true))
        try assertSameLesson(converted(lf, to: "\r\n", bom: true))
    }

    /// The reported crash: `printf '```swift\r\nprint(1)\r\n```\r\n' > x.md; workbook check x.md`.
    func testCRLFCellFromTheReportLoadsFromDisk() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("crlf-\(UUID().uuidString).md")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("```swift\r\nprint(1)\r\n```\r\n".utf8).write(to: url)
        let lesson = try LessonParser().load(path: url.path)
        XCTAssertEqual(lesson.cells.count, 1)
        XCTAssertEqual(lesson.cells[0].source, "print(1)\n")
        XCTAssertEqual(lesson.cells[0].line, 1)
        XCTAssertEqual(lesson.cells[0].endLine, 3)
    }

    func testMixedEndingsWithoutFinalNewline() throws {
        let lesson = try LessonParser().parse(text: "Intro\r\n\r```swift\nlet x = 1\r\n```", path: "m.md")
        XCTAssertEqual(lesson.cells.map(\.line), [3])
        XCTAssertEqual(lesson.cells[0].endLine, 5)
        XCTAssertEqual(lesson.cells[0].source, "let x = 1\n")
    }

    /// Errors count lines the way the user's editor does, whatever the endings.
    func testErrorLinesUnderEachEnding() {
        let bad = "---\ntitle: x\n---\n\ntext\n\n```swift timeout=zero\nprint(1)\n```\n"
        let frontBad = "---\ntitle: x\nbogus: 1\n---\n"
        let unterminated = "a\n\nb\n```swift\nprint(1)\n"
        for ending in ["\n", "\r\n", "\r"] {
            for bom in [false, true] {
                for (text, line) in [(bad, 7), (frontBad, 3), (unterminated, 4)] {
                    XCTAssertThrowsError(try LessonParser().parse(text: converted(text, to: ending, bom: bom), path: "e.md")) { error in
                        XCTAssertEqual((error as? NotebookError)?.line, line, "\(ending.debugDescription) bom=\(bom): \(error)")
                    }
                }
            }
        }
    }

    func testFencesUnderEachEnding() {
        let text = "\u{FEFF}a\r\n\r\n~~~swift x\r\nlet y = 2\r\n~~~\r\n"
        let blocks = MarkdownFences.codeBlocks(in: text)
        XCTAssertEqual(blocks, [FencedCode(info: "swift x", code: "let y = 2\n", startLine: 3, endLine: 5)])
        XCTAssertEqual(MarkdownFences.codeBlocks(in: text.replacingOccurrences(of: "\r\n", with: "\r")), blocks)
    }

    func testNormalized() {
        XCTAssertEqual(MarkdownText.normalized("a\r\nb\rc\n\r\n"), "a\nb\nc\n\n")
        XCTAssertEqual(MarkdownText.normalized("\u{FEFF}x"), "x")
        XCTAssertEqual(MarkdownText.normalized("x\u{FEFF}"), "x\u{FEFF}", "only a leading mark is one")
        XCTAssertEqual(MarkdownText.normalized("plain\n"), "plain\n")
    }

    // MARK: Replacing one cell's code

    func testReplaceCellKeepsCRLFAndEveryOtherByte() throws {
        let text = converted(lf, to: "\r\n", bom: true)
        let edited = try MarkdownText.replacingCellCode("first", with: "let a = 41\nprint(a + 1)\nprint(0)\n", in: text, path: "l.md")
        let expected = text.replacingOccurrences(of: "let a = 1\r\nprint(a)\r\n", with: "let a = 41\r\nprint(a + 1)\r\nprint(0)\r\n")
        XCTAssertEqual(Array(edited.utf8), Array(expected.utf8))
        XCTAssertTrue(edited.utf8.starts(with: [0xEF, 0xBB, 0xBF]), "the byte order mark stays")
        let lesson = try LessonParser().parse(text: edited, path: "l.md")
        XCTAssertEqual(lesson.cells[0].source, "let a = 41\nprint(a + 1)\nprint(0)\n")
        XCTAssertEqual(lesson.cells[1].line, 15, "the next cell moved down by one line")
    }

    func testReplaceCellWithoutFinalNewline() throws {
        let text = "Intro\r\n\r\n```swift\r\nprint(1)\r\n```"
        let edited = try MarkdownText.replacingCellCode("cell-1", with: "print(2)\r\nprint(3)", in: text, path: "n.md")
        XCTAssertEqual(edited, "Intro\r\n\r\n```swift\r\nprint(2)\r\nprint(3)\r\n```")
        let emptied = try MarkdownText.replacingCellCode("cell-1", with: "", in: text, path: "n.md")
        XCTAssertEqual(emptied, "Intro\r\n\r\n```swift\r\n```")
        let refilled = try MarkdownText.replacingCellCode("cell-1", with: "x()\n", in: emptied, path: "n.md")
        XCTAssertEqual(refilled, "Intro\r\n\r\n```swift\r\nx()\r\n```")
    }

    func testReplaceCellKeepsLoneCRAndListIndentation() throws {
        let text = "- item\r\r  ```swift id=s\r  let b = 1\r  ```\rEnd"
        let edited = try MarkdownText.replacingCellCode("s", with: "let b = 2\n\nprint(b)\n", in: text, path: "c.md")
        XCTAssertEqual(edited, "- item\r\r  ```swift id=s\r  let b = 2\r\r  print(b)\r  ```\rEnd")
        XCTAssertEqual(try LessonParser().parse(text: edited, path: "c.md").cells[0].source, "let b = 2\n\nprint(b)\n")
    }

    func testReplaceCellRefusesCodeThatClosesTheFenceOrAnUnknownCell() {
        let text = "```swift\nprint(1)\n```\n\nAfter.\n"
        XCTAssertThrowsError(try MarkdownText.replacingCellCode("cell-1", with: "print(1)\n```\nprose", in: text, path: "f.md")) {
            XCTAssertTrue("\($0)".contains("f.md:2:"), "\($0)")
        }
        XCTAssertThrowsError(try MarkdownText.replacingCellCode("nope", with: "x", in: text, path: "f.md")) {
            XCTAssertTrue("\($0)".contains("no cell with the id 'nope'"), "\($0)")
        }
    }
}
