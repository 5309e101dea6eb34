import Foundation
import Notebook

/// Typesets TeX with KaTeX at build time: one `node` process renders every new expression of a
/// build (Debian's `katex` package puts the library in /usr/share/nodejs/katex); results are
/// remembered in a cache file so an unchanged course starts no process at all. Without node and
/// KaTeX, math is left for KaTeX's auto-render in the browser (libjs-katex), with a warning.
public final class MathRenderer: @unchecked Sendable {
    public enum Mode: Equatable, Sendable {
        /// HTML from KaTeX at build time.
        case server(node: String, katexModule: String)
        /// `\(…\)` / `\[…\]` left in the page for katex.min.js + auto-render.
        case client
    }

    public let mode: Mode
    /// Where KaTeX's CSS, fonts and scripts are copied from.
    public let assetsDirectory: URL?
    private var cache: [String: String]
    private let cacheFile: URL?
    private var dirty = false

    /// Finds node and the KaTeX module, and the browser assets.
    public static func detect() -> (mode: Mode, assets: URL?) {
        let fm = FileManager.default
        let assets = ["/usr/share/javascript/katex"].map(URL.init(fileURLWithPath:))
            .first { fm.fileExists(atPath: $0.appendingPathComponent("katex.min.css").path) }
        let modules = ["/usr/share/nodejs/katex", "/usr/lib/nodejs/katex"]
        let node = ["/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"].first { fm.isExecutableFile(atPath: $0) }
        if let node, let module = modules.first(where: { fm.fileExists(atPath: $0 + "/package.json") }) {
            return (.server(node: node, katexModule: module), assets)
        }
        return (.client, assets)
    }

    /// Keys used by this build; the saved cache keeps only these (and the version).
    private var used = Set<String>()
    private static let versionKey = "#katex-version"

    public init(mode: Mode, assetsDirectory: URL?, cacheFile: URL?) {
        self.mode = mode
        self.assetsDirectory = assetsDirectory
        self.cacheFile = cacheFile
        cache = [:]
        // HTML from another KaTeX version may not match the copied stylesheet: start over then.
        guard case .server(_, let module) = mode else { return }
        let version = Self.katexVersion(module: module)
        if let cacheFile, let data = try? Data(contentsOf: cacheFile),
           let stored = try? JSONDecoder().decode([String: String].self, from: data),
           stored[Self.versionKey] == version {
            cache = stored
        }
        cache[Self.versionKey] = version
    }

    static func katexVersion(module: String) -> String {
        struct Package: Decodable { var version: String }
        let url = URL(fileURLWithPath: module).appendingPathComponent("package.json")
        return (try? JSONDecoder().decode(Package.self, from: Data(contentsOf: url)))?.version ?? "unknown"
    }

    static func key(_ span: MathSpan) -> String { (span.display ? "D:" : "I:") + span.tex }

    /// HTML for each span, in order. Server mode renders the uncached ones in one node process.
    public func render(_ spans: [MathSpan]) throws -> [String] {
        guard case .server(let node, let module) = mode else {
            return spans.map { span in
                let tex = HTML.escape(span.tex)
                return span.display ? "<span class=\"math display\">\\[\(tex)\\]</span>"
                                    : "<span class=\"math inline\">\\(\(tex)\\)</span>"
            }
        }
        let missing = Array(Set(spans.map(Self.key)).filter { cache[$0] == nil }).sorted()
        if !missing.isEmpty {
            let rendered = try runKatex(node: node, module: module, keys: missing)
            for (k, html) in zip(missing, rendered) { cache[k] = html }
            dirty = true
        }
        used.formUnion(spans.map(Self.key))
        return spans.map { cache[Self.key($0)]! }
    }

    /// Writes the cache file if anything new was rendered.
    public func save() {
        // Also rewrite when expressions went away, so the file does not grow forever.
        let stale = cache.keys.contains { $0 != Self.versionKey && !used.contains($0) }
        guard dirty || stale, let cacheFile else { return }
        cache = cache.filter { $0.key == Self.versionKey || used.contains($0.key) }
        try? FileManager.default.createDirectory(at: cacheFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(cache) { try? data.write(to: cacheFile, options: .atomic) }
        dirty = false
    }

    private func runKatex(node: String, module: String, keys: [String]) throws -> [String] {
        // Reads a JSON array of "D:tex"/"I:tex" on stdin, writes a JSON array of HTML. Errors
        // render as KaTeX's red error text instead of failing the build.
        let script = """
        const katex = require(process.argv[1]);
        const keys = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
        const out = keys.map(k => katex.renderToString(k.slice(2), {
          displayMode: k[0] === 'D', throwOnError: false, strict: 'ignore' }));
        process.stdout.write(JSON.stringify(out));
        """
        let input = FileManager.default.temporaryDirectory
            .appendingPathComponent("workbook-math-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).json")
        try JSONEncoder().encode(keys).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let result = try ChildProcess(executable: node, arguments: ["-e", script, module, input.path]).run()
        guard result.termination == .exited(0),
              let html = try? JSONDecoder().decode([String].self, from: result.stdout), html.count == keys.count else {
            throw SiteError("KaTeX (\(node) with \(module)) failed: \(String(decoding: result.stderr, as: UTF8.self))")
        }
        return html
    }
}
