import Foundation
import Notebook

/// Files a page refers to that are not pages: cell images (content-addressed under
/// `assets/img/`) and images the prose links to. Paths are relative to the site root.
public final class AssetStore: @unchecked Sendable {
    public let root: URL
    private var written = Set<String>()
    private let lock = NSLock()

    public init(root: URL) { self.root = root }

    /// Writes a cell's PNG (base64) once per content; returns its site-relative path.
    public func png(base64: String) throws -> String? {
        guard let data = Data(base64Encoded: base64, options: .ignoreUnknownCharacters),
              data.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
        let path = "assets/img/" + String(SHA256.hex(data).prefix(20)) + ".png"
        try write(data, to: path)
        return path
    }

    /// Copies a source file (an image the prose links to) to `path` in the site.
    public func copy(_ source: URL, to path: String) throws {
        lock.lock(); let done = written.contains(path); lock.unlock()
        if done { return }
        try write(Data(contentsOf: source), to: path)
    }

    public func write(_ data: Data, to path: String) throws {
        lock.lock()
        let isNew = written.insert(path).inserted
        lock.unlock()
        guard isNew else { return }
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }
}

/// Mustache contexts for a cell and its outputs (see site/templates/cell.mustache, output.mustache).
struct CellView {
    var highlighter = SwiftHighlighter()
    var sanitizer = MarkupSanitizer()
    var assets: AssetStore
    /// `""` or `"../"`: from the page to the site root.
    var root: String

    /// Text outputs longer than this many lines are shown folded, with a "show all" button.
    static let foldLines = 25

    /// `figure`: the cell's number ("Figure 3") when it has a `label`.
    func context(cell: Cell, result: CellResult?, role: CellRole, file: String, figure: String? = nil) throws -> [String: Any] {
        var ctx: [String: Any] = [
            "id": cell.id, "number": cell.number, "line": cell.line, "file": file,
            "role": role.rawValue,
            "isSolution": role == .solution, "isStarter": role == .starter, "isCheck": role == .check,
        ]
        if !cell.options.hideSource || role == .starter || role == .solution || role == .check {
            let code = Self.trimmingBlankLines(cell.source)
            ctx["source"] = highlighter.highlight(code)
            if cell.options.fold && role != .starter {
                ctx["fold"] = true
                ctx["foldLines"] = code.split(separator: "\n", omittingEmptySubsequences: false).count
            }
        }
        if let label = cell.options.label, let figure {
            ctx["label"] = label
            ctx["figureNumber"] = figure
            let captions = (result?.outputs ?? []).compactMap { [.image, .table].contains($0.kind) ? $0.caption : nil }
            if let caption = captions.first { ctx["figureCaption"] = caption }
        }
        var outputs: [[String: Any]] = []
        if let result, role != .starter && role != .check {
            if !cell.options.hideOutput {
                for output in Self.merged(result.outputs) { if let o = try context(output) { outputs.append(o) } }
            }
            let status = result.status
            ctx["status"] = status.rawValue
            switch status {
            case .error, .timeout, .compileError:
                let label = status == .timeout ? "Timed out" : status == .compileError ? "Compile error" : "Error"
                outputs.append(["isError": true, "label": label, "text": result.error ?? "\(file):\(cell.line): cell \(cell.number) failed"])
            case .expectedError:
                outputs.append(["isExpectedError": true, "label": "Expected error", "text": result.error ?? ""])
            case .notRun:
                outputs.append(["isNote": true, "text": "Not run: an earlier cell failed."])
            case .ok, .skipped:
                break
            }
            if let d = result.duration, d >= 1 { ctx["duration"] = String(format: "%.1f s", d) }
        }
        if !outputs.isEmpty { ctx["outputs"] = outputs; ctx["hasOutputs"] = true }
        return ctx
    }

    /// Consecutive text chunks of the same stream read as one block; each `show` value (`text`)
    /// keeps its own line.
    static func merged(_ outputs: [CellOutput]) -> [CellOutput] {
        var result: [CellOutput] = []
        for o in outputs {
            if let last = result.last, last.kind == o.kind, [.stdout, .stderr, .text].contains(o.kind) {
                let previous = last.text ?? ""
                let separator = o.kind == .text && !previous.isEmpty && !previous.hasSuffix("\n") ? "\n" : ""
                result[result.count - 1].text = previous + separator + (o.text ?? "")
            } else {
                result.append(o)
            }
        }
        return result
    }

    static func align(_ value: String?) -> String {
        switch value?.lowercased() {
        case "right": "right"
        case "center", "centre": "center"
        default: "left"
        }
    }

    func context(_ output: CellOutput) throws -> [String: Any]? {
        switch output.kind {
        case .stdout, .text:
            guard let text = output.text, !text.isEmpty else { return nil }
            let shown = ExportRecord.readable(Self.trimmingFinalNewline(text))
            var ctx: [String: Any] = ["isText": true, "stream": output.kind.rawValue, "text": shown]
            let lines = shown.split(separator: "\n", omittingEmptySubsequences: false).count
            if lines > Self.foldLines { ctx["folded"] = true; ctx["lineCount"] = lines }
            return ctx
        case .stderr:
            guard let text = output.text, !text.isEmpty else { return nil }
            return ["isStderr": true, "text": Self.trimmingFinalNewline(text)]
        case .error:
            return ["isError": true, "label": "Error", "text": output.text ?? ""]
        case .table:
            let aligns = output.align ?? []
            func cells(_ row: [String]) -> [[String: Any]] {
                row.enumerated().map { ["text": $1, "align": Self.align($0 < aligns.count ? aligns[$0] : nil)] }
            }
            var ctx: [String: Any] = ["isTable": true, "rows": (output.rows ?? []).map { ["cells": cells($0)] }]
            if let headers = output.headers, !headers.isEmpty { ctx["headers"] = cells(headers); ctx["hasHeaders"] = true }
            if let caption = output.caption { ctx["caption"] = caption }
            return ctx
        case .image:
            guard let png = output.png, let path = try assets.png(base64: png) else {
                return ["isError": true, "label": "Error", "text": "an image output is not a valid PNG"]
            }
            var ctx: [String: Any] = ["isImage": true, "src": root + path, "alt": output.caption ?? "cell output image"]
            if let caption = output.caption { ctx["caption"] = caption }
            return ctx
        case .svg:
            guard let svg = output.svg else { return nil }
            return ["isSVG": true, "svg": sanitizer.sanitize(svg)]
        case .html:
            guard let html = output.html else { return nil }
            return ["isHTML": true, "html": sanitizer.sanitize(html)]
        }
    }

    /// The code without blank lines at the start and end (the fences' neighbours).
    static func trimmingBlankLines(_ code: String) -> String {
        var lines = code.split(separator: "\n", omittingEmptySubsequences: false)
        while let first = lines.first, first.allSatisfy(\.isWhitespace), !lines.isEmpty { lines.removeFirst() }
        while let last = lines.last, last.allSatisfy(\.isWhitespace), !lines.isEmpty { lines.removeLast() }
        return lines.joined(separator: "\n")
    }

    static func trimmingFinalNewline(_ text: String) -> String {
        text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
