import XCTest
@testable import Site

final class PipeTableTests: XCTestCase {
    func testPipeTableBecomesAnHTMLTableWithAlignmentAndInlineMarkdown() {
        let md = """
        Before.

        | method | **k** | note |
        |:---|---:|:-:|
        | scratch | 10 | a \\| b |
        | probe | 50 | `code` |

        After.
        """
        let html = MarkdownRenderer().html(md)
        XCTAssertTrue(html.contains("<p>Before.</p>"))
        XCTAssertTrue(html.contains("<th style=\"text-align:left\">method</th>"))
        XCTAssertTrue(html.contains("<th style=\"text-align:right\"><strong>k</strong></th>"))
        XCTAssertTrue(html.contains("<td style=\"text-align:center\">a | b</td>"))
        XCTAssertTrue(html.contains("<td style=\"text-align:center\"><code>code</code></td>"))
        XCTAssertEqual(html.components(separatedBy: "<tr>").count - 1, 3)
        XCTAssertTrue(html.contains("<p>After.</p>"))
    }

    func testPipesInsideFencesAndPlainTextStayText() {
        let md = """
        ```text
        | a | b |
        |---|---|
        ```

        x | y without a delimiter row
        """
        let html = MarkdownRenderer().html(md)
        XCTAssertFalse(html.contains("<table>"))
        XCTAssertTrue(html.contains("| a | b |"))
        XCTAssertTrue(html.contains("x | y without a delimiter row"))
    }

    func testRawHTMLInCellsIsStillEscapedInSafeMode() {
        let html = MarkdownRenderer().html("| a |\n|---|\n| <script>x</script> |\n")
        XCTAssertFalse(html.contains("<script>"))
    }
}
