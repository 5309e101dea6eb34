import Foundation

/// Who may talk to `workbook serve`, decided per request before anything is read or run. The page
/// can execute code on the user's machine, so the rules are Jupyter's:
///
/// - the server listens on 127.0.0.1 only (NotebookServer);
/// - `Host` must name 127.0.0.1 or localhost at our port: a page of another site whose DNS name was
///   rebound to 127.0.0.1 sends its own host name and is refused;
/// - an `Origin` that is present and not ours is refused (cross-site requests, CSRF);
/// - every request carries the secret token, in the URL once (`?token=`: answered by a cookie and a
///   redirect to the clean URL) and then in an HttpOnly, SameSite=Strict cookie;
/// - requests that change things (run, stop) are POSTs with a JSON body and an own Origin or the
///   `X-Workbook-Request` header, which a cross-site form cannot send.
///
/// With `token == nil` (`--read-only`) no token is needed, but nothing can be run either.
public struct ServerGate: Sendable {
    public enum Decision: Equatable, Sendable {
        case allow
        /// Token accepted from the URL: set the cookie and redirect to `location` (the URL without it).
        case grant(cookie: String, location: String)
        case deny(status: Int, message: String)
    }

    public var token: String?
    public var port: Int

    public init(token: String?, port: Int) {
        self.token = token
        self.port = port
    }

    public static let requestHeader = "x-workbook-request"

    public var cookieName: String { "workbook-token-\(port)" }

    /// A token of 32 random bytes, hex: as long as Jupyter's.
    public static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Equal strings, compared in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    var ownHosts: [String] { ["127.0.0.1:\(port)", "localhost:\(port)"] }

    /// - Parameters:
    ///   - target: the request target as sent (`/path?query`).
    ///   - changesState: the request runs or stops code.
    public func decide(method: String, target: String, host: String?, origin: String?, cookie: String?,
                       contentType: String?, hasRequestHeader: Bool, changesState: Bool) -> Decision {
        guard let host, ownHosts.contains(host.lowercased()) else {
            return .deny(status: 403, message: "403 Forbidden: the Host header \(host.map { "'\($0)'" } ?? "(none)") is not this server (127.0.0.1:\(port) or localhost:\(port))")
        }
        if let origin, !ownHosts.contains(where: { origin.lowercased() == "http://\($0)" }) {
            return .deny(status: 403, message: "403 Forbidden: requests from origin '\(origin)' are refused (only http://127.0.0.1:\(port) may use this server)")
        }
        if changesState {
            guard token != nil else {
                return .deny(status: 403, message: "403 Forbidden: this server is read-only (--read-only): cells cannot be run")
            }
            guard method == "POST" else { return .deny(status: 405, message: "405 Method Not Allowed: use POST") }
            guard contentType?.lowercased().hasPrefix("application/json") == true else {
                return .deny(status: 415, message: "415 Unsupported Media Type: send a JSON body (Content-Type: application/json)")
            }
            guard origin != nil || hasRequestHeader else {
                return .deny(status: 403, message: "403 Forbidden: a run or stop request needs this server's Origin or the X-Workbook-Request header")
            }
        }
        guard let token else { return .allow }
        let (path, query) = Self.split(target)
        if let given = Self.queryValue("token", in: query) {
            guard Self.constantTimeEqual(given, token) else {
                return .deny(status: 403, message: "403 Forbidden: wrong token: open the URL that `workbook serve` printed")
            }
            let rest = query.split(separator: "&").filter { !$0.hasPrefix("token=") }.joined(separator: "&")
            return .grant(cookie: "\(cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict",
                          location: path + (rest.isEmpty ? "" : "?" + rest))
        }
        if let cookie, let given = Self.cookieValue(cookieName, in: cookie), Self.constantTimeEqual(given, token) {
            return .allow
        }
        return .deny(status: 403, message: "403 Forbidden: this server needs its token: open the URL with ?token=… that `workbook serve` printed")
    }

    static func split(_ target: String) -> (path: String, query: String) {
        guard let q = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<q]), String(target[target.index(after: q)...]))
    }

    static func queryValue(_ name: String, in query: String) -> String? {
        for pair in query.split(separator: "&") where pair.hasPrefix(name + "=") {
            return String(pair.dropFirst(name.count + 1)).removingPercentEncoding
        }
        return nil
    }

    static func cookieValue(_ name: String, in header: String) -> String? {
        for part in header.split(separator: ";") {
            let item = part.trimmingCharacters(in: .whitespaces)
            if item.hasPrefix(name + "=") { return String(item.dropFirst(name.count + 1)) }
        }
        return nil
    }
}
