import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small W3C WebDriver client for Debian's `chromedriver` driving headless `chromium`: just
/// what the browser tests use (navigate, find, click, type, run a script, read the logs).
public final class WebDriver: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    public static let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }

    private let driver: Process
    private let port: Int
    private let profile: URL
    private var session = ""

    /// Starts chromedriver on a free port and opens a headless browser session whose console and
    /// network events are logged.
    public init(windowWidth: Int = 1200, windowHeight: Int = 900) throws {
        guard let chromium = Self.chromium, let chromedriver = Self.chromedriver else {
            throw Failure(description: "chromium and chromedriver are not installed (Debian packages chromium, chromium-driver; scripts/install-deps)")
        }
        let port = try Self.freePort()
        driver = Process()
        driver.executableURL = URL(fileURLWithPath: chromedriver)
        driver.arguments = ["--port=\(port)"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        self.port = port
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("workbook-chromium-\(UUID().uuidString)")
        // Wait for the driver to listen.
        var ready = false
        var last = ""
        for _ in 0..<200 {
            do {
                let status = try request("GET", "/status", nil) as? [String: Any]
                if status?["ready"] as? Bool == true { ready = true; break }
                last = "\(String(describing: status))"
            } catch {
                last = "\(error)"
            }
            usleep(50_000)
        }
        guard ready else { driver.terminate(); throw Failure(description: "chromedriver did not start on port \(port): \(last)") }
        let capabilities: [String: Any] = [
            "browserName": "chrome",
            "goog:chromeOptions": [
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--user-data-dir=\(profile.path)",
                         "--window-size=\(windowWidth),\(windowHeight)"],
            ] as [String: Any],
            "goog:loggingPrefs": ["browser": "ALL", "performance": "ALL"],
        ]
        let created = try request("POST", "/session", ["capabilities": ["alwaysMatch": capabilities]])
        guard let object = created as? [String: Any], let id = object["sessionId"] as? String else {
            driver.terminate()
            throw Failure(description: "chromedriver did not open a session: \(String(describing: created))")
        }
        session = id
    }

    public func quit() {
        _ = try? request("DELETE", "/session/\(session)", nil)
        driver.terminate()
        driver.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// One WebDriver command; returns its `value`.
    @discardableResult
    public func request(_ method: String, _ path: String, _ body: [String: Any]?) throws -> Any? {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let data = try Self.http(method, port: port, path: path, body: payload)
        let json = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any]
        let value = json?["value"]
        if let error = value as? [String: Any], let kind = error["error"] as? String {
            throw Failure(description: "\(method) \(path): \(kind): \(error["message"] ?? "")")
        }
        return value
    }

    /// One HTTP/1.1 exchange with the driver on loopback (Connection: close, so the body ends at
    /// EOF). A plain socket: corelibs URLSession is unreliable inside the test process.
    public static func http(_ method: String, port: Int, path: String, body: Data) throws -> Data {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw Failure(description: "\(method) \(path): cannot connect to port \(port)") }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        request += Data("Content-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        request += body
        try request.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, 0)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "\(method) \(path): send failed") }
                offset += n
            }
        }
        // Read the head, then Content-Length bytes (the driver may keep the connection open).
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let split = response.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).lowercased()
                if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                   let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
                   response.count - split.upperBound >= length { break }
                if head.contains("transfer-encoding: chunked"), response.suffix(5) == Data("0\r\n\r\n".utf8) { break }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            // A child process of the test (a lesson program) ending interrupts recv with SIGCHLD.
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else {
            throw Failure(description: "\(method) \(path): no HTTP response")
        }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).lowercased()
        var content = Data(response[split.upperBound...])
        if head.contains("transfer-encoding: chunked") {
            var decoded = Data()
            while let line = content.range(of: Data("\r\n".utf8)),
                  let size = Int(String(decoding: content[content.startIndex..<line.lowerBound], as: UTF8.self)
                                    .split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16), size > 0 {
                let start = line.upperBound
                decoded += content[start..<(start + size)]
                content = Data(content[(start + size + 2)...])
            }
            content = decoded
        }
        return content
    }

    @discardableResult
    public func command(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> Any? {
        try request(method, "/session/\(session)" + path, body)
    }

    public func open(_ url: URL) throws { try command("POST", "/url", ["url": url.absoluteString]) }
    public func refresh() throws { try command("POST", "/refresh", [:]) }
    public var currentURL: String { get throws { try command("GET", "/url") as? String ?? "" } }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its result.
    @discardableResult
    public func run(_ script: String, _ args: [Any] = []) throws -> Any? {
        try command("POST", "/execute/sync", ["script": script, "args": args])
    }

    public func element(_ css: String) throws -> String {
        let value = try command("POST", "/element", ["using": "css selector", "value": css]) as? [String: Any]
        guard let id = value?.values.first as? String else { throw Failure(description: "no element \(css)") }
        return id
    }

    public func click(_ css: String) throws { try command("POST", "/element/\(element(css))/click", [:]) }
    public func type(_ text: String, into css: String) throws { try command("POST", "/element/\(element(css))/value", ["text": text]) }

    /// Polls `script` until it returns true.
    public func wait(for script: String, timeout: Double = 5, _ what: String) throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try run(script) as? Bool == true { return }
            usleep(50_000)
        }
        throw Failure(description: "timed out waiting for \(what)")
    }

    /// Log entries of one type (`browser`: the console; `performance`: DevTools events) since the last call.
    public func log(_ type: String) throws -> [[String: Any]] {
        (try command("POST", "/se/log", ["type": type]) as? [[String: Any]]) ?? []
    }

    /// Every URL the browser requested since the last call (from the DevTools network events).
    public func requestedURLs() throws -> [String] {
        try log("performance").compactMap { entry in
            guard let text = entry["message"] as? String, let data = text.data(using: .utf8),
                  let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["message"] as? [String: Any],
                  message["method"] as? String == "Network.requestWillBeSent",
                  let request = (message["params"] as? [String: Any])?["request"] as? [String: Any] else { return nil }
            return request["url"] as? String
        }
    }
}
