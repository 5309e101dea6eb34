import XCTest
@testable import Notebook

/// The Markdown inputs in fuzz/regressions (files that once crashed the tool) parse like their LF twins.
extension Array where Element: Equatable {
    func ends(with suffix: [Element]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

final class RegressionFixtureTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fuzz/regressions/markdown").standardized

    func fixture(_ name: String) throws -> String {
        let url = Self.folder.appendingPathComponent(name)
        // String(decoding:) keeps a byte order mark; Foundation's String(data:encoding:) drops it.
        return String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }

    func testEveryMarkdownRegressionParsesWithoutCrashing() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".md") }
        XCTAssertGreaterThanOrEqual(names.count, 3)
        let exerciseOptions = LessonParser.Configuration(extraFrontMatterKeys: ["memory"],
                                                         extraCellOptions: ["answer", "check", "hidden-check", "points"])
        for name in names {
            let lesson = try LessonParser(configuration: exerciseOptions).load(path: Self.folder.appendingPathComponent(name).path)
            XCTAssertFalse(lesson.cells.isEmpty, name)
            XCTAssertFalse(lesson.text.contains("\r"), name)
        }
    }

    func testTheReportedCRLFCell() throws {
        let lesson = try LessonParser().parse(text: try fixture("crlf-cell-from-report.md"), path: "x.md")
        XCTAssertEqual(lesson.cells.map(\.source), ["print(1)\n"])
        XCTAssertEqual(lesson.cells.map(\.endLine), [3])
    }

    func testCROnlyLessonKeepsItsLines() throws {
        let lesson = try LessonParser().parse(text: try fixture("cr-only-lesson.md"), path: "cr.md")
        XCTAssertEqual(lesson.frontMatter.title, "CR only")
        XCTAssertEqual(lesson.cells.map(\.line), [6])
        XCTAssertEqual(lesson.cells.map(\.source), ["let x = 1\nprint(x)\n"])
    }

    func testBOMCRLFExerciseWithoutFinalNewline() throws {
        let text = try fixture("bom-crlf-exercise-no-final-newline.md")
        let options = LessonParser.Configuration(extraCellOptions: ["check", "points"])
        let lesson = try LessonParser(configuration: options).parse(text: text, path: "q.md")
        XCTAssertEqual(lesson.frontMatter.title, "BOM")
        XCTAssertEqual(lesson.cells.map(\.line), [5, 12])
        XCTAssertEqual(lesson.cells.last?.endLine, 14)
        // Saving a cell keeps the mark, the CRLF endings and the missing final newline.
        let edited = try MarkdownText.replacingCellCode("c", with: "try expect(true, \"ok\")\n", in: text, path: "q.md", configuration: options)
        XCTAssertTrue(edited.utf8.starts(with: [0xEF, 0xBB, 0xBF]))
        XCTAssertTrue(Array(edited.utf8).ends(with: Array("points=1\r\ntry expect(true, \"ok\")\r\n```".utf8)), edited)
        XCTAssertEqual(Array(edited.utf8).count, Array(text.utf8).count - "try expectEqual(try answers.int(\"c\"), 4, \"c\")".utf8.count
                       + "try expect(true, \"ok\")".utf8.count, "nothing else changed")
    }
}
