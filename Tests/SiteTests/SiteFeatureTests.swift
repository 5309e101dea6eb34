import Foundation
import Notebook
@testable import Site
import XCTest

/// Callouts, copy buttons and the theme toggle, strict links and figure references, folding, the
/// printable page, the build report with its cache-miss reasons, and reproducible builds.
final class SiteFeatureTests: XCTestCase {
    var fixture: CourseFixture!

    override func setUpWithError() throws { fixture = try CourseFixture() }
    override func tearDown() { fixture.remove() }

    @discardableResult
    func build(_ configure: (inout SiteBuilder.Options) -> Void = { _ in },
               executor: LessonExecutor = FixtureExecutor()) throws -> (BuiltSite, SiteBuilder.Report) {
        var options = fixture.options()
        configure(&options)
        let report = try SiteBuilder(options: options).build(executor: executor)
        return (BuiltSite(root: options.output), report)
    }

    func edit(_ path: String, _ change: (String) -> String) throws {
        let url = fixture.root.appendingPathComponent(path)
        let text = try String(contentsOf: url, encoding: .utf8)
        let changed = change(text)
        XCTAssertNotEqual(changed, text, "the edit of \(path) changed nothing")
        try changed.write(to: url, atomically: true, encoding: .utf8)
    }

    func testCalloutsRenderAndPlainQuotesStay() throws {
        let page = try build().0.page("lessons/01-intro.html")
        XCTAssertTrue(page.contains("<div class=\"callout note\" role=\"note\">\n<p class=\"callout-title\">Note</p>\n<p>Views share CALLOUT_NOTE_TEXT storage.</p>\n</div>"), page)
        XCTAssertTrue(page.contains("<div class=\"callout warning\" role=\"note\">\n<p class=\"callout-title\">Warning</p>\n<p>Mind CALLOUT_WARNING_TEXT shapes.</p>"))
        XCTAssertTrue(page.contains("<blockquote>\n<p>A plain QUOTE_TEXT stays a quote.</p>\n</blockquote>"))
        XCTAssertFalse(page.contains("[!NOTE]"))
        // Nested quotes close in the right order.
        XCTAssertEqual(Callouts.render("<blockquote>\n<p>[!TIP]</p>\n<blockquote>\n<p>inner</p>\n</blockquote>\n<p>after</p>\n</blockquote>\n"),
                       "<div class=\"callout tip\" role=\"note\">\n<p class=\"callout-title\">Tip</p>\n\n<blockquote>\n<p>inner</p>\n</blockquote>\n<p>after</p>\n</div>\n")
        XCTAssertEqual(Callouts.render("<blockquote>\n<p>[!BOGUS] x</p>\n</blockquote>"), "<blockquote>\n<p>[!BOGUS] x</p>\n</blockquote>")
    }

    func testEveryPageHasThemeScriptToggleCopyScriptAndFooter() throws {
        let (site, _) = try build()
        for path in ["index.html", "lessons/01-intro.html", "exercises/freeze.html", "print.html", "build.html"] {
            let page = try site.page(path)
            let root = path.contains("/") ? "../" : ""
            // The theme is applied by an inline script before the style sheet: no flash of the wrong one.
            let script = try XCTUnwrap(page.range(of: "localStorage.getItem(\"workbook-theme\")"), path)
            let css = try XCTUnwrap(page.range(of: "<link rel=\"stylesheet\" href=\"\(root)assets/style.css\">"), path)
            XCTAssertLessThan(script.lowerBound, css.lowerBound, path)
            XCTAssertTrue(page.contains("id=\"theme-toggle\""), path)
            XCTAssertTrue(page.contains("<script defer src=\"\(root)assets/site.js\"></script>"), path)
            XCTAssertTrue(page.contains("href=\"\(root)build.html\">Build report</a>"), path)
            XCTAssertTrue(page.contains("href=\"\(root)print.html\">"), path)
        }
        XCTAssertTrue(site.files().contains("assets/site.js"))
        let css = try site.page("assets/style.css")
        XCTAssertTrue(css.contains(":root[data-theme=\"dark\"]"))
        XCTAssertFalse(css.contains("prefers-color-scheme"), "dark mode follows data-theme, which the head script sets from the system")
    }

    func testFoldedCellLongOutputAndReadableExports() throws {
        let page = try build().0.page("lessons/01-intro.html")
        XCTAssertTrue(page.contains("<details class=\"fold-source\"><summary>Show code (2 lines)</summary><pre class=\"source\">"))
        XCTAssertTrue(page.contains("<div class=\"fold-output folded\"><pre class=\"output stdout\">LONG_LINE_1\n"))
        XCTAssertTrue(page.contains("<button type=\"button\" class=\"show-all\">Show all 41 lines</button>"))
        XCTAssertTrue(page.contains("export sizes = [4800, 600]"), "export records are shown as values")
        // Short outputs are not folded.
        XCTAssertTrue(page.contains("<pre class=\"output stdout\">hello\nbetween</pre>") || page.contains("<pre class=\"output stdout\">hello</pre>"))
        XCTAssertEqual(page.components(separatedBy: "fold-output").count - 1, 1)

        XCTAssertEqual(ExportRecord.readable("export x = {\"num\":0.5}\nplain\nexport t = {\"tensor\":{\"shape\":[2,2],\"dtype\":\"float32\",\"values\":[1,2,3,4],\"sum\":10,\"min\":1,\"max\":4}}"),
                       "export x = 0.5\nplain\nexport t = tensor [2, 2] float32 [1, 2, 3, 4] (sum 10, min 1, max 4)")
        XCTAssertEqual(ExportRecord.readable("export m = {\"map\":{\"b\":{\"bool\":true},\"a\":{\"str\":\"x\"}}}"), "export m = [\"a\": \"x\", \"b\": true]")
        // Cut by the runtime at 200 characters: the values it has, then "…".
        XCTAssertEqual(ExportRecord.readable("export big = {\"list\":[{\"int\":1},{\"int\":2},{\"in…"), "export big = [1, 2, …]")
        XCTAssertEqual(ExportRecord.readable("export s = {\"str\":\"a, b, c…"), "export s = {\"str\":\"a, b, c…", "nothing whole: as printed")
        XCTAssertEqual(ExportRecord.readable("export x = {\"num\":"), "export x = {\"num\":")
        // A long tensor's line is cut inside its values: no statistics are made up for it.
        XCTAssertEqual(ExportRecord.readable("export p = {\"tensor\":{\"shape\":[1000],\"dtype\":\"int64\",\"values\":[7,2,1,1,6,1,4,6,9,…"),
                       "export p = tensor [1000] int64 [7, 2, 1, 1, 6, 1, 4, 6, …]")
    }

    func testFiguresAreNumberedAndReferencesLinkToThem() throws {
        try edit("lessons/02-more.md") { $0 + "\nAs @fig-curve showed.\n" }
        let (site, _) = try build()
        let page = try site.page("lessons/01-intro.html")
        XCTAssertTrue(page.contains("See <a href=\"#fig-curve\">Figure 1</a> for the curve"), page)
        XCTAssertTrue(page.contains("<code>@fig-in-code</code>"), "references in code stay code")
        XCTAssertTrue(page.contains("<div class=\"outputs\" id=\"fig-curve\">"))
        XCTAssertTrue(page.contains("<p class=\"figure-caption\"><span class=\"figure-number\">Figure 1</span>: Loss curve</p>"))
        let other = try site.page("lessons/02-more.html")
        XCTAssertTrue(other.contains("As <a href=\"../lessons/01-intro.html#fig-curve\">Figure 1</a> showed."), other)
        // A label used twice names both places.
        try edit("lessons/02-more.md") { $0 + "\n```swift label=fig-curve\nlet z = 3\n```\n" }
        XCTAssertThrowsError(try build()) { error in
            XCTAssertTrue("\(error)".contains("lessons/02-more.md:18: label fig-curve is already used at lessons/01-intro.md:"), "\(error)")
        }
    }

    func testEachShownValueKeepsItsLineWhileStreamsJoin() throws {
        let json = #"[{"kind":"text","text":"sub-folders: 5"},{"kind":"text","text":"ImageFolder: 100"},{"kind":"stdout","text":"a"},{"kind":"stdout","text":"b\n"}]"#
        let outputs = try JSONDecoder().decode([CellOutput].self, from: Data(json.utf8))
        XCTAssertEqual(CellView.merged(outputs).map(\.text), ["sub-folders: 5\nImageFolder: 100", "ab\n"])
    }

    func testExchangeSwapsTwoFoldersAtomically() throws {
        let a = fixture.root.appendingPathComponent("a"), b = fixture.root.appendingPathComponent("b")
        for (dir, text) in [(a, "A"), (b, "B")] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try text.write(to: dir.appendingPathComponent("f"), atomically: true, encoding: .utf8)
        }
        #if os(Linux)
        XCTAssertTrue(FileSystemSwap.exchange(a, b), "renameat2(RENAME_EXCHANGE) works here (Linux 3.15+)")
        XCTAssertEqual(try String(contentsOf: a.appendingPathComponent("f"), encoding: .utf8), "B")
        XCTAssertEqual(try String(contentsOf: b.appendingPathComponent("f"), encoding: .utf8), "A")
        #endif
    }

    func testBrokenFigureReferenceFailsWithFileLine() throws {
        let (site, _) = try build()
        let before = try site.page("lessons/02-more.html")
        try edit("lessons/02-more.md") { $0.replacingOccurrences(of: "Some text.", with: "Some text, see @fig-nope.") }
        XCTAssertThrowsError(try build()) { error in
            XCTAssertTrue("\(error)".contains("lessons/02-more.md:5: reference to @fig-nope: no such figure or table label"), "\(error)")
        }
        XCTAssertEqual(try site.page("lessons/02-more.html"), before, "the previous site stays")
        XCTAssertThrowsError(try CellOptions.parse(["label=curve"], file: "x.md", line: 3)) { error in
            XCTAssertTrue("\(error)".contains("x.md:3"), "\(error)")
        }
    }

    func testBrokenLinksFailTheBuildWithFileLineUnlessAllowed() throws {
        let (site, _) = try build()
        let before = try site.page("lessons/02-more.html")
        try edit("lessons/02-more.md") {
            $0.replacingOccurrences(of: "Some text.", with: "Some text: [gone](03-gone.md), [bad anchor](01-intro.md#no-such-heading),\n"
                                    + "[here](#nowhere), [ok](01-intro.md#creating-tensors), [top](#next-steps), [file](missing.csv).")
        }
        XCTAssertThrowsError(try build()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("lessons/02-more.md:5: link to 03-gone.md: no such page"), text)
            XCTAssertTrue(text.contains("lessons/02-more.md:5: link to 01-intro.md#no-such-heading: no such anchor #no-such-heading in lessons/01-intro.html"), text)
            XCTAssertTrue(text.contains("lessons/02-more.md:6: link to #nowhere: no such anchor #nowhere in lessons/02-more.html"), text)
            XCTAssertTrue(text.contains("lessons/02-more.md:6: link to missing.csv: no such page"), text)
            XCTAssertFalse(text.contains("creating-tensors"), text)
            XCTAssertFalse(text.contains("#next-steps"), text)
        }
        XCTAssertEqual(try site.page("lessons/02-more.html"), before, "the previous site stays")
        let (_, report) = try build { $0.renderer.allowBrokenLinks = true }
        XCTAssertEqual(report.warnings.filter { $0.contains("no such") }.count, 4, "\(report.warnings)")
        XCTAssertTrue(try site.page("lessons/02-more.html").contains("no-such-heading"))
    }

    func testPrintPageHasTheWholeCourseInOrderWithoutSolutionsWhenAsked() throws {
        let (site, _) = try build()
        let page = try site.page("print.html")
        let order = ["Tensors &amp; &quot;friends&quot;</h1>", "More tensors</h1>", "Freeze the body</h1>"].map { page.range(of: $0)?.lowerBound }
        XCTAssertFalse(order.contains(nil), page)
        XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted())
        XCTAssertTrue(page.contains("src=\"assets/img/"), "cell images are relative to the site root")
        XCTAssertTrue(page.contains("src=\"lessons/images/plot.png\""))
        XCTAssertTrue(page.contains("href=\"lessons/02-more.html#next-steps\""))
        XCTAssertTrue(page.contains("<svg"), "charts stay vector graphics")
        XCTAssertTrue(page.contains("SOLUTION_SECRET_42"))
        let (student, _) = try build { $0.renderer.includeSolutions = false }
        let printed = try student.page("print.html")
        XCTAssertTrue(printed.contains("Freeze the body</h1>"))
        XCTAssertFalse(printed.contains("SOLUTION_SECRET_42"))
        XCTAssertFalse(printed.contains("EXPLANATION_SECRET"))
    }

    func testBuildReportNamesTheEditedCellAndProseEditsRunNothing() throws {
        let executor = CachingExecutor(root: fixture.root)
        let (site, first) = try build(executor: executor)
        XCTAssertEqual(first.executed, 3)
        XCTAssertEqual(first.runs.map(\.path), ["lessons/01-intro.md", "lessons/02-more.md", "exercises/freeze.md"])
        XCTAssertTrue(first.runs.allSatisfy { $0.reason == "never run before (no stored result)" }, "\(first.runs.map(\.reason))")
        var report = try site.page("build.html")
        for (title, path) in [("Tensors &amp; &quot;friends&quot;", "lessons/01-intro.md"), ("More tensors", "lessons/02-more.md"), ("Freeze the body", "exercises/freeze.md")] {
            XCTAssertTrue(report.contains(">\(title)</a><br><code>\(path)</code>"), "\(path) in build.html")
        }
        XCTAssertTrue(report.contains("<td class=\"miss\">miss</td><td>never run before (no stored result)</td>"))

        // Nothing changed: everything comes from the cache.
        let (_, second) = try build(executor: executor)
        XCTAssertEqual(second.executed, 0)
        XCTAssertEqual(second.cached, 3)

        // Prose edits re-run nothing.
        try edit("lessons/02-more.md") { $0.replacingOccurrences(of: "Some text.", with: "Some other text, longer.") }
        let (_, prose) = try build(executor: executor)
        XCTAssertEqual(prose.executed, 0)

        // One edited cell: the report names it, with its line.
        try edit("lessons/02-more.md") { $0.replacingOccurrences(of: "let y = 2", with: "let y = 3") }
        let (_, edited) = try build(executor: executor)
        XCTAssertEqual(edited.executed, 1)
        let run = try XCTUnwrap(edited.runs.first { !$0.cached })
        XCTAssertEqual(run.path, "lessons/02-more.md")
        XCTAssertEqual(run.reason, "cell 2 (line 13) changed")
        report = try site.page("build.html")
        XCTAssertTrue(report.contains("<td class=\"miss\">miss</td><td>cell 2 (line 13) changed</td>"), report)
        XCTAssertEqual(report.components(separatedBy: "<td class=\"hit\">hit</td>").count - 1, 2)

        // Options, engine, toolchain and input files are named too.
        try edit("lessons/02-more.md") { $0.replacingOccurrences(of: "```swift\nlet y = 3", with: "```swift hide-output\nlet y = 3") }
        XCTAssertEqual(try build(executor: executor).1.runs.first { !$0.cached }?.reason, "cell 2 (line 13) options changed ([] -> [hide-output])")
        let lesson = try LessonParser(configuration: .init()).parse(text: String(contentsOf: fixture.root.appendingPathComponent("lessons/02-more.md"), encoding: .utf8),
                                              path: "lessons/02-more.md")
        XCTAssertEqual(executor.cache.missReason(for: lesson, engine: "e2", toolchain: "t", packageRoot: fixture.root)?
                        .hasPrefix("the engine library was rebuilt"), true)
        XCTAssertEqual(executor.cache.missReason(for: lesson, engine: "e", toolchain: "swift 9", packageRoot: fixture.root),
                       "the Swift toolchain changed (t -> swift 9)")
        try "1,2\n".write(to: fixture.root.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        try edit("lessons/02-more.md") { $0.replacingOccurrences(of: "order: 2\n", with: "order: 2\ninputs: [data.csv]\n") }
        _ = try build(executor: executor)
        try "1,3\n".write(to: fixture.root.appendingPathComponent("data.csv"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try build(executor: executor).1.runs.first { !$0.cached }?.reason, "input data.csv changed")
    }

    func testTwoBuildsOfTheSameSourcesAreByteIdentical() throws {
        func snapshot(_ site: BuiltSite) throws -> [String: Data] {
            var files: [String: Data] = [:]
            for path in site.files() { files[path] = try Data(contentsOf: site.root.appendingPathComponent(path)) }
            return files
        }
        let first = try snapshot(build().0)
        XCTAssertGreaterThan(first.count, 10)
        let second = try snapshot(build().0)
        XCTAssertEqual(Set(first.keys), Set(second.keys))
        for (path, data) in first where second[path] != data {
            XCTFail("\(path) differs between two builds of the same sources")
        }
        // Into another folder too: nothing depends on where the site is written.
        let third = try snapshot(build { $0.output = fixture.root.appendingPathComponent("elsewhere/site") }.0)
        XCTAssertEqual(third, first)
    }
}

/// Canned results behind a real ExecutionCache (fixed engine and toolchain), so the build report's
/// reasons come from the cache's own comparison.
final class CachingExecutor: LessonExecutor, @unchecked Sendable {
    let root: URL
    let cache: ExecutionCache
    var canned = FixtureExecutor()
    init(root: URL) {
        self.root = root
        cache = ExecutionCache(directory: root.appendingPathComponent(".workbook/cache"))
    }

    func execute(_ lesson: Lesson) throws -> (result: LessonResult, cached: Bool) {
        let (key, inputs) = try ExecutionCache.key(for: lesson, engine: "e", toolchain: "t", packageRoot: root)
        if let stored = cache.lookup(lesson, key: key) { return (stored, true) }
        var (result, _) = try canned.execute(lesson)
        result.key = key
        result.inputs = inputs
        try cache.store(result, for: lesson)
        return (result, false)
    }

    func missReason(_ lesson: Lesson) -> String? {
        cache.missReason(for: lesson, engine: "e", toolchain: "t", packageRoot: root)
    }
}
