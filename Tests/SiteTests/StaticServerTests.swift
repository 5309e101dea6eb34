import Foundation
@testable import Site
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class StaticServerTests: XCTestCase {
    var root: URL!
    var server: StaticServer!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("server-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("lessons"), withIntermediateDirectories: true)
        try "<html><body>home</body></html>".write(to: root.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "body{}".write(to: root.appendingPathComponent("lessons/a b.css"), atomically: true, encoding: .utf8)
        try "secret".write(to: root.deletingLastPathComponent().appendingPathComponent("server-secret-\(root.lastPathComponent)"), atomically: true, encoding: .utf8)
        server = StaticServer(root: root, liveReload: true)
    }

    override func tearDown() {
        server.stop()
        try? FileManager.default.removeItem(at: root)
        try? FileManager.default.removeItem(at: root.deletingLastPathComponent().appendingPathComponent("server-secret-\(root.lastPathComponent)"))
    }

    func response(_ request: String) -> (status: String, headers: String, body: String) {
        let text = String(decoding: server.respond(to: request), as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts[0]
        return (String(head.split(separator: "\r\n")[0]), head, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    func testServesFilesWithTypes() {
        let home = response("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(home.status, "HTTP/1.1 200 OK")
        XCTAssertTrue(home.headers.contains("Content-Type: text/html; charset=utf-8"))
        XCTAssertTrue(home.body.hasPrefix("<html><body>home<script>"), "live reload injected: \(home.body)")
        let css = response("GET /lessons/a%20b.css?v=1 HTTP/1.1\r\n\r\n")
        XCTAssertEqual(css.status, "HTTP/1.1 200 OK")
        XCTAssertTrue(css.headers.contains("Content-Type: text/css"))
        XCTAssertEqual(css.body, "body{}")
        let head = response("HEAD /lessons/a%20b.css HTTP/1.1\r\n\r\n")
        XCTAssertTrue(head.headers.contains("Content-Length: 6"))
        XCTAssertEqual(head.body, "")
        XCTAssertEqual(response("GET /lessons HTTP/1.1\r\n\r\n").status, "HTTP/1.1 301 Moved Permanently")
        XCTAssertEqual(response("GET /missing.html HTTP/1.1\r\n\r\n").status, "HTTP/1.1 404 Not Found")
        XCTAssertEqual(StaticServer.mimeType("woff2"), "font/woff2")
        XCTAssertEqual(StaticServer.mimeType("svg"), "image/svg+xml")
        XCTAssertEqual(StaticServer.mimeType("js"), "text/javascript; charset=utf-8")
    }

    func testRefusesOtherMethodsAndTraversal() {
        XCTAssertEqual(response("POST / HTTP/1.1\r\n\r\n").status, "HTTP/1.1 405 Method Not Allowed")
        let secret = "server-secret-\(root.lastPathComponent)"
        for path in ["/../\(secret)", "/%2e%2e/\(secret)", "/lessons/..%2f..%2f\(secret)", "/.hidden"] {
            let r = response("GET \(path) HTTP/1.1\r\n\r\n")
            XCTAssertEqual(r.status, "HTTP/1.1 403 Forbidden", path)
            XCTAssertFalse(r.body.contains("secret"))
        }
        XCTAssertEqual(response("garbage").status, "HTTP/1.1 400 Bad Request")
        // A symbolic link out of the site is refused too.
        try? FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path,
                                                   withDestinationPath: "../\(secret)")
        XCTAssertEqual(response("GET /link HTTP/1.1\r\n\r\n").status, "HTTP/1.1 403 Forbidden")
    }

    func testOverARealSocketOnLoopback() throws {
        try server.start(port: 0)
        XCTAssertNotEqual(server.port, 0)
        server.generation = 7
        let reply = try Self.get("/__workbook/generation", port: server.port)
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200 OK"), reply)
        XCTAssertTrue(reply.hasSuffix("\r\n\r\n7"), reply)
        XCTAssertTrue(try Self.get("/", port: server.port).contains("home"))
    }

    static func get(_ path: String, port: UInt16) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = StaticServer.loopback(port: port)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { throw SiteError("connect failed") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }
}

final class ChangeWatcherTests: XCTestCase {
    func testNoticesNewEditedAndRemovedFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var watcher = ChangeWatcher(folders: [dir])
        XCTAssertFalse(watcher.changed())
        let file = dir.appendingPathComponent("a.md")
        try "one".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertTrue(watcher.changed())
        XCTAssertFalse(watcher.changed())
        try "longer".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertTrue(watcher.changed())
        try FileManager.default.removeItem(at: file)
        XCTAssertTrue(watcher.changed())
    }
}
