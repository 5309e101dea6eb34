import XCTest
@testable import Site

final class HighlighterTests: XCTestCase {
    let h = SwiftHighlighter()

    func testKeywordsTypesNumbers() {
        XCTAssertEqual(h.highlight("let x: Int = 42"),
                       #"<span class="k">let</span> x: <span class="t">Int</span> = <span class="n">42</span>"#)
        XCTAssertEqual(h.highlight("0x1F 1_000.5e-3 x2"),
                       #"<span class="n">0x1F</span> <span class="n">1_000.5e-3</span> x2"#)
        XCTAssertEqual(h.highlight("x.self; x.count"), #"x.<span class="k">self</span>; x.count"#)
        XCTAssertEqual(h.highlight("a.default"), "a.default", "member names after a dot are not keywords")
    }

    func testCommentsIncludingNested() {
        XCTAssertEqual(h.highlight("a // b < c\nd"), #"a <span class="c">// b &lt; c</span>"# + "\nd")
        XCTAssertEqual(h.highlight("/* x /* y */ z */ let"),
                       #"<span class="c">/* x /* y */ z */</span> <span class="k">let</span>"#)
    }

    func testStringsWithInterpolationAndEscapes() {
        XCTAssertEqual(h.highlight(#""a\(b + 1)c""#),
                       #"<span class="s">"a</span><span class="i">\(</span>b + <span class="n">1</span><span class="i">)</span><span class="s">c"</span>"#)
        XCTAssertEqual(h.highlight(#""q\"<""#), #"<span class="s">"q</span><span class="e">\"</span><span class="s">&lt;"</span>"#)
        // Nested parentheses and a string inside an interpolation.
        XCTAssertEqual(h.highlight(#""\(f("x)"))""#),
                       #"<span class="s">"</span><span class="i">\(</span>f(<span class="s">"x)"</span>)<span class="i">)</span><span class="s">"</span>"#)
    }

    func testMultilineAndRawStrings() {
        let code = "let s = \"\"\"\n  a \"quoted\" // not a comment\n  \"\"\"\nlet t"
        XCTAssertEqual(h.highlight(code),
                       "<span class=\"k\">let</span> s = <span class=\"s\">\"\"\"" + "\n  a \"quoted\" // not a comment\n  \"\"\"</span>\n" + #"<span class="k">let</span> t"#)
        XCTAssertEqual(h.highlight(##"#"a\n"b"# x"##), ##"<span class="s">#"a\n"b"#</span> x"##)
        XCTAssertEqual(h.highlight(##"#"v=\#(v)"#"##),
                       ##"<span class="s">#"v=</span><span class="i">\#(</span>v<span class="i">)</span><span class="s">"#</span>"##)
    }

    func testAttributesAndDirectives() {
        XCTAssertEqual(h.highlight("@MainActor func f()"),
                       #"<span class="a">@MainActor</span> <span class="k">func</span> f()"#)
        XCTAssertEqual(h.highlight("#sourceLocation(file: \"a.md\", line: 3)"),
                       #"<span class="d">#sourceLocation</span>(file: <span class="s">"a.md"</span>, line: <span class="n">3</span>)"#)
        XCTAssertEqual(h.highlight("#if DEBUG\n#endif"), #"<span class="d">#if</span> <span class="t">DEBUG</span>"# + "\n" + #"<span class="d">#endif</span>"#)
    }

    func testEscapesEverythingAndKeepsText() {
        let code = "let a = b < c && d > e // <script>\n`class` = 1\n\"unterminated <\nx"
        let html = h.highlight(code)
        XCTAssertFalse(html.contains("<script>"))
        let text = html.replacingOccurrences(of: #"<span class="[a-z]">"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: "</span>", with: "")
        XCTAssertEqual(HTML.decodeEntities(text), code, "highlighting only adds spans")
    }
}
