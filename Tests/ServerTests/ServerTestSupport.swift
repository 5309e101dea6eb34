import Foundation
import Notebook
import Server
import Site
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 exchange over a plain socket, with exactly the headers given (the tests forge Host
/// and Origin, which HTTP client libraries set themselves).
struct RawHTTP {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    static func connect(port: UInt16, address: String = "127.0.0.1") throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw WebTestError("socket() failed") }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(address)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard ok else { close(fd); throw WebTestError("cannot connect to \(address):\(port)") }
        return fd
    }

    static func send(_ fd: Int32, _ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }  // SIGCHLD from a lesson program
                guard n > 0 else { throw WebTestError("send failed") }
                offset += n
            }
        }
    }

    static func request(port: UInt16, _ method: String, _ target: String, host: String? = nil,
                        headers: [String: String] = [:], body: String = "") throws -> Reply {
        let fd = try connect(port: port)
        defer { close(fd) }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        try send(fd, Data((head + body).utf8))
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }  // SIGCHLD from a lesson program
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        return try parse(response)
    }

    static func parse(_ response: Data) throws -> Reply {
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw WebTestError("no HTTP response") }
        let lines = String(decoding: response[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(response[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded = Data()
            while let line = body.range(of: Data("\r\n".utf8)),
                  let size = Int(String(decoding: body[body.startIndex..<line.lowerBound], as: UTF8.self), radix: 16), size > 0 {
                decoded += body[line.upperBound..<(line.upperBound + size)]
                body = Data(body[(line.upperBound + size + 2)...])
            }
            body = decoded
        }
        return Reply(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
    }
}

/// A connection to `/__workbook/events` that collects the events as they come.
final class EventStream: @unchecked Sendable {
    struct Event { var name: String; var data: [String: Any] }
    private let fd: Int32
    private var buffer = ""
    private(set) var events: [Event] = []

    init(port: UInt16, cookie: String?) throws {
        fd = try RawHTTP.connect(port: port)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head = "GET /__workbook/events HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
        if let cookie { head += "Cookie: \(cookie)\r\n" }
        try RawHTTP.send(fd, Data((head + "\r\n").utf8))
        try wait(timeout: 10) { $0.name == "hello" }
    }

    deinit { close(fd) }

    /// Reads until an event satisfies `done`; returns it.
    @discardableResult
    func wait(timeout: Double, _ done: (Event) -> Bool) throws -> Event {
        let end = Date().addingTimeInterval(timeout)
        var seen = 0
        while true {
            while seen < events.count {
                if done(events[seen]) { return events[seen] }
                seen += 1
            }
            guard Date() < end else {
                throw WebTestError("timed out waiting for an event; got \(events.map { "\($0.name) \($0.data)" })")
            }
            var bytes = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &bytes, bytes.count, 0)
            if n == 0 { throw WebTestError("the event stream closed; got \(events.map { "\($0.name) \($0.data)" })") }
            if n > 0 {
                // Unicode scalars, not Characters: "\r\n" (chunk framing) is one Character in Swift.
                buffer += String(decoding: bytes[0..<n], as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
                parse()
            }
        }
    }

    private func parse() {
        // Chunked framing sits between messages; messages are "event: x\ndata: {...}\n\n".
        while let end = buffer.range(of: "\n\n") {
            let block = String(buffer[..<end.lowerBound])
            buffer.removeSubrange(..<end.upperBound)
            var name = "message"
            var data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            guard !data.isEmpty,
                  let json = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { continue }
            events.append(Event(name: name, data: json))
        }
    }

    /// The run events of run `id`, in order, up to and including its `finished`.
    func run(_ id: Int, timeout: Double = 30) throws -> [[String: Any]] {
        try wait(timeout: timeout) { $0.name == "run" && $0.data["run"] as? Int == id && ["finished", "failed"].contains($0.data["type"] as? String) }
        return events.filter { $0.name == "run" && $0.data["run"] as? Int == id }.map(\.data)
    }
}

struct WebTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A backend that runs nothing: it records saves and plays back a script of events; with
/// `loopsUntilStopped` it behaves like a program in an endless loop.
final class FakeBackend: NotebookBackend, @unchecked Sendable {
    let lock = NSLock()
    var saves: [(cell: Int, file: URL, code: String)] = []
    var loopsUntilStopped = false
    static let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR4nGP4z8AARAxg8j8AG/ID/fPnS7EAAAAASUVORK5CYII="

    func save(cell: Int, in file: URL, code: String, expected: String?, kind: NotebookFileKind) throws -> Lesson {
        lock.lock(); saves.append((cell, file, code)); lock.unlock()
        let lesson = try LessonParser(configuration: kind == .exercise ? Exercise.parserConfiguration : .init()).load(path: file.path)
        guard cell < lesson.cells.count else { throw NotebookError(file: file.path, line: nil, "no cell \(cell)") }
        return lesson
    }

    func run(_ file: URL, kind: NotebookFileKind, control: RunControl,
             onEvent: @escaping @Sendable (LiveEvent) -> Void) throws {
        let lesson = try LessonParser().load(path: file.path)
        onEvent(.compiling)
        for cell in lesson.cells {
            onEvent(.cellStarted(cell: cell.index))
            onEvent(.output(cell: cell.index, CellOutput(kind: .stdout, text: "fake output of cell \(cell.index)\n")))
            var table = CellOutput(kind: .table)
            table.headers = ["name", "value"]
            table.rows = [["loss", "0.25"]]
            onEvent(.output(cell: cell.index, table))
            var image = CellOutput(kind: .image)
            image.png = Self.png
            image.caption = "two red, two blue"
            onEvent(.output(cell: cell.index, image))
            onEvent(.progress(cell: cell.index, LiveProgress(label: "epoch", done: 1, total: 2, text: "epoch 1/2")))
            while loopsUntilStopped && !control.isStopped { usleep(10_000) }
            if control.isStopped {
                onEvent(.finished(succeeded: false, stopped: true, seconds: 0.1))
                return
            }
            let result = try JSONDecoder().decode(CellResult.self, from: JSONSerialization.data(withJSONObject: [
                "index": cell.index, "id": cell.id, "line": cell.line, "status": "ok",
                "outputs": [["kind": "stdout", "text": "fake output of cell \(cell.index)\n"],
                            ["kind": "table", "headers": ["name", "value"], "rows": [["loss", "0.25"]]]],
            ] as [String: Any]))
            onEvent(.cellFinished(result))
        }
        if kind == .exercise {
            onEvent(.check(LiveCheck(name: "shape", passed: true, points: 1, max: 1, message: "")))
        }
        onEvent(.finished(succeeded: true, stopped: false, seconds: 0.1))
    }
}

/// A course on disk (lessons/, exercises/, a built-looking site) and a server over it.
final class ServedCourse {
    let root: URL
    let site: URL
    let outside: URL
    let server: NotebookServer
    let backend: any NotebookBackend

    static let lesson = """
    ---
    title: First
    ---
    # First

    ```swift
    print("one")
    ```

    Some prose.

    ```swift
    print("two")
    ```
    """

    init(readOnly: Bool = false, backend: (any NotebookBackend)? = nil, theme: Bool = true) throws {
        let fm = FileManager.default
        root = fm.temporaryDirectory.appendingPathComponent("workbook-server-\(UUID().uuidString)").resolvingSymlinksInPath()
        site = root.appendingPathComponent("_site")
        outside = root.appendingPathComponent("outside")
        for dir in ["lessons", "exercises", "_site/lessons", "_site/assets", "outside"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try Self.lesson.write(to: root.appendingPathComponent("lessons/01-first.md"), atomically: true, encoding: .utf8)
        try "secret".write(to: outside.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try Self.lesson.write(to: outside.appendingPathComponent("elsewhere.md"), atomically: true, encoding: .utf8)
        try "<html><body><h1>Home</h1></body></html>".write(to: site.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "<html><body><div class=\"cell\" id=\"cell-1\"></div></body></html>"
            .write(to: site.appendingPathComponent("lessons/01-first.html"), atomically: true, encoding: .utf8)
        try "body{}".write(to: site.appendingPathComponent("assets/style.css"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(at: site.appendingPathComponent("leak.txt"), withDestinationURL: outside.appendingPathComponent("secret.txt"))
        try fm.createSymbolicLink(at: root.appendingPathComponent("lessons/linked.md"), withDestinationURL: outside.appendingPathComponent("elsewhere.md"))
        self.backend = backend ?? FakeBackend()
        let themeFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("site")
        var configuration = NotebookServer.Configuration(
            site: site,
            folders: [.init(url: root.appendingPathComponent("lessons"), sitePrefix: "lessons/", kind: .lesson),
                      .init(url: root.appendingPathComponent("exercises"), sitePrefix: "exercises/", kind: .exercise)],
            theme: theme ? try Theme(directory: themeFolder) : nil)
        configuration.port = 0
        configuration.readOnly = readOnly
        server = NotebookServer(configuration: configuration, backend: self.backend)
        try server.start()
    }

    var port: UInt16 { server.port }
    var cookie: String { "\(ServerGate(token: server.token, port: Int(port)).cookieName)=\(server.token ?? "")" }

    func get(_ target: String, cookie: String? = nil, headers: [String: String] = [:], host: String? = nil) throws -> RawHTTP.Reply {
        var all = headers
        if let cookie { all["Cookie"] = cookie }
        return try RawHTTP.request(port: port, "GET", target, host: host, headers: all)
    }

    func post(_ target: String, _ json: [String: Any], headers: [String: String]? = nil) throws -> RawHTTP.Reply {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        let all = headers ?? ["Cookie": cookie, "Content-Type": "application/json", "Origin": "http://127.0.0.1:\(port)"]
        return try RawHTTP.request(port: port, "POST", target, headers: all, body: body)
    }

    func remove() {
        server.stop()
        try? FileManager.default.removeItem(at: root)
    }
}
