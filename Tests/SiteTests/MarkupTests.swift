import Foundation
import Notebook
@testable import Site
import XCTest

final class MathExtractorTests: XCTestCase {
    let m = MathExtractor()

    func testInlineAndDisplay() {
        let (md, spans) = m.extract("a $x^2$ b $$\n\\sum_i x_i\n$$ c")
        XCTAssertEqual(md, "a WBMATH0Z b WBMATH1Z c")
        XCTAssertEqual(spans, [MathSpan(tex: "x^2", display: false), MathSpan(tex: "\\sum_i x_i", display: true)])
    }

    func testDollarsThatAreNotMath() {
        for text in ["costs $5 and `$PATH`", "costs $5 and $6", "\\$x$", "a $ b $", "`$x$`", "``a ` $x$ ``", "$x\ny$", "price: $"] {
            let (md, spans) = m.extract(text)
            XCTAssertEqual(spans, [], text)
            XCTAssertEqual(md, text)
        }
        // Escaped dollar inside math stays TeX.
        XCTAssertEqual(m.extract("$a\\$b$").spans, [MathSpan(tex: "a\\$b", display: false)])
    }

    func testCodeLinesAreLeftAlone() {
        let text = "```sh\necho $A$\n```\n$y$"
        let (md, spans) = m.extract(text, codeLines: [1, 2, 3])
        XCTAssertEqual(md, "```sh\necho $A$\n```\nWBMATH0Z")
        XCTAssertEqual(spans, [MathSpan(tex: "y", display: false)])
    }
}

final class MarkdownTests: XCTestCase {
    func testSafeByDefault() {
        let html = MarkdownRenderer().html("<script>x()</script>\n\n[a](javascript:alert(1)) *b*")
        XCTAssertFalse(html.contains("<script>"))
        XCTAssertFalse(html.contains("javascript:"))
        XCTAssertTrue(html.contains("<em>b</em>"))
        XCTAssertTrue(MarkdownRenderer(allowRawHTML: true).html("<span>x</span>").contains("<span>x</span>"))
    }

    func testHeadingAnchorsAreUnique() {
        var ids = Set<String>()
        let (html, headings) = MarkdownRenderer.anchorHeadings("<h2>Set-up &amp; <em>run</em>!</h2><p>x</p><h2>Set-up &amp; run</h2><h3>Ünïcode</h3>", ids: &ids)
        XCTAssertEqual(headings.map(\.id), ["set-up-run", "set-up-run-2", "ünïcode"])
        XCTAssertEqual(headings[0].text, "Set-up & run !")
        XCTAssertTrue(html.hasPrefix("<h2 id=\"set-up-run\">Set-up &amp; <em>run</em>!<a class=\"anchor\" href=\"#set-up-run\""))
    }

    func testCellPlaceholdersKeepLists() throws {
        let text = "- item\n\n  ```swift\n  let a = 1\n  ```\n- next\n"
        let lesson = try Notebook.LessonParser().parse(text: text, path: "l.md")
        let md = PageDraft.markdownWithPlaceholders(lesson)
        let html = MarkdownRenderer().html(md)
        XCTAssertTrue(html.contains("<li>\n<p>item</p>\n<p>WBCELL0Z</p>\n</li>"), html)
    }
}

final class SanitizerTests: XCTestCase {
    let s = MarkupSanitizer()

    func testRemovesScriptsHandlersAndExternalURLs() {
        let svg = """
        <svg viewBox="0 0 10 10"><script type="text/javascript">alert(1)</script><g onload='x()'>\
        <a xlink:href="javascript:alert(1)"><text x="1">a &lt; b</text></a>\
        <image href="https://cdn.example/x.png"/><use href="#m"/>\
        <foreignObject><div>html</div></foreignObject><rect style="fill:url(http://x)"/></g></svg>
        """
        let out = s.sanitize(svg)
        XCTAssertEqual(out, ##"<svg viewBox="0 0 10 10"><g><a><text x="1">a &lt; b</text></a><image/><use href="#m"/><rect/></g></svg>"##)
    }

    func testNestedDroppedElementsAndStrayBrackets() {
        XCTAssertEqual(s.sanitize("<object><object>x</object>y</object>z"), "z")
        XCTAssertEqual(s.sanitize("1 < 2 <b>ok</b>"), "1 &lt; 2 <b>ok</b>")
        XCTAssertEqual(s.sanitize("<img src=\"data:image/png;base64,AAA\" alt='a \"q\"'>"),
                       "<img src=\"data:image/png;base64,AAA\" alt=\"a &quot;q&quot;\">")
        XCTAssertEqual(s.sanitize("<!-- c --><b>x</b><script>never closed"), "<b>x</b>")
    }
}
