import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 file server for `workbook serve`: binds 127.0.0.1 only, answers GET and HEAD,
/// refuses paths that leave the site folder, one request per connection.
///
/// With `liveReload`, HTML responses get a tiny script that polls `/__workbook/generation` and
/// reloads the page when `generation` changes (after a rebuild); the files on disk stay clean.
public final class StaticServer: @unchecked Sendable {
    /// The IPv4 loopback address at `port`: the server only ever listens there.
    static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    public let root: URL
    public let liveReload: Bool
    private var socketFD: Int32 = -1
    private let lock = NSLock()
    private var _generation = 0
    public private(set) var port: UInt16 = 0

    public init(root: URL, liveReload: Bool = false) {
        self.root = root.standardizedFileURL
        self.liveReload = liveReload
    }

    public var generation: Int {
        get { lock.lock(); defer { lock.unlock() }; return _generation }
        set { lock.lock(); _generation = newValue; lock.unlock() }
    }

    /// Binds and listens on 127.0.0.1:`port` (0 picks a free port; see `port`), then serves on a
    /// background thread.
    public func start(port requested: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SiteError("serve: socket() failed: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = StaticServer.loopback(port: requested)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw SiteError("serve: cannot listen on 127.0.0.1:\(requested): \(message) (try --port)")
        }
        guard listen(fd, 64) == 0 else {
            close(fd)
            throw SiteError("serve: listen() failed: \(String(cString: strerror(errno)))")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: actual.sin_port)
        socketFD = fd
        let thread = Thread { [self] in acceptLoop(fd) }
        thread.start()
    }

    public func stop() {
        let fd = socketFD
        socketFD = -1
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // closed by stop()
            }
            DispatchQueue.global().async { [self] in
                handle(client)
                close(client)
            }
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { break }
            request += buffer[0..<n]
            if request.containsCRLFCRLF() { break }
        }
        let response = respond(to: String(decoding: request, as: UTF8.self))
        response.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(client, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
    }

    /// The full response (status line, headers, body) for a raw request.
    public func respond(to request: String) -> Data {
        let requestLine = request.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return Self.status(400, "Bad Request") }
        let method = String(parts[0])
        guard method == "GET" || method == "HEAD" else {
            return Self.status(405, "Method Not Allowed", extraHeaders: "Allow: GET, HEAD\r\n")
        }
        let head = method == "HEAD"
        var target = String(parts[1])
        if let q = target.firstIndex(where: { $0 == "?" || $0 == "#" }) { target = String(target[..<q]) }
        if target == "/__workbook/generation" {
            return Self.ok(Data("\(generation)".utf8), type: "text/plain; charset=utf-8", head: head)
        }
        guard target.hasPrefix("/"), let decoded = target.removingPercentEncoding, !decoded.contains("\0") else {
            return Self.status(400, "Bad Request")
        }
        let segments = decoded.split(separator: "/", omittingEmptySubsequences: true)
        if segments.contains(where: { $0 == ".." || $0 == "." || $0.hasPrefix(".") || $0.contains("\\") }) {
            return Self.status(403, "Forbidden")
        }
        var url = root
        for segment in segments { url.appendPathComponent(String(segment)) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            if !decoded.hasSuffix("/") {
                return Self.status(301, "Moved Permanently", extraHeaders: "Location: \(target)/\r\n")
            }
            url.appendPathComponent("index.html")
        }
        // Symbolic links must not lead outside the site either.
        let resolved = url.resolvingSymlinksInPath().path
        let rootPath = root.resolvingSymlinksInPath().path
        guard resolved == rootPath || resolved.hasPrefix(rootPath + "/") else { return Self.status(403, "Forbidden") }
        guard var body = FileManager.default.contents(atPath: url.path) else { return Self.status(404, "Not Found") }
        let type = Self.mimeType(url.pathExtension)
        if liveReload && type.hasPrefix("text/html") { body = Self.injectReload(body, generation: generation) }
        return Self.ok(body, type: type, head: head)
    }

    static let reloadScript = """
    <script>(function(){var g=%GEN%;setInterval(function(){var x=new XMLHttpRequest();x.open('GET','/__workbook/generation');\
    x.onload=function(){if(x.status===200&&+x.responseText!==g)location.reload();};x.send();},1000);})();</script>
    """

    static func injectReload(_ body: Data, generation: Int) -> Data {
        var html = String(decoding: body, as: UTF8.self)
        let script = reloadScript.replacingOccurrences(of: "%GEN%", with: "\(generation)")
        if let r = html.range(of: "</body>", options: .backwards) { html.insert(contentsOf: script, at: r.lowerBound) } else { html += script }
        return Data(html.utf8)
    }

    public static func mimeType(_ ext: String) -> String {
        switch ext.lowercased() {
        case "html", "htm": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json": "application/json"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "gif": "image/gif"
        case "webp": "image/webp"
        case "ico": "image/x-icon"
        case "woff2": "font/woff2"
        case "woff": "font/woff"
        case "ttf": "font/ttf"
        case "txt", "md": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    static func ok(_ body: Data, type: String, head: Bool) -> Data {
        var out = Data("HTTP/1.1 200 OK\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n".utf8)
        if !head { out += body }
        return out
    }

    static func status(_ code: Int, _ reason: String, extraHeaders: String = "") -> Data {
        let body = "\(code) \(reason)\n"
        return Data("HTTP/1.1 \(code) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)Connection: close\r\n\r\n\(body)".utf8)
    }
}

extension Array where Element == UInt8 {
    func containsCRLFCRLF() -> Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}

/// Watches folders for changes by polling modification times, sizes and names (no inotify: it
/// works the same on every platform and a course has few files).
public struct ChangeWatcher {
    public var folders: [URL]
    private var last: [String: String] = [:]

    public init(folders: [URL]) {
        self.folders = folders
        last = snapshot()
    }

    func snapshot() -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        for folder in folders {
            guard let e = fm.enumerator(at: folder, includingPropertiesForKeys: [.contentModificationDateKey, .fileSizeKey],
                                        options: [.skipsHiddenFiles]) else { continue }
            for case let url as URL in e {
                let values = try? url.resourceValues(forKeys: [.contentModificationDateKey, .fileSizeKey])
                result[url.path] = "\(values?.contentModificationDate?.timeIntervalSince1970 ?? 0)-\(values?.fileSize ?? -1)"
            }
        }
        return result
    }

    /// True if anything changed since the last call (or since creation).
    public mutating func changed() -> Bool {
        let now = snapshot()
        defer { last = now }
        return now != last
    }
}
