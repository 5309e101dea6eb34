import Foundation
import Notebook
@testable import Site
import XCTest

final class SiteBuildTests: XCTestCase {
    var fixture: CourseFixture!

    override func setUpWithError() throws { fixture = try CourseFixture() }
    override func tearDown() { fixture.remove() }

    @discardableResult
    func build(_ configure: (inout SiteBuilder.Options) -> Void = { _ in },
               executor: FixtureExecutor = FixtureExecutor()) throws -> (BuiltSite, SiteBuilder.Report) {
        var options = fixture.options()
        configure(&options)
        let report = try SiteBuilder(options: options).build(executor: executor)
        return (BuiltSite(root: options.output), report)
    }

    func testPagesAndAssetsExist() throws {
        let (site, report) = try build()
        XCTAssertEqual(report.pages, 4)
        XCTAssertEqual(report.cached, 3)
        let files = site.files()
        for f in ["index.html", "lessons/01-intro.html", "lessons/02-more.html", "exercises/freeze.html",
                  "assets/style.css", "assets/search.js", "assets/search-index.js", "lessons/images/plot.png"] {
            XCTAssertTrue(files.contains(f), "missing \(f) in \(files)")
        }
        XCTAssertFalse(files.contains("lessons/index.html"), "index.md is the home page, not a lesson")
        XCTAssertEqual(files.filter { $0.hasPrefix("assets/img/") && $0.hasSuffix(".png") }.count, 1)
        let home = try site.page("index.html")
        XCTAssertTrue(home.contains("<title>Transfer Learning Workbook</title>"))
        XCTAssertTrue(home.contains("Welcome to the <strong>course</strong>. Money: $5."))
        // Lesson list in order with summaries, exercise list.
        let first = try XCTUnwrap(home.range(of: "href=\"lessons/01-intro.html\">Tensors &amp; &quot;friends&quot;</a>"))
        let second = try XCTUnwrap(home.range(of: "href=\"lessons/02-more.html\">More tensors</a>"))
        XCTAssertLessThan(first.lowerBound, second.lowerBound)
        XCTAssertTrue(home.contains("<p>First steps with &lt;tensors&gt;.</p>"))
        XCTAssertTrue(home.contains("href=\"exercises/freeze.html\">Freeze the body</a>"))
    }

    func testOutputsFollowTheirCellsInOrder() throws {
        let (site, _) = try build()
        let page = try site.page("lessons/01-intro.html")
        func position(_ s: String, after: String.Index? = nil) throws -> String.Index {
            let range = page.range(of: s, range: (after ?? page.startIndex)..<page.endIndex)
            return try XCTUnwrap(range, "\(s) not found in order").lowerBound
        }
        var at = try position("<div class=\"cell normal\" id=\"cell-1\"")
        // Highlighted source first, then outputs in the order produced.
        for piece in ["<span class=\"k\">let</span> x = <span class=\"n\">1</span> <span class=\"c\">// a comment</span>",
                      "<pre class=\"output stdout\">hello</pre>",
                      "<th class=\"align-left\">name</th><th class=\"align-right\">value</th>",
                      "<td class=\"align-left\">b&lt;i&gt;</td><td class=\"align-right\">2.5</td>",
                      "<pre class=\"output stdout\">between</pre>",
                      "<img src=\"../assets/img/", "<figcaption>two red, two blue</figcaption>",
                      "<figure class=\"output svg\"><svg", "<text>loss &lt; 1</text>",
                      "<b>bold output</b>", "<pre class=\"output stderr\"", "a warning",
                      "id=\"cell-2\""] {
            at = try position(piece, after: at)
        }
        // hide-source: outputs without the code.
        let c2 = try XCTUnwrap(page.range(of: "id=\"cell-2\""))
        let c3 = try XCTUnwrap(page.range(of: "id=\"cell-3\""))
        let cell2 = page[c2.lowerBound..<c3.lowerBound]
        XCTAssertFalse(cell2.contains("class=\"source\""))
        XCTAssertTrue(cell2.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        // hide-output: the code without the outputs.
        let cell3 = String(page[page.range(of: "id=\"cell-3\"")!.lowerBound...])
        XCTAssertTrue(cell3.contains("HIDDEN_OUTPUT_TEXT\"</span>"), "the source is shown")
        XCTAssertFalse(cell3.contains("<pre class=\"output stdout\">HIDDEN_OUTPUT_TEXT"))
    }

    func testOutputIsEscapedAndMarkupSanitised() throws {
        let (site, _) = try build()
        let page = try site.page("lessons/01-intro.html")
        XCTAssertFalse(page.contains("<script>alert"), "cell output must be escaped")
        XCTAssertTrue(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertFalse(page.contains("alert(2)"), "scripts in SVG are removed")
        XCTAssertFalse(page.contains("onclick"))
        XCTAssertFalse(page.contains("example.com"))
        XCTAssertTrue(page.contains("<title>Tensors &amp; &quot;friends&quot; · Transfer Learning Workbook</title>"))
        // Only the theme's own script tags remain: the theme choice in <head>, search.js, site.js.
        let scripts = page.components(separatedBy: "<script").dropFirst().map { String($0.prefix { $0 != "\n" }) }
        XCTAssertEqual(scripts, [">", " defer src=\"../assets/search.js\"></script>", " defer src=\"../assets/site.js\"></script>"])
        XCTAssertTrue(page.contains("<script>\n// Before the style sheet applies"))
    }

    func testNavigationSidebarAndTableOfContents() throws {
        let (site, _) = try build()
        let l1 = try site.page("lessons/01-intro.html")
        XCTAssertTrue(l1.contains("class=\"prev\" href=\"../index.html\""))
        XCTAssertTrue(l1.contains("class=\"next\" href=\"../lessons/02-more.html\""))
        let l2 = try site.page("lessons/02-more.html")
        XCTAssertTrue(l2.contains("class=\"prev\" href=\"../lessons/01-intro.html\""))
        XCTAssertTrue(l2.contains("class=\"next\" href=\"../exercises/freeze.html\""))
        let ex = try site.page("exercises/freeze.html")
        XCTAssertTrue(ex.contains("class=\"prev\" href=\"../lessons/02-more.html\""))
        XCTAssertFalse(ex.contains("class=\"next\""))
        let home = try site.page("index.html")
        XCTAssertTrue(home.contains("class=\"next\" href=\"lessons/01-intro.html\""))
        // Sidebar: every page, the current one marked.
        for page in [l1, l2, ex] {
            for href in ["../index.html", "../lessons/01-intro.html", "../lessons/02-more.html", "../exercises/freeze.html"] {
                XCTAssertTrue(page.contains("<a href=\"\(href)\""), "sidebar lacks \(href)")
            }
        }
        XCTAssertTrue(l2.contains("<a href=\"../lessons/02-more.html\" class=\"current\" aria-current=\"page\">More tensors</a>"))
        XCTAssertEqual(l2.components(separatedBy: "aria-current").count - 1, 1)
        // Headings get anchors; the table of contents lists h2 and h3.
        XCTAssertTrue(l1.contains("<h2 id=\"creating-tensors\">Creating tensors"))
        XCTAssertTrue(l1.contains("<li><a href=\"#creating-tensors\">Creating tensors</a></li>"))
        XCTAssertTrue(l1.contains("<li class=\"sub\"><a href=\"#details\">Details</a></li>"))
        // The body's leading `# Tensors` becomes the page title shown by the template (front matter's
        // title wins), above the summary; there is one h1.
        XCTAssertEqual(l1.components(separatedBy: "<h1").count - 1, 1)
        let title = try XCTUnwrap(l1.range(of: "<h1 class=\"page-title\">Tensors &amp; &quot;friends&quot;</h1>"))
        let summary = try XCTUnwrap(l1.range(of: "<p class=\"summary\">First steps with &lt;tensors&gt;.</p>"))
        XCTAssertLessThan(title.lowerBound, summary.lowerBound)
        XCTAssertEqual(l2.components(separatedBy: "<h1 class=\"page-title\">More tensors</h1>").count - 1, 1)
        // A link to another lesson's Markdown goes to its page.
        XCTAssertTrue(l1.contains("href=\"../lessons/02-more.html#next-steps\""))
        XCTAssertTrue(l2.contains("id=\"next-steps\""))
        // Expected errors are shown as such.
        XCTAssertTrue(l2.contains("class=\"output expected-error\""))
        XCTAssertTrue(l2.contains("lessons/02-more.md:9: expected"))
    }

    func testLinksAreRelativeAndResolve() throws {
        let (site, _) = try build()
        var checked = 0
        for file in site.files() where file.hasSuffix(".html") {
            let html = try site.page(file)
            let folder = (file as NSString).deletingLastPathComponent
            for link in BuiltSite.links(in: html) {
                XCTAssertFalse(link.hasPrefix("http:") || link.hasPrefix("https:") || link.hasPrefix("//") || link.hasPrefix("/"),
                               "\(file): absolute or external link \(link)")
                let path = String(link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0])
                if path.isEmpty { continue }  // in-page anchor
                let target = SiteRenderer.normalize(folder.isEmpty ? path : folder + "/" + path)
                XCTAssertTrue(FileManager.default.fileExists(atPath: site.root.appendingPathComponent(target).path),
                              "\(file): \(link) does not resolve")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 30)
        // url(...) in stylesheets (KaTeX fonts) resolve too.
        for file in site.files() where file.hasSuffix(".css") {
            let css = try site.page(file)
            let regex = try NSRegularExpression(pattern: "url\\(([^)]*)\\)")
            for m in regex.matches(in: css, range: NSRange(css.startIndex..., in: css)) {
                let url = String(css[Range(m.range(at: 1), in: css)!]).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                XCTAssertFalse(url.contains("//"), "\(file): \(url)")
                let target = SiteRenderer.normalize((file as NSString).deletingLastPathComponent + "/" + url)
                XCTAssertTrue(FileManager.default.fileExists(atPath: site.root.appendingPathComponent(target).path), "\(file): \(url)")
            }
        }
    }

    func testEveryTextFileIsUTF8() throws {
        let (site, _) = try build()
        for file in site.files() where ["html", "js", "css"].contains((file as NSString).pathExtension) {
            XCTAssertNotNil(String(data: try Data(contentsOf: site.root.appendingPathComponent(file)), encoding: .utf8), file)
        }
    }

    func testMathRenderedAtBuildTimeWhenKaTeXIsInstalled() throws {
        guard case .server = MathRenderer.detect().mode else { throw XCTSkip("node + KaTeX not installed") }
        let (site, _) = try build()
        let page = try site.page("lessons/01-intro.html")
        XCTAssertTrue(page.contains("class=\"katex\""))
        XCTAssertTrue(page.contains("class=\"katex-display\""))
        XCTAssertTrue(page.contains("assets/katex/katex.min.css"))
        XCTAssertFalse(page.contains("WBMATH"))
        XCTAssertFalse(page.contains("katex.min.js"), "no client-side rendering needed")
        // Not math: code spans, escaped dollars, prices, code blocks.
        XCTAssertTrue(page.contains("<code>echo $HOME $PATH</code>"))
        XCTAssertTrue(page.contains("escaped $5, and prices $5 and $6 are not math"))
        XCTAssertTrue(page.contains("echo &quot;$NOT_MATH$&quot;"))
        XCTAssertTrue(site.files().contains { $0.hasPrefix("assets/katex/fonts/") && $0.hasSuffix(".woff2") })
        // Pages without math do not load KaTeX.
        XCTAssertFalse(try site.page("lessons/02-more.html").contains("katex"))
    }

    func testMathLeftForTheBrowserWithoutKaTeX() throws {
        let (site, report) = try build { $0.mathMode = .client }
        let page = try site.page("lessons/01-intro.html")
        XCTAssertTrue(page.contains("<span class=\"math inline\">\\(x^2 + y_i\\)</span>"))
        XCTAssertTrue(page.contains("<span class=\"math display\">\\[\\sum_i w_i x_i\\]</span>"))
        if MathRenderer.detect().assets != nil {
            XCTAssertTrue(page.contains("src=\"../assets/katex/katex.min.js\""))
            XCTAssertTrue(site.files().contains("assets/katex/auto-render.js"))
        }
        XCTAssertTrue(report.warnings.contains { $0.contains("math is left for the browser") })
    }

    func testSearchIndexCoversPagesAndSections() throws {
        let (site, _) = try build()
        let js = try site.page("assets/search-index.js")
        let prefix = "window.\(SearchIndex.globalName) = "
        XCTAssertTrue(js.hasPrefix(prefix))
        let json = js.dropFirst(prefix.count).trimmingCharacters(in: .whitespacesAndNewlines).dropLast()
        let index = try JSONDecoder().decode(SearchIndex.self, from: Data(json.utf8))
        XCTAssertEqual(Set(index.pages.map(\.u)), ["index.html", "lessons/01-intro.html", "lessons/02-more.html", "exercises/freeze.html"])
        for page in index.pages {
            XCTAssertTrue(FileManager.default.fileExists(atPath: site.root.appendingPathComponent(page.u).path), page.u)
            let html = try site.page(page.u)
            for section in page.s where !section.a.isEmpty {
                XCTAssertTrue(html.contains("id=\"\(section.a)\""), "\(page.u)#\(section.a) has no anchor")
            }
        }
        let l1 = try XCTUnwrap(index.pages.first { $0.u == "lessons/01-intro.html" })
        XCTAssertEqual(l1.t, "Tensors & \"friends\"")
        let creating = try XCTUnwrap(l1.s.first { $0.a == "creating-tensors" })
        XCTAssertEqual(creating.h, "Creating tensors")
        XCTAssertTrue(creating.x.contains("let x = 1"), "cell code is searchable: \(creating.x)")
        XCTAssertTrue(l1.s.contains { $0.x.contains("x^2 + y_i") }, "math is indexed as TeX")
        XCTAssertFalse(js.contains("WBCELL") || js.contains("WBMATH"))
        XCTAssertTrue(js.contains("SOLUTION_SECRET_42"), "solutions are searchable when included")
        XCTAssertFalse(js.contains("GRADER_ONLY_CHECK"))
        // The page loads the index lazily through search.js, never directly.
        let page = try site.page("lessons/01-intro.html")
        XCTAssertTrue(page.contains("data-index=\"../assets/search-index.js\""))
        XCTAssertFalse(page.contains("<script src=\"../assets/search-index.js\""))
    }

    func testExercisePageHasStarterAndSolutionToggle() throws {
        let (site, _) = try build()
        let page = try site.page("exercises/freeze.html")
        XCTAssertTrue(page.contains("<p class=\"cell-label\">Starter code</p>"))
        let details = try XCTUnwrap(page.range(of: "<details class=\"solution\"><summary>Show solution</summary>"))
        let secret = try XCTUnwrap(page.range(of: "<pre class=\"output stdout\">SOLUTION_SECRET_42</pre>"))
        let close = try XCTUnwrap(page.range(of: "</details>"))
        XCTAssertTrue(details.upperBound < secret.lowerBound && secret.upperBound < close.lowerBound)
        XCTAssertFalse(page.contains("GRADER_ONLY_CHECK"), "hidden cells are not shown")
    }

    func testNoSolutionsLeavesNoTraceAnywhere() throws {
        let executor = FixtureExecutor()
        let (site, _) = try build({ $0.renderer.includeSolutions = false }, executor: executor)
        for file in site.files() {
            let data = try Data(contentsOf: site.root.appendingPathComponent(file))
            let text = String(decoding: data, as: UTF8.self)
            XCTAssertFalse(text.contains("SOLUTION_SECRET_42"), "solution text in \(file)")
            XCTAssertFalse(text.contains("Show solution"), "solution toggle in \(file)")
        }
        let page = try site.page("exercises/freeze.html")
        XCTAssertTrue(page.contains("Starter code"))
        XCTAssertTrue(page.contains("Solution notes"), "prose stays")
        // The exercise ran its reference answer; check cells are closures over exports, never run.
        let ran = try XCTUnwrap(executor.log.executed.first { $0.path == "exercises/freeze.md" })
        XCTAssertFalse(ran.cells[0].options.noRun)
        XCTAssertTrue(ran.cells[1].options.noRun)
        XCTAssertTrue(ran.cells[2].options.noRun)
    }

    func testExerciseHooks() throws {
        let (site, _) = try build()
        let page = try site.page("exercises/freeze.html")
        // The starter comes before the solution toggle, with its own id.
        let starter = try XCTUnwrap(page.range(of: "<div class=\"cell starter\" id=\"answer-starter\">"))
        let solution = try XCTUnwrap(page.range(of: "<details class=\"solution\">"))
        XCTAssertLessThan(starter.lowerBound, solution.lowerBound)
        XCTAssertTrue(page.contains("STARTER_CODE_1"))
        XCTAssertFalse(page.contains("BEGIN SOLUTION") || page.contains("// STARTER"),
                       "the displayed solution comes from Exercise.solutionSource, without markers")
        XCTAssertTrue(page.contains("<p class=\"cell-label\">Check</p>"))
        XCTAssertTrue(page.contains("VISIBLE_CHECK_CODE"), "a visible check is shown")
        XCTAssertFalse(page.contains("GRADER_ONLY_CHECK"), "a hidden check is not")
        XCTAssertTrue(page.contains("EXPLANATION_SECRET"))
        XCTAssertEqual(page.components(separatedBy: "id=\"answer\"").count - 1, 1, "ids stay unique")

        let (student, _) = try build({ $0.renderer.includeSolutions = false })
        for file in student.files() {
            let text = String(decoding: try Data(contentsOf: student.root.appendingPathComponent(file)), as: UTF8.self)
            XCTAssertFalse(text.contains("EXPLANATION_SECRET"), "explanation in \(file)")
            XCTAssertFalse(text.contains("SOLUTION_SECRET_42"), "solution in \(file)")
        }
        let handout = try student.page("exercises/freeze.html")
        XCTAssertTrue(handout.contains("STARTER_CODE_1"), "the starter stays")
        XCTAssertTrue(handout.contains("Back to the question."), "prose after the explanation stays")
        XCTAssertTrue(handout.contains("Solution notes"))

        // An exercise that breaks the exercise format stops the build, naming the file and line.
        try "---\ntitle: x\n---\n```swift check points=1\nprint(1)\n```\n".write(to: fixture.root.appendingPathComponent("exercises/bad.md"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try build()) { error in
            XCTAssertTrue("\(error)".contains("exercises/bad.md:4: error: a check cell needs a name"), "\(error)")
        }
    }

    func testFailingLessonStopsTheBuildAndKeepsTheOldSite() throws {
        let (site, _) = try build()
        let before = try site.page("lessons/02-more.html")
        var failing = FixtureExecutor()
        failing.statuses["lessons/02-more.md"] = [1: ("error", "lessons/02-more.md:13: in cell 2: matmul: shapes [2, 3] and [2, 3] do not match")]
        XCTAssertThrowsError(try build(executor: failing)) { error in
            XCTAssertTrue("\(error)".contains("lessons/02-more.md:13:"), "\(error)")
        }
        XCTAssertEqual(try site.page("lessons/02-more.html"), before, "the previous site is intact")
        // --keep-going: the site is written with the error in the page, and the failure reported.
        let (_, report) = try build({ $0.keepGoing = true }, executor: failing)
        XCTAssertEqual(report.failures.count, 1)
        XCTAssertTrue(report.failures[0].hasPrefix("lessons/02-more.md:13:"))
        let page = try site.page("lessons/02-more.html")
        XCTAssertTrue(page.contains("<div class=\"output error\" role=\"note\"><p class=\"output-label\">Error</p><pre>lessons/02-more.md:13: in cell 2"))
    }

    func testMessagesOutsideCellsAreShownWithKeepGoing() throws {
        var failing = FixtureExecutor()
        failing.messages["lessons/01-intro.md"] = ["lessons/01-intro.md: error: the program exited with status 3 outside any cell"]
        XCTAssertThrowsError(try build(executor: failing))
        let (site, report) = try build({ $0.keepGoing = true }, executor: failing)
        XCTAssertEqual(report.failures, ["lessons/01-intro.md: error: the program exited with status 3 outside any cell"])
        XCTAssertTrue(try site.page("lessons/01-intro.html").contains("<pre>lessons/01-intro.md: error: the program exited with status 3 outside any cell</pre>"))
    }

    func testMathCacheAvoidsKaTeXOnRebuild() throws {
        guard case .server(_, let module) = MathRenderer.detect().mode else { throw XCTSkip("node + KaTeX not installed") }
        let cacheFile = fixture.root.appendingPathComponent("math.json")
        let spans = [MathSpan(tex: "a^2", display: false), MathSpan(tex: "\\frac{1}{2}", display: true)]
        let first = MathRenderer(mode: MathRenderer.detect().mode, assetsDirectory: nil, cacheFile: cacheFile)
        let html = try first.render(spans)
        XCTAssertTrue(html[1].contains("katex-display"))
        first.save()
        // No node at all: cached expressions still render, new ones need KaTeX.
        let offline = MathRenderer(mode: .server(node: "/nonexistent/node", katexModule: module), assetsDirectory: nil, cacheFile: cacheFile)
        XCTAssertEqual(try offline.render(spans), html)
        XCTAssertThrowsError(try offline.render([MathSpan(tex: "b", display: false)]))
        // Saving keeps only what this build used.
        _ = try offline.render([spans[0]])
        let pruned = MathRenderer(mode: .server(node: "/nonexistent/node", katexModule: module), assetsDirectory: nil, cacheFile: cacheFile)
        _ = try pruned.render([spans[0]])
        pruned.save()
        let stored = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: cacheFile))
        XCTAssertEqual(Set(stored.keys), ["#katex-version", "I:a^2"])
    }

    func testParseErrorNamesTheLine() throws {
        try "```swift bogus-option\nx\n```\n".write(to: fixture.root.appendingPathComponent("lessons/03-bad.md"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try build()) { error in
            XCTAssertTrue("\(error)".contains("lessons/03-bad.md:1: error: unknown cell option 'bogus-option'"), "\(error)")
        }
    }

    func testAtomicSwapKeepsOldSiteWhenRenderingThrows() throws {
        let out = fixture.root.appendingPathComponent("out")
        try SiteBuilder.replace(out) { dir in
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "old".write(to: dir.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        }
        struct Boom: Error {}
        XCTAssertThrowsError(try SiteBuilder.replace(out) { dir in
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "half".write(to: dir.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            throw Boom()
        })
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8), "old")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.root.path).filter { $0.hasPrefix(".out.") }
        XCTAssertEqual(leftovers, [], "no temporary folders left behind")
        // A successful render replaces everything (stale files go away).
        try SiteBuilder.replace(out) { dir in
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "new".write(to: dir.appendingPathComponent("other.html"), atomically: true, encoding: .utf8)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("index.html").path))
        // A broken theme fails before the old site is touched.
        let (site, _) = try build()
        let theme = fixture.root.appendingPathComponent("broken-theme/templates")
        try FileManager.default.createDirectory(at: theme, withIntermediateDirectories: true)
        try "{{#unclosed}}".write(to: theme.appendingPathComponent("page.mustache"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try build { $0.theme = theme.deletingLastPathComponent() })
        XCTAssertTrue(try site.page("index.html").contains("Transfer Learning Workbook"))
    }

    func testRefusesToReplaceAFolderItDidNotBuild() throws {
        let precious = fixture.root.appendingPathComponent("precious")
        try FileManager.default.createDirectory(at: precious, withIntermediateDirectories: true)
        try "keep me".write(to: precious.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try build { $0.output = precious }) { error in
            XCTAssertTrue("\(error)".contains("refusing to replace"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOf: precious.appendingPathComponent("notes.txt"), encoding: .utf8), "keep me")
        // Its own output is replaced build after build.
        try build()
        try build()
        XCTAssertTrue(FileManager.default.fileExists(atPath: fixture.root.appendingPathComponent("_site/\(SiteBuilder.marker)").path))
    }

    func testRawHTMLOnlyWhenAllowed() throws {
        try "# Raw\n\n<div class=\"callout\">hi</div>\n".write(to: fixture.root.appendingPathComponent("lessons/04-raw.md"), atomically: true, encoding: .utf8)
        let (site, _) = try build()
        XCTAssertFalse(try site.page("lessons/04-raw.html").contains("<div class=\"callout\">"))
        let (allowed, _) = try build { $0.renderer.allowRawHTML = true }
        XCTAssertTrue(try allowed.page("lessons/04-raw.html").contains("<div class=\"callout\">hi</div>"))
    }
}
