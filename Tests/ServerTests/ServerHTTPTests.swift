import Foundation
import Notebook
@testable import Server
import XCTest

/// `workbook serve`'s server over real sockets: each claim of the threat model in README.md
/// ("Safety" under `workbook serve`), the static files, live reload, and runs through a fake backend.
final class ServerHTTPTests: XCTestCase {
    var course: ServedCourse!

    override func setUpWithError() throws { course = try ServedCourse() }
    override func tearDown() { course?.remove(); course = nil }

    func testARequestWithoutTheTokenGets403() throws {
        for target in ["/", "/index.html", "/lessons/01-first.html", "/assets/style.css", "/__workbook/events"] {
            let reply = try course.get(target)
            XCTAssertEqual(reply.status, 403, target)
            XCTAssertTrue(reply.body.contains("token"), reply.body)
        }
        XCTAssertEqual(try course.get("/?token=wrong").status, 403)
        XCTAssertEqual(try course.get("/", cookie: "\(ServerGate(token: "x", port: Int(course.port)).cookieName)=nope").status, 403)
    }

    func testTheTokenSetsAStrictHttpOnlyCookieAndRedirectsToTheCleanURL() throws {
        let token = try XCTUnwrap(course.server.token)
        XCTAssertGreaterThanOrEqual(token.count, 64)
        XCTAssertTrue(course.server.url.hasSuffix("/?token=\(token)"))
        XCTAssertTrue(course.server.url.hasPrefix("http://127.0.0.1:\(course.port)/"))
        let first = try course.get("/lessons/01-first.html?token=\(token)")
        XCTAssertEqual(first.status, 303)
        XCTAssertEqual(first.headers["location"], "/lessons/01-first.html")
        let cookie = try XCTUnwrap(first.headers["set-cookie"])
        XCTAssertTrue(cookie.contains("HttpOnly"), cookie)
        XCTAssertTrue(cookie.contains("SameSite=Strict"), cookie)
        let pair = String(cookie.split(separator: ";")[0])
        let page = try course.get("/lessons/01-first.html", cookie: pair)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("<h1>") || page.body.contains("cell-1"))
        XCTAssertEqual(try course.get("/assets/style.css", cookie: pair).headers["content-type"], "text/css; charset=utf-8")
    }

    func testAForeignOriginGets403() throws {
        let reply = try course.get("/", cookie: course.cookie, headers: ["Origin": "http://evil.example"])
        XCTAssertEqual(reply.status, 403)
        XCTAssertTrue(reply.body.contains("evil.example"), reply.body)
        XCTAssertEqual(try course.get("/", cookie: course.cookie, headers: ["Origin": "null"]).status, 403)
        XCTAssertEqual(try course.get("/", cookie: course.cookie, headers: ["Origin": "http://127.0.0.1:\(course.port)"]).status, 200)
        // A run from another site, even with the cookie (a browser would send it on a non-strict cookie).
        let run = try course.post("/__workbook/run", ["file": "lessons/01-first.md", "cell": 0, "code": "print(1)"],
                                  headers: ["Cookie": course.cookie, "Content-Type": "application/json", "Origin": "http://evil.example"])
        XCTAssertEqual(run.status, 403)
        XCTAssertTrue((course.backend as! FakeBackend).saves.isEmpty)
    }

    func testAForeignHostGets403() throws {
        XCTAssertEqual(try course.get("/", cookie: course.cookie, host: "evil.example:\(course.port)").status, 403)
        XCTAssertEqual(try course.get("/", cookie: course.cookie, host: "127.0.0.1:1").status, 403)
        XCTAssertEqual(try course.get("/", cookie: course.cookie, host: "evil.example").status, 403)
        XCTAssertEqual(try course.get("/", cookie: course.cookie, host: "localhost:\(course.port)").status, 200)
    }

    func testAPathOutsideTheSiteGets404() throws {
        for target in ["/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/assets/%2e%2e/%2e%2e/outside/secret.txt",
                       "/assets/..%2f..%2foutside%2fsecret.txt", "/leak.txt", "/.hidden", "/nothing-here.html", "/%00"] {
            let reply = try course.get(target, cookie: course.cookie)
            XCTAssertEqual(reply.status, 404, target)
            XCTAssertFalse(reply.body.contains("secret"), target)
        }
        XCTAssertEqual(try course.get("/lessons", cookie: course.cookie).status, 301)
    }

    func testItListensOnLoopbackOnly() throws {
        // Bound to 127.0.0.1 itself, not 0.0.0.0: another loopback address is not answered.
        XCTAssertThrowsError(try RawHTTP.connect(port: course.port, address: "127.0.0.2"))
        XCTAssertNoThrow(close(try RawHTTP.connect(port: course.port)))
    }

    func testARunOfAFileOutsideTheCourseIsRefused() throws {
        for file in ["../outside/elsewhere.md", "/etc/passwd", "lessons/../../outside/elsewhere.md", "lessons/linked.md",
                     "Package.swift", "outside/elsewhere.md", "lessons/nothing.md", "lessons/.hidden.md", "lessons/sub/x.md"] {
            let reply = try course.post("/__workbook/run", ["file": file, "cell": 0, "code": "print(1)"])
            XCTAssertEqual(reply.status, 403, file)
            XCTAssertTrue(reply.body.contains("is not a lesson or exercise of this course"), reply.body)
        }
        XCTAssertTrue((course.backend as! FakeBackend).saves.isEmpty)
    }

    /// A hostile page open in the same browser posts a form (no preflight) to the run endpoint,
    /// with the session cookie attached as a lax browser would: refused, nothing saved or run.
    func testACrossSiteFormPostWithTheCookieRunsNothing() throws {
        for origin in ["http://evil.example", "null", "http://127.0.0.1.evil.example:\(course.port)"] {
            let reply = try course.post("/__workbook/run", ["file": "lessons/01-first.md", "cell": 0, "code": "print(1)"],
                                        headers: ["Cookie": course.cookie, "Content-Type": "application/x-www-form-urlencoded",
                                                  "Origin": origin])
            XCTAssertEqual(reply.status, 403, origin)
        }
        XCTAssertTrue((course.backend as! FakeBackend).saves.isEmpty)
    }

    func testRunAndStopAreJSONPostsWithAnOriginOrTheHeader() throws {
        let body = ["file": "lessons/01-first.md", "cell": 0, "code": "print(1)"] as [String: Any]
        XCTAssertEqual(try course.get("/__workbook/run", cookie: course.cookie).status, 405)
        XCTAssertEqual(try course.post("/__workbook/run", body, headers: ["Cookie": course.cookie, "Content-Type": "text/plain",
                                                                         "Origin": "http://127.0.0.1:\(course.port)"]).status, 415)
        XCTAssertEqual(try course.post("/__workbook/run", body, headers: ["Cookie": course.cookie, "Content-Type": "application/json"]).status, 403)
        XCTAssertEqual(try course.post("/__workbook/run", body, headers: ["Content-Type": "application/json", "X-Workbook-Request": "1"]).status, 403,
                       "no token")
        XCTAssertTrue((course.backend as! FakeBackend).saves.isEmpty)
        let ok = try course.post("/__workbook/run", body, headers: ["Cookie": course.cookie, "Content-Type": "application/json", "X-Workbook-Request": "1"])
        XCTAssertEqual(ok.status, 200, ok.body)
    }

    func testARunThroughTheFakeBackendStreamsRenderedEvents() throws {
        let stream = try EventStream(port: course.port, cookie: course.cookie)
        let reply = try course.post("/__workbook/run", ["file": "lessons/01-first.md", "cell": 1, "code": "print(\"three\")"])
        XCTAssertEqual(reply.status, 200, reply.body)
        let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["run"] as? Int)
        let events = try stream.run(id)
        let types = events.compactMap { $0["type"] as? String }
        XCTAssertEqual(types.first, "started")
        XCTAssertEqual(types.last, "finished")
        XCTAssertTrue(types.contains("cellStarted") && types.contains("progress") && types.contains("cellFinished"), "\(types)")
        XCTAssertTrue(events.allSatisfy { $0["file"] as? String == "lessons/01-first.md" })
        let text = events.first { $0["type"] as? String == "text" }
        XCTAssertEqual(text?["text"] as? String, "fake output of cell 0\n")
        // Outputs come rendered by the site's own template.
        let table = events.first { $0["type"] as? String == "output" }?["html"] as? String ?? ""
        XCTAssertTrue(table.contains("<table>") && table.contains("<th class=\"align-left\">name</th>") && table.contains("0.25"), table)
        // An image is written into the site's assets and served from there.
        let figure = events.compactMap { $0["html"] as? String }.first { $0.contains("<figure class=\"output image\">") } ?? ""
        let src = try XCTUnwrap(figure.range(of: "src=\"").map { String(figure[$0.upperBound...].prefix { $0 != "\"" }) }, figure)
        XCTAssertTrue(src.hasPrefix("/assets/img/"), src)
        let png = try course.get(src, cookie: course.cookie)
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(png.headers["content-type"], "image/png")
        let finished = events.first { $0["type"] as? String == "cellFinished" }
        XCTAssertEqual(finished?["status"] as? String, "ok")
        XCTAssertTrue((finished?["html"] as? String ?? "").contains("<pre class=\"output stdout\">fake output of cell 0</pre>"))
        let saves = (course.backend as! FakeBackend).saves
        XCTAssertEqual(saves.map(\.cell), [1])
        XCTAssertEqual(saves.first?.code, "print(\"three\")")
    }

    func testASecondRunStopsTheFirstAndStopStopsARun() throws {
        let fake = course.backend as! FakeBackend
        fake.loopsUntilStopped = true
        let stream = try EventStream(port: course.port, cookie: course.cookie)
        func start() throws -> Int {
            let reply = try course.post("/__workbook/run", ["file": "lessons/01-first.md", "cell": 0, "code": "while true {}"])
            XCTAssertEqual(reply.status, 200, reply.body)
            return try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["run"] as? Int)
        }
        let first = try start()
        try stream.wait(timeout: 10) { $0.data["run"] as? Int == first && $0.data["type"] as? String == "progress" }
        XCTAssertTrue(course.server.isRunning)
        let second = try start()
        XCTAssertEqual(try stream.run(first).last?["stopped"] as? Bool, true)
        try stream.wait(timeout: 10) { $0.data["run"] as? Int == second && $0.data["type"] as? String == "progress" }
        XCTAssertEqual(try course.post("/__workbook/stop", [:]).status, 200)
        XCTAssertEqual(try stream.run(second).last?["stopped"] as? Bool, true)
        try waitUntil { !self.course.server.isRunning }
    }

    func testPagesGetTheNotebookWithTheirRunnableCells() throws {
        let page = try course.get("/lessons/01-first.html", cookie: course.cookie).body
        XCTAssertTrue(page.contains("<script defer src=\"/assets/notebook.js\"></script>"), page)
        let settings = try Self.settings(in: page)
        XCTAssertEqual(settings["mode"] as? String, "notebook")
        XCTAssertEqual(settings["file"] as? String, "lessons/01-first.md")
        let cells = settings["cells"] as? [[String: Any]] ?? []
        XCTAssertEqual(cells.map { $0["code"] as? String }, ["print(\"one\")\n", "print(\"two\")\n"])
        XCTAssertEqual(cells.map { $0["editable"] as? Bool }, [true, true])
        // The files on disk stay the plain site.
        let disk = try String(contentsOf: course.site.appendingPathComponent("lessons/01-first.html"), encoding: .utf8)
        XCTAssertFalse(disk.contains("notebook.js"))
    }

    func testLiveReloadIsAnEventOnTheSameChannel() throws {
        let stream = try EventStream(port: course.port, cookie: course.cookie)
        course.server.siteRebuilt()
        let event = try stream.wait(timeout: 10) { $0.name == "reload" }
        XCTAssertEqual(event.data["generation"] as? Int, 1)
    }

    func testTokensCompareInConstantTimeAndAreRandom() {
        XCTAssertTrue(ServerGate.constantTimeEqual("abc", "abc"))
        XCTAssertFalse(ServerGate.constantTimeEqual("abc", "abd"))
        XCTAssertFalse(ServerGate.constantTimeEqual("abc", "abcd"))
        XCTAssertNotEqual(ServerGate.makeToken(), ServerGate.makeToken())
    }

    func waitUntil(timeout: Double = 10, _ condition: () -> Bool) throws {
        let end = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < end else { throw WebTestError("timed out") }
            usleep(20_000)
        }
    }

    static func settings(in page: String) throws -> [String: Any] {
        guard let start = page.range(of: "<script id=\"workbook-serve\" type=\"application/json\">"),
              let end = page.range(of: "</script>", range: start.upperBound..<page.endIndex) else { throw WebTestError("no settings in the page") }
        return try JSONSerialization.jsonObject(with: Data(page[start.upperBound..<end.lowerBound].utf8)) as? [String: Any] ?? [:]
    }
}

/// `--read-only`: the plain site without a token, and nothing runs.
final class ReadOnlyServerTests: XCTestCase {
    func testTheReadOnlySiteNeedsNoTokenAndRunsNothing() throws {
        let course = try ServedCourse(readOnly: true)
        defer { course.remove() }
        XCTAssertNil(course.server.token)
        XCTAssertEqual(course.server.url, "http://127.0.0.1:\(course.port)/")
        let page = try course.get("/lessons/01-first.html")
        XCTAssertEqual(page.status, 200)
        let settings = try ServerHTTPTests.settings(in: page.body)
        XCTAssertEqual(settings["mode"] as? String, "read-only")
        XCTAssertNil(settings["cells"])
        let run = try course.post("/__workbook/run", ["file": "lessons/01-first.md", "cell": 0, "code": "print(1)"],
                                  headers: ["Content-Type": "application/json", "Origin": "http://127.0.0.1:\(course.port)"])
        XCTAssertEqual(run.status, 403)
        XCTAssertTrue(run.body.contains("read-only"), run.body)
        // Host and Origin are still checked.
        XCTAssertEqual(try course.get("/", host: "evil.example:\(course.port)").status, 403)
        XCTAssertEqual(try course.get("/", headers: ["Origin": "http://evil.example"]).status, 403)
        XCTAssertEqual(try course.get("/%2e%2e/outside/secret.txt").status, 404)
    }
}
