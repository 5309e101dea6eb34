import Foundation
import BrowserSupport
import Notebook
import Server
@testable import Site
import XCTest

/// The fixture course's site in headless Chromium (Debian's chromium + chromium-driver), opened
/// from file:// as a reader would: search, copy buttons, the theme toggle, callouts, folded
/// outputs, the build report, no console errors and no request leaving file://.
///
/// Skipped when Chromium is not installed, unless WORKBOOK_REQUIRE_BROWSER=1 (scripts/test sets it,
/// and scripts/install-deps installs the browser), where a missing browser is a failure.
final class BrowserTests: XCTestCase {
    nonisolated(unsafe) static var shared: (browser: WebDriver, fixture: CourseFixture, site: URL)?
    nonisolated(unsafe) static var startError: Error?

    override class func setUp() {
        super.setUp()
        guard WebDriver.chromium != nil, WebDriver.chromedriver != nil else { return }
        do {
            let fixture = try CourseFixture()
            let options = fixture.options()
            _ = try SiteBuilder(options: options).build(executor: FixtureExecutor())
            shared = (try WebDriver(), fixture, options.output)
        } catch {
            startError = error
        }
    }

    override class func tearDown() {
        shared?.browser.quit()
        shared?.fixture.remove()
        shared = nil
        super.tearDown()
    }

    var browser: WebDriver { Self.shared!.browser }
    /// The test's own local server, whose requests are not "away".
    var allowedOrigin: String?

    func page(_ path: String) -> URL { Self.shared!.site.appendingPathComponent(path) }

    override func setUpWithError() throws {
        if let error = Self.startError { throw error }
        if Self.shared == nil {
            if ProcessInfo.processInfo.environment["WORKBOOK_REQUIRE_BROWSER"] == "1" {
                XCTFail("chromium and chromedriver are required (WORKBOOK_REQUIRE_BROWSER=1): install the Debian packages chromium and chromium-driver")
            }
            throw XCTSkip("chromium and chromedriver are not installed")
        }
        // Start each test from a clean slate: logs read, theme choice forgotten.
        try browser.open(page("index.html"))
        try browser.run("localStorage.clear()")
        _ = try browser.log("browser")
        _ = try browser.requestedURLs()
    }

    /// After every test: no console errors, and every request stayed on file://.
    override func tearDownWithError() throws {
        guard Self.shared != nil, Self.startError == nil else { return }
        let errors = try browser.log("browser").filter { ($0["level"] as? String) == "SEVERE" }
        XCTAssertEqual(errors.map { "\($0["message"] ?? "")" }, [], "console errors")
        let away = try browser.requestedURLs().filter {
            !$0.hasPrefix("file://") && !$0.hasPrefix("data:") && !(allowedOrigin.map($0.hasPrefix) ?? false)
        }
        XCTAssertEqual(away, [], "requests that left file://")
    }

    func testSearchFindsAWordAndItsLinkLandsOnTheAnchor() throws {
        try browser.open(page("index.html"))
        try browser.type("CALLOUT_NOTE_TEXT", into: "#search-input")
        try browser.wait(for: "return document.querySelectorAll('#search-results a').length > 0", "a search result")
        let href = try browser.run("return document.querySelector('#search-results a').getAttribute('href')") as? String
        XCTAssertEqual(href, "lessons/01-intro.html#details")
        try browser.click("#search-results a")
        try browser.wait(for: "return location.pathname.endsWith('/lessons/01-intro.html') && document.readyState === 'complete'", "the lesson page")
        XCTAssertEqual(try browser.run("return location.hash") as? String, "#details")
        // The anchor's heading is on screen, below the sticky bar (52 px), not under it.
        let top = try browser.run("return document.getElementById('details').getBoundingClientRect().top") as? Double ?? -1
        XCTAssertTrue((52...200).contains(top), "heading at \(top)px from the top")
        XCTAssertGreaterThan(try browser.run("return window.scrollY") as? Double ?? 0, 0)
    }

    func testCopyButtonCopiesTheCodeWithoutDecorations() throws {
        try browser.open(page("lessons/01-intro.html"))
        try browser.wait(for: "return document.querySelectorAll('.copy-button').length > 0", "copy buttons")
        let buttons = try browser.run("return document.querySelectorAll('pre.source .copy-button').length") as? Int ?? 0
        let cells = try browser.run("return document.querySelectorAll('pre.source').length") as? Int ?? -1
        XCTAssertEqual(buttons, cells, "every code cell has a copy button")
        XCTAssertGreaterThan(try browser.run("return document.querySelectorAll('article > pre .copy-button').length") as? Int ?? 0, 0,
                             "plain code blocks have one too")
        try browser.run("document.querySelector('#cell-1 pre.source').scrollIntoView({block: 'center'})")
        try browser.click("#cell-1 .copy-button")
        try browser.wait(for: "return document.documentElement.hasAttribute('data-last-copied')", "the copy")
        XCTAssertEqual(try browser.run("return document.documentElement.getAttribute('data-last-copied')") as? String,
                       "let x = 1 // a comment\nprint(\"hello\")")
        XCTAssertEqual(try browser.run("return document.querySelector('#cell-1 .copy-button').textContent") as? String, "Copied")
    }

    func testThemeToggleSurvivesAReload() throws {
        try browser.open(page("lessons/01-intro.html"))
        XCTAssertEqual(try browser.run("return document.documentElement.dataset.themeChoice") as? String, "auto")
        try browser.click("#theme-toggle")  // auto -> light
        try browser.click("#theme-toggle")  // light -> dark
        XCTAssertEqual(try browser.run("return document.documentElement.dataset.theme") as? String, "dark")
        try browser.refresh()
        XCTAssertEqual(try browser.run("return document.documentElement.dataset.theme") as? String, "dark")
        XCTAssertEqual(try browser.run("return getComputedStyle(document.body).backgroundColor") as? String, "rgb(22, 24, 28)")
    }

    /// Across pages the choice lives in the origin's storage. Chromium does not reliably share one
    /// storage between file:// pages (each may get its own), so this is tried where readers move
    /// between pages: the site served over HTTP, as `workbook serve` (here `--read-only`) and a
    /// published site do.
    func testThemeChoiceFollowsTheReaderAcrossPages() throws {
        var configuration = NotebookServer.Configuration(site: Self.shared!.site, folders: [], theme: nil)
        configuration.readOnly = true
        configuration.port = 0
        let server = NotebookServer(configuration: configuration, backend: NoBackend())
        try server.start()
        // Leave the server's pages first: a server stopped under an open page's event stream is a
        // console error in that page (as when `workbook serve` quits), not what this test is about.
        defer { try? browser.open(page("index.html")); server.stop() }
        let base = "http://127.0.0.1:\(server.port)/"
        allowedOrigin = base
        try browser.open(URL(string: base + "lessons/01-intro.html")!)
        try browser.run("localStorage.clear()")
        try browser.refresh()
        try browser.click("#theme-toggle")  // auto -> light
        try browser.click("#theme-toggle")  // light -> dark
        try browser.open(URL(string: base + "exercises/freeze.html")!)
        XCTAssertEqual(try browser.run("return document.documentElement.dataset.theme") as? String, "dark")
        XCTAssertEqual(try browser.run("return getComputedStyle(document.body).backgroundColor") as? String, "rgb(22, 24, 28)")
        try browser.click("#theme-toggle")  // dark -> auto
        try browser.open(URL(string: base + "index.html")!)
        XCTAssertEqual(try browser.run("return document.documentElement.dataset.themeChoice") as? String, "auto")
        try browser.click("#theme-toggle")  // auto -> light
        try browser.open(URL(string: base + "lessons/01-intro.html")!)
        XCTAssertEqual(try browser.run("return getComputedStyle(document.body).backgroundColor") as? String, "rgb(255, 255, 255)")
        try browser.run("localStorage.clear()")
    }

    func testCalloutsRender() throws {
        try browser.open(page("lessons/01-intro.html"))
        let note = try browser.run("""
            var c = document.querySelector('.callout.note');
            var s = getComputedStyle(c);
            return [c.querySelector('.callout-title').textContent, s.borderLeftStyle, s.borderLeftWidth, c.offsetHeight > 0 ? 'shown' : 'hidden'];
            """) as? [String]
        XCTAssertEqual(note, ["Note", "solid", "4px", "shown"])
        XCTAssertEqual(try browser.run("return document.querySelector('.callout.warning .callout-title').textContent") as? String, "Warning")
        // Their colours differ by kind.
        let colours = try browser.run("""
            return ['.callout.note', '.callout.warning'].map(function (q) { return getComputedStyle(document.querySelector(q)).borderLeftColor; });
            """) as? [String] ?? []
        XCTAssertEqual(Set(colours).count, 2, "\(colours)")
    }

    func testFoldedOutputExpands() throws {
        try browser.open(page("lessons/01-intro.html"))
        let before = try browser.run("var p = document.querySelector('.fold-output pre'); return [p.clientHeight, p.scrollHeight];") as? [Int] ?? []
        XCTAssertEqual(before.count, 2)
        XCTAssertLessThan(before[0], before[1], "the long output starts folded")
        try browser.run("document.querySelector('.fold-output .show-all').scrollIntoView({block: 'center'})")
        try browser.click(".fold-output .show-all")
        let after = try browser.run("var p = document.querySelector('.fold-output pre'); return [p.clientHeight, p.scrollHeight];") as? [Int] ?? []
        XCTAssertEqual(after.count, 2)
        XCTAssertGreaterThanOrEqual(after[0], after[1], "shown in full")
        XCTAssertEqual(try browser.run("return document.querySelectorAll('.fold-output .show-all').length") as? Int, 0)
        // A folded cell opens on click.
        try browser.run("document.querySelector('details.fold-source').scrollIntoView({block: 'center'})")
        XCTAssertEqual(try browser.run("return document.querySelector('details.fold-source pre').checkVisibility()") as? Bool, false)
        try browser.click("details.fold-source > summary")
        XCTAssertEqual(try browser.run("return document.querySelector('details.fold-source pre').checkVisibility()") as? Bool, true)
    }

    func testBuildReportListsEveryPage() throws {
        try browser.open(page("index.html"))
        try browser.click(".site-footer a[href='build.html']")
        try browser.wait(for: "return location.pathname.endsWith('/build.html')", "build.html")
        let rows = try browser.run("""
            return Array.prototype.map.call(document.querySelectorAll('table.build-report tbody tr td:first-child a'),
                                            function (a) { return a.getAttribute('href'); });
            """) as? [String]
        XCTAssertEqual(rows, ["lessons/01-intro.html", "lessons/02-more.html", "exercises/freeze.html"])
    }

    func testEveryPageLoadsWithoutErrorsOrRequestsAway() throws {
        let pages = ["index.html", "lessons/01-intro.html", "lessons/02-more.html", "exercises/freeze.html", "print.html", "build.html"]
        for path in pages {
            try browser.open(page(path))
            try browser.wait(for: "return document.readyState === 'complete'", path)
            // Search loads its index by a script tag: that request must stay local too.
            try browser.run("var i = document.getElementById('search-input'); i.value = 'tensor'; i.dispatchEvent(new Event('input'));")
            try browser.wait(for: "return window.WORKBOOK_SEARCH_INDEX !== undefined", "the search index on \(path)")
            let broken = try browser.run("""
                return Array.prototype.filter.call(document.querySelectorAll('img[src]'),
                    function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.getAttribute('src'); });
                """) as? [String]
            XCTAssertEqual(broken, [], "images that do not load on \(path)")
        }
        let requested = try browser.requestedURLs()
        XCTAssertTrue(requested.contains { $0.hasSuffix("/assets/search-index.js") }, "the network log is read: \(requested)")
        let away = requested.filter { !$0.hasPrefix("file://") && !$0.hasPrefix("data:") }
        XCTAssertEqual(away, [], "requests that left file://")
        // tearDown checks the console.
    }
}

/// The read-only server runs nothing.
struct NoBackend: NotebookBackend {
    func save(cell: Int, in file: URL, code: String, expected: String?, kind: NotebookFileKind) throws -> Lesson {
        throw NotebookError(file: file.path, line: nil, "read-only")
    }
    func run(_ file: URL, kind: NotebookFileKind, control: RunControl, onEvent: @escaping @Sendable (LiveEvent) -> Void) throws {}
}
