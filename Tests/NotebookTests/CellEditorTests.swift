import XCTest
@testable import Notebook

/// Saving an edited cell from the notebook page: only the cell's code lines change, whatever the
/// file's line endings, byte order mark or final newline, and the save is one rename.
final class CellEditorTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("cell-editor-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        CellEditor.failBeforeRename = nil
        try? FileManager.default.removeItem(at: folder)
    }

    let lesson = """
    ---
    title: Edit me
    ---
    # Edit me

    Some prose with `code`.

    ```swift id=first
    let a = 1
    print(a)
    ```

    More prose.

    ```swift
    print("second")
    ```

    ```sh
    echo not a cell
    ```

    ```swift
    ```
    """

    func write(_ text: String, ending: String = "\n", bom: Bool = false, finalNewline: Bool = true, name: String = "l.md") throws -> URL {
        var bytes = Array((bom ? "\u{FEFF}" : "").utf8)
        bytes += Array(text.replacingOccurrences(of: "\n", with: ending).utf8)
        if finalNewline { bytes += Array(ending.utf8) }
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    /// Checks that the file changed from `before` only inside the code lines of `cell` (the bytes
    /// before its first code line and from its closing fence on are the same), and that the cell
    /// now reads back as `code`.
    func assertOnlyCellChanged(_ url: URL, before: [UInt8], cell index: Int, code: String, ending: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let old = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: String(decoding: before, as: UTF8.self), path: url.path).cells[index]
        let after = try bytes(url)
        let start = before.starts(with: MarkdownText.byteOrderMark) ? 3 : 0
        let oldLines = MarkdownText.lines(of: before, from: start)
        let newLines = MarkdownText.lines(of: after, from: start)
        let codeStart = oldLines[old.line - 1].end
        let oldTail = oldLines[old.endLine - 1].content.lowerBound
        XCTAssertEqual(Array(after[..<codeStart]), Array(before[..<codeStart]), "bytes before the cell's code", file: file, line: line)
        let newCode = code.isEmpty ? 0 : code.split(separator: "\n", omittingEmptySubsequences: false).count - (code.hasSuffix("\n") ? 1 : 0)
        let newTail = newLines[old.line + newCode].content.lowerBound  // the closing fence's new place
        XCTAssertEqual(Array(after[newTail...]), Array(before[oldTail...]), "bytes from the closing fence on", file: file, line: line)
        let expectedCode = code.isEmpty ? "" : (code.hasSuffix("\n") ? code : code + "\n")
        let middle = Array(after[codeStart..<newTail])
        XCTAssertEqual(middle, Array(expectedCode.replacingOccurrences(of: "\n", with: ending).utf8),
                       "the new code uses the file's line endings", file: file, line: line)
        let reread = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: String(decoding: after, as: UTF8.self), path: url.path)
        XCTAssertEqual(reread.cells[index].source, expectedCode, file: file, line: line)
        XCTAssertEqual(leftovers(), [], "no temporary file is left", file: file, line: line)
    }

    func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(".") }
    }

    func testLFFileChangesOnlyTheCell() throws {
        let url = try write(lesson)
        let before = try bytes(url)
        let updated = try CellEditor.replaceCode(ofCell: 0, in: url, with: "let a = 2\nlet b = a * 3\nprint(b)")
        XCTAssertEqual(updated.cells[0].source, "let a = 2\nlet b = a * 3\nprint(b)\n")
        XCTAssertEqual(updated.cells[1].source, "print(\"second\")\n")
        try assertOnlyCellChanged(url, before: before, cell: 0, code: "let a = 2\nlet b = a * 3\nprint(b)", ending: "\n")
    }

    func testCRLFFileKeepsItsEndings() throws {
        let url = try write(lesson, ending: "\r\n")
        let before = try bytes(url)
        // Code typed in a browser comes with "\n" (or "\r\n" from a textarea): the file's endings win.
        _ = try CellEditor.replaceCode(ofCell: 1, in: url, with: "print(\"changed\")\r\nprint(3)\n")
        try assertOnlyCellChanged(url, before: before, cell: 1, code: "print(\"changed\")\nprint(3)\n", ending: "\r\n")
        XCTAssertFalse(String(decoding: try bytes(url), as: UTF8.self).replacingOccurrences(of: "\r\n", with: "").contains("\n"),
                       "no bare LF slipped into a CRLF file")
    }

    func testLoneCRFile() throws {
        let url = try write(lesson, ending: "\r")
        let before = try bytes(url)
        _ = try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(1)\nprint(2)\n")
        try assertOnlyCellChanged(url, before: before, cell: 0, code: "print(1)\nprint(2)\n", ending: "\r")
    }

    func testFileWithoutFinalNewline() throws {
        let text = lesson + "\n\n```swift\nprint(\"last\")\n```"
        let url = try write(text, finalNewline: false)
        let before = try bytes(url)
        XCTAssertNotEqual(before.last, 10)
        _ = try CellEditor.replaceCode(ofCell: 3, in: url, with: "print(\"new last\")")
        try assertOnlyCellChanged(url, before: before, cell: 3, code: "print(\"new last\")", ending: "\n")
        XCTAssertEqual(try bytes(url).suffix(4), Array("\n```".utf8), "still no final newline")
    }

    func testByteOrderMarkStays() throws {
        let url = try write(lesson, ending: "\r\n", bom: true)
        let before = try bytes(url)
        _ = try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(\"bom\")")
        XCTAssertEqual(Array(try bytes(url).prefix(3)), MarkdownText.byteOrderMark)
        try assertOnlyCellChanged(url, before: before, cell: 0, code: "print(\"bom\")", ending: "\r\n")
    }

    func testEmptyCellGetsCodeAndCodeCanBeEmptied() throws {
        let url = try write(lesson)
        var before = try bytes(url)
        _ = try CellEditor.replaceCode(ofCell: 2, in: url, with: "print(\"was empty\")\n")
        try assertOnlyCellChanged(url, before: before, cell: 2, code: "print(\"was empty\")\n", ending: "\n")
        before = try bytes(url)
        let updated = try CellEditor.replaceCode(ofCell: 1, in: url, with: "")
        XCTAssertEqual(updated.cells[1].source, "")
        try assertOnlyCellChanged(url, before: before, cell: 1, code: "", ending: "\n")
    }

    func testCodeClosingTheFenceIsRefusedNamingTheLine() throws {
        let url = try write(lesson)
        let before = try bytes(url)
        XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(1)\n```\nprint(2)")) { error in
            let e = error as? NotebookError
            XCTAssertEqual(e?.file, url.path)
            XCTAssertEqual(e?.line, 10, "the Markdown line the ``` would land on")
            XCTAssertTrue(e?.message.contains("line 2 of the new code") == true, "\(error)")
        }
        XCTAssertEqual(try bytes(url), before)
        // A shorter run of backticks, or one with text after it, does not close a ``` fence.
        _ = try CellEditor.replaceCode(ofCell: 0, in: url, with: "let s = \"\"\"\n``swift\n\"\"\"\n// ```swift")
    }

    func testIndexThatIsNotASwiftCell() throws {
        let url = try write(lesson)
        let before = try bytes(url)
        XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: 4, in: url, with: "print(1)")) { error in
            XCTAssertTrue("\(error)".contains("no Swift cell 5"), "\(error)")
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
        XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: -1, in: url, with: "print(1)"))
        XCTAssertEqual(try bytes(url), before)
    }

    func testChangedOnDiskIsRefused() throws {
        let url = try write(lesson)
        XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(9)", expecting: "let a = 0\n")) { error in
            XCTAssertTrue("\(error)".contains("changed on disk"), "\(error)")
        }
        _ = try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(9)", expecting: "let a = 1\nprint(a)\n")
    }

    let exercise = """
    ---
    title: Q
    ---
    ```swift
    let given = 3
    ```

    ```swift id=answer
    // BEGIN SOLUTION
    let answer = given * 2
    // END SOLUTION
    export("answer", answer)
    ```

    ```swift check id=doubled points=1
    check(answers["answer"] == 6)
    ```
    """

    func testExerciseOnlyAnswerCellsAreEditable() throws {
        let url = try write(exercise, name: "q.md")
        let before = try bytes(url)
        for index in [0, 2] {
            XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: index, in: url, with: "print(1)")) { error in
                XCTAssertTrue("\(error)".contains("only answer cells can be edited"), "\(error)")
            }
        }
        XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: 1, in: url, with: "let answer = 6")) { error in
            XCTAssertTrue("\(error)".contains("BEGIN SOLUTION"), "\(error)")
        }
        XCTAssertEqual(try bytes(url), before)
        let parsed = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: exercise, path: "q.md")
        XCTAssertEqual(try CellEditor.editableCells(in: parsed), [1])
        XCTAssertEqual(try CellEditor.editableCells(in: try LessonParser().parse(text: lesson, path: "l.md")), [0, 1, 2])
        let code = "// BEGIN SOLUTION\nlet answer = given + given\n// END SOLUTION\nexport(\"answer\", answer)\n"
        _ = try CellEditor.replaceCode(ofCell: 1, in: url, with: code)
        try assertOnlyCellChanged(url, before: before, cell: 1, code: code, ending: "\n")
        // A handout marks its answer cells with the option `answer`: any code goes.
        let handout = try write(exercise.replacingOccurrences(of: "```swift id=answer", with: "```swift id=answer answer"), name: "h.md")
        _ = try CellEditor.replaceCode(ofCell: 1, in: handout, with: "let answer = 6\nexport(\"answer\", answer)")
    }

    func testFailedWriteLeavesTheOldFileAndNoTemporary() throws {
        let url = try write(lesson, ending: "\r\n")
        let before = try bytes(url)
        struct Injected: Error {}
        CellEditor.failBeforeRename = { throw Injected() }
        XCTAssertThrowsError(try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(\"lost\")"))
        XCTAssertEqual(try bytes(url), before)
        XCTAssertEqual(leftovers(), [])
    }

    func testSaveIsARenameAndKeepsPermissions() throws {
        let url = try write(lesson)
        chmod(url.path, 0o640)
        var old = stat(); stat(url.path, &old)
        _ = try CellEditor.replaceCode(ofCell: 0, in: url, with: "print(1)")
        var new = stat(); stat(url.path, &new)
        XCTAssertNotEqual(old.st_ino, new.st_ino, "a new file was renamed over the old one (readers never see half a file)")
        XCTAssertEqual(new.st_mode & 0o777, 0o640)
    }
}
