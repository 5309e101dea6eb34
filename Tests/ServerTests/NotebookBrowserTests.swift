import BrowserSupport
import Foundation
import Grader
import Notebook
import Server
import Site
import XCTest

/// The notebook in real headless Chromium (Debian's chromium + chromium-driver) against the real
/// backend: a small course is built without running (so the page starts "not run"), served, and
/// its cells are edited and run from the page. Needs the release engine library (as the lesson
/// tests do); skipped without Chromium unless WORKBOOK_REQUIRE_BROWSER=1 (scripts/test).
final class NotebookBrowserTests: XCTestCase {
    struct Shared {
        var browser: WebDriver
        var root: URL
        var server: NotebookServer
    }
    nonisolated(unsafe) static var shared: Shared?
    nonisolated(unsafe) static var startError: Error?
    nonisolated(unsafe) static var engineProblem: String?

    static let lesson = """
    ---
    title: Live
    ---
    # Live

    ```swift
    print("first cell")
    ```

    Some prose between the cells.

    ```swift
    var n = 0
    for i in 1...3 { n += i }
    print("sum", n)
    ```
    """

    static let exercise = """
    ---
    title: "Q1: Double"
    ---
    # Q1: Double

    ```swift id=data
    let x = 21
    ```

    **Your task:** double `x`.

    ```swift id=answer
    // BEGIN SOLUTION
    let y = x * 2
    // STARTER
    // let y = 0            // replace with twice x
    // END SOLUTION
    ```

    ```swift id=hand-in
    export("y", y)
    print("y =", y)
    ```

    ```swift check id=y-value points=1
    try expectEqual(try answers.int("y"), 42, "y")
    ```

    ```swift check id=y-positive points=1
    try expectEqual(try answers.int("y") > 0, true, "y is positive")
    ```
    """

    override class func setUp() {
        super.setUp()
        guard WebDriver.chromium != nil, WebDriver.chromedriver != nil else { return }
        do {
            let engine: EngineBuild
            do {
                engine = try EngineBuild()
                try engine.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
            } catch {
                engineProblem = "\(error)"
                return
            }
            let fm = FileManager.default
            let root = fm.temporaryDirectory.appendingPathComponent("notebook-browser-\(UUID().uuidString)").resolvingSymlinksInPath()
            try fm.createDirectory(at: root.appendingPathComponent("lessons"), withIntermediateDirectories: true)
            try fm.createDirectory(at: root.appendingPathComponent("exercises"), withIntermediateDirectories: true)
            try lesson.write(to: root.appendingPathComponent("lessons/01-live.md"), atomically: true, encoding: .utf8)
            // The student's copy, as `workbook release` writes it: the answer is the starter code.
            let reference = try Exercise(lesson: LessonParser(configuration: Exercise.parserConfiguration).parse(text: exercise, path: "exercises/q01-double.md"))
            try reference.studentVersion().write(to: root.appendingPathComponent("exercises/q01-double.md"), atomically: true, encoding: .utf8)
            let theme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("site")
            var options = SiteBuilder.Options(root: root, output: root.appendingPathComponent("_site"), theme: theme)
            options.mathCache = nil
            options.keepGoing = true
            options.renderer.includeSolutions = false
            _ = try SiteBuilder(options: options).build(executor: UnrunExecutor())
            var configuration = NotebookServer.Configuration(
                site: options.output,
                folders: [.init(url: root.appendingPathComponent("lessons"), sitePrefix: "lessons/", kind: .lesson),
                          .init(url: root.appendingPathComponent("exercises"), sitePrefix: "exercises/", kind: .exercise)],
                theme: try Theme(directory: theme))
            configuration.port = 0
            let server = NotebookServer(configuration: configuration,
                                        backend: LiveBackend(engine: engine, workDirectory: root.appendingPathComponent(".work")))
            try server.start()
            let browser = try WebDriver()
            // Leave the browser's own start page (chrome:// requests) before the tests watch the network.
            try browser.open(URL(string: "about:blank")!)
            shared = Shared(browser: browser, root: root, server: server)
        } catch {
            startError = error
        }
    }

    override class func tearDown() {
        shared?.browser.quit()
        shared?.server.stop()
        if let root = shared?.root { try? FileManager.default.removeItem(at: root) }
        shared = nil
        super.tearDown()
    }

    var browser: WebDriver { Self.shared!.browser }
    var server: NotebookServer { Self.shared!.server }
    var base: String { "http://127.0.0.1:\(server.port)/" }

    override func setUpWithError() throws {
        if let problem = Self.engineProblem {
            throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`: \(problem)")
        }
        if let error = Self.startError { throw error }
        if Self.shared == nil {
            if ProcessInfo.processInfo.environment["WORKBOOK_REQUIRE_BROWSER"] == "1" {
                XCTFail("chromium and chromedriver are required (WORKBOOK_REQUIRE_BROWSER=1): install the Debian packages chromium and chromium-driver")
            }
            throw XCTSkip("chromium and chromedriver are not installed")
        }
        _ = try browser.log("browser")
        _ = try browser.requestedURLs()
    }

    /// After every test: no console errors, and no request left the server.
    override func tearDownWithError() throws {
        guard Self.shared != nil, Self.startError == nil else { return }
        let errors = try browser.log("browser").filter { ($0["level"] as? String) == "SEVERE" }
        XCTAssertEqual(errors.map { "\($0["message"] ?? "")" }, [], "console errors")
        let requested = try browser.requestedURLs()
        let away = requested.filter { !$0.hasPrefix(base) && !$0.hasPrefix("data:") }
        XCTAssertEqual(away, [], "requests that left 127.0.0.1:\(server.port)")
        try waitUntilIdle()
    }

    func waitUntilIdle() throws {
        let end = Date().addingTimeInterval(30)
        while server.isRunning && Date() < end { usleep(50_000) }
    }

    /// Opens a page the way a user does: the printed URL with the token, then the page itself.
    func open(_ page: String) throws {
        try browser.open(URL(string: server.url)!)
        try browser.wait(for: "return document.readyState === 'complete' && location.search === ''", timeout: 10, "the redirect to the clean URL")
        try browser.open(URL(string: base + page)!)
        try browser.wait(for: "return document.body.classList.contains('nb-notebook')", timeout: 10, "the notebook on \(page)")
    }

    /// Edit the `n`th editable cell (0-based) and type `code` in place of its code.
    func edit(_ n: Int, to code: String) throws {
        try browser.run("var b = document.querySelectorAll('.nb-edit')[arguments[0]]; b.scrollIntoView({block: 'center'}); b.click();", [n])
        try browser.wait(for: "return !!document.querySelectorAll('.nb-cell')[\(n)] && !!document.querySelector('textarea.nb-editor')", "the editor")
        try browser.run("""
            var t = document.querySelectorAll('.nb-edit')[arguments[0]].closest('.nb-cell').querySelector('textarea.nb-editor');
            t.value = arguments[1]; t.dispatchEvent(new Event('input'));
            """, [n, code])
    }

    func run(_ n: Int) throws {
        // The page marks the end of each run on <body data-run>; clear the last run's mark first.
        try browser.run("document.body.removeAttribute('data-run'); document.querySelectorAll('.nb-run')[arguments[0]].click();", [n])
    }

    func cellText(_ n: Int) throws -> String {
        try browser.run("return document.querySelectorAll('.nb-edit')[arguments[0]].closest('.nb-cell').textContent;", [n]) as? String ?? ""
    }

    func testALessonCellEditedAndRunShowsItsNewOutputUnderIt() throws {
        try open("lessons/01-live.html")
        // Not run in this session: every cell is stale.
        XCTAssertEqual(try browser.run("return document.querySelectorAll('.nb-cell.nb-stale').length") as? Int, 2)
        try edit(1, to: "let total = (1...4).reduce(0, +)\nprint(\"edited total\", total)")
        // The editor uses the code font.
        let font = try browser.run("return getComputedStyle(document.querySelector('textarea.nb-editor')).fontFamily") as? String ?? ""
        XCTAssertTrue(font.contains("monospace"), font)
        try run(1)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'succeeded'", timeout: 180, "the run to finish")
        let (first, second) = (try cellText(0), try cellText(1))
        XCTAssertTrue(second.contains("edited total 10"), second)
        XCTAssertTrue(first.contains("first cell"), first)
        XCTAssertFalse(first.contains("edited total"), first)
        XCTAssertEqual(try browser.run("return document.querySelectorAll('.nb-cell.nb-stale').length") as? Int, 0)
        // Saved into the Markdown file: only that cell changed.
        let saved = try String(contentsOf: Self.shared!.root.appendingPathComponent("lessons/01-live.md"), encoding: .utf8)
        XCTAssertEqual(saved, Self.lesson.replacingOccurrences(of: "var n = 0\nfor i in 1...3 { n += i }\nprint(\"sum\", n)",
                                                                with: "let total = (1...4).reduce(0, +)\nprint(\"edited total\", total)"))
        // Edited again: stale until run.
        try edit(1, to: "print(\"changed\")")
        XCTAssertEqual(try browser.run("return document.querySelectorAll('.nb-cell.nb-stale').length") as? Int, 1)
    }

    func testAnExerciseAnswerPassesItsChecksThenFailsAtTheRightCell() throws {
        try open("exercises/q01-double.html")
        XCTAssertEqual(try browser.run("return document.querySelectorAll('.nb-edit').length") as? Int, 1, "only the answer cell is editable")
        try edit(0, to: "let y = x * 2")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'succeeded'", timeout: 180, "the checks to pass")
        let checks = try browser.run("return Array.prototype.map.call(document.querySelectorAll('#nb-checks li'), function (l) { return l.className + ' ' + l.textContent; })") as? [String] ?? []
        XCTAssertEqual(checks.count, 2, "\(checks)")
        XCTAssertTrue(checks.allSatisfy { $0.hasPrefix("nb-pass") }, "\(checks)")
        XCTAssertTrue(try browser.run("return document.body.textContent.indexOf('y = 42') >= 0") as? Bool == true)

        // Broken: a compile error shows at the answer cell, with the Markdown line.
        try edit(0, to: "let y: Int = \"forty-two\"")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'failed'", timeout: 180, "the run to fail")
        let problem = try browser.run("""
            var p = document.querySelector('.nb-edit').closest('.nb-cell').querySelector('.nb-problem, .output.error');
            return p ? p.textContent : '';
            """) as? String ?? ""
        XCTAssertTrue(problem.contains("q01-double.md:"), problem)
        XCTAssertTrue(problem.lowercased().contains("string") || problem.contains("Int"), problem)

        // A wrong value: the checks say so.
        try edit(0, to: "let y = x * 3")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'failed'", timeout: 180, "the checks")
        XCTAssertEqual(try browser.run("return document.querySelectorAll('#nb-checks li').length") as? Int, 2)
        XCTAssertEqual(try browser.run("return document.querySelector('#nb-checks li.nb-fail strong').textContent") as? String, "y-value")
    }

    func testStopEndsACellThatLoopsForever() throws {
        try open("lessons/01-live.html")
        try edit(0, to: "print(\"looping\")\nvar k = 0\nwhile true { k &+= 1 }")
        try run(0)
        try browser.wait(for: "return document.querySelectorAll('.nb-cell')[0].textContent.indexOf('looping') >= 0", timeout: 180, "the loop to start")
        XCTAssertTrue(server.isRunning)
        try browser.run("document.querySelector('.nb-stop').click();")
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'stopped'", timeout: 20, "the run to stop")
        try waitUntilIdle()
        XCTAssertFalse(server.isRunning)
        // Put the lesson back for the other tests.
        try edit(0, to: "print(\"first cell\")")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'succeeded'", timeout: 180, "the run to finish")
    }

    /// Each page listens on one event stream; pages left behind must let go of theirs, or after
    /// six pages the browser (6 connections per server) has none left for a Run.
    func testRunStillWorksAfterManyPages() throws {
        for _ in 0..<4 {
            try open("lessons/01-live.html")
            try open("exercises/q01-double.html")
        }
        try open("lessons/01-live.html")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'succeeded'", timeout: 30, "the run to finish")
    }

    /// A trap shows under the cell that trapped, with the Markdown file and line; later cells say
    /// they did not run.
    func testATrapShowsAtItsCellWithTheMarkdownLine() throws {
        try open("lessons/01-live.html")
        try edit(0, to: "let values: [Int] = []\nprint(values[3])")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'failed'", timeout: 180, "the run to fail")
        let error = try browser.run("var e = document.querySelectorAll('.nb-cell')[0].querySelector('.output.error'); return e ? e.textContent : '';") as? String ?? ""
        XCTAssertTrue(error.contains("01-live.md:"), error)
        XCTAssertEqual(try browser.run("return document.querySelectorAll('.nb-cell')[1].getAttribute('data-status')") as? String, "not-run")
        try edit(0, to: "print(\"first cell\")")
        try run(0)
        try browser.wait(for: "return document.body.getAttribute('data-run') === 'succeeded'", timeout: 180, "the run to finish")
    }
}
