import XCTest
@testable import Grader
import Notebook

/// Exercises from fuzz/regressions that once crashed the grader's handout code.
final class RegressionFixtureTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fuzz/regressions/markdown").standardized

    /// Found by the fuzzer: a second '## Explanation' heading made the first section hold the
    /// hidden checks, which `studentVersion` then edited twice (Array.replaceSubrange trap).
    func testExplanationHoldingHiddenChecksIsAnErrorNotATrap() {
        let path = Self.folder.appendingPathComponent("explanation-holding-hidden-checks.md").path
        XCTAssertThrowsError(try Exercise.load(path: path)) { error in
            let error = error as? NotebookError
            XCTAssertEqual(error?.line, 42, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("hidden-check cell 'y-values' is inside the '## Explanation' section (lines 28-49)") == true,
                          "\(String(describing: error))")
        }
    }

    func testAnswerCellInsideTheExplanation() throws {
        let text = "```swift id=a\n// BEGIN SOLUTION\nlet x = 1\n// END SOLUTION\n```\n\n## Explanation\n\nWhy.\n\n```swift id=b answer\nlet y = 2\n```\n\n```swift check id=c\n```\n"
        let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: text, path: "q.md")
        XCTAssertThrowsError(try Exercise(lesson: lesson)) {
            XCTAssertTrue("\($0)".hasPrefix("q.md:11: error: answer cell 'b' is inside the '## Explanation' section"), "\($0)")
        }
        // Given cells and visible checks there are allowed (the handout only drops them).
        let allowed = text.replacingOccurrences(of: "id=b answer", with: "id=b")
        XCTAssertNoThrow(try Exercise(lesson: LessonParser(configuration: Exercise.parserConfiguration).parse(text: allowed, path: "q.md")).studentVersion())
    }
}
