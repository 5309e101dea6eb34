import Foundation

/// The built site's files as the server hands them out: only regular files inside the site folder.
/// Anything else (`..`, also percent-encoded; hidden names; a symbolic link that leads out) is
/// "not found", so the answer tells nothing about what lies outside.
public struct SiteFiles: Sendable {
    public enum Lookup: Equatable, Sendable {
        case file(URL)
        /// A folder asked for without its final slash.
        case redirect(String)
        case notFound
    }

    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    /// `path`: the request path without the query, still percent-encoded.
    public func lookup(_ path: String) -> Lookup {
        guard path.hasPrefix("/"), let decoded = path.removingPercentEncoding, !decoded.contains("\0") else { return .notFound }
        let segments = decoded.split(separator: "/", omittingEmptySubsequences: true)
        if segments.contains(where: { $0.hasPrefix(".") || $0.contains("\\") }) { return .notFound }
        var url = root
        for segment in segments { url.appendPathComponent(String(segment)) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return .notFound }
        if isDirectory.boolValue {
            if !decoded.hasSuffix("/") { return .redirect(path + "/") }
            url.appendPathComponent("index.html")
        }
        let resolved = url.resolvingSymlinksInPath().path
        let rootPath = root.resolvingSymlinksInPath().path
        guard resolved.hasPrefix(rootPath + "/") else { return .notFound }
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else { return .notFound }
        return .file(url)
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
}
