import Foundation
import Notebook

/// A searchable part of a page: the text under one heading.
public struct SearchSection: Codable, Sendable, Equatable {
    /// Heading text (empty for the part before the first heading).
    public var h: String
    /// Anchor id (empty for the top of the page).
    public var a: String
    /// Plain text.
    public var x: String
}

/// A page's body on its way to HTML: prose rendered by cmark with placeholders where cells and
/// math go, so math can be typeset for the whole site in one batch before the pieces are joined.
struct PageDraft {
    var html: String
    var headings: [Heading]
    var math: [MathSpan]
    /// Cell index -> rendered cell HTML ("" when the cell is not shown).
    var cells: [Int: String]
    /// Cell index -> the text the search index gets for it.
    var cellText: [Int: String]
    var hasH1: Bool

    static func cellPlaceholder(_ index: Int) -> String { "WBCELL\(index)Z" }

    /// Markdown of the whole file with front matter blanked and each cell replaced by a paragraph
    /// holding its placeholder (keeping list/quote prefixes so the cell stays where it was).
    static func markdownWithPlaceholders(_ lesson: Lesson) -> String {
        var lines = lesson.text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        if let fm = lesson.frontMatter.lines {
            for n in fm where n - 1 < lines.count { lines[n - 1] = "" }
        }
        for cell in lesson.cells.reversed() {
            guard cell.line - 1 < lines.count else { continue }
            let fence = lines[cell.line - 1]
            let prefix = String(fence.prefix { $0 != "`" && $0 != "~" })
            let bare = prefix.trimmingWhitespace().isEmpty ? "" : prefix.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "\t", with: "")
            let last = min(cell.endLine, lines.count)
            lines.replaceSubrange((cell.line - 1)...(last - 1), with: [bare, prefix + cellPlaceholder(cell.index), bare])
        }
        return lines.joined(separator: "\n")
    }

    /// Lines inside code blocks (fences included), which math extraction leaves alone.
    static func codeLines(_ markdown: String) -> Set<Int> {
        var lines = Set<Int>()
        for block in MarkdownFences.codeBlocks(in: markdown) where block.endLine >= block.startLine {
            lines.formUnion(block.startLine...block.endLine)
        }
        return lines
    }

    /// Replaces `<p>PLACEHOLDER</p>` (or a bare placeholder, as in tight lists) with `replacement`.
    static func splice(_ html: String, placeholder: String, with replacement: String) -> String {
        let wrapped = "<p>\(placeholder)</p>"
        if html.contains(wrapped) { return html.replacingOccurrences(of: wrapped, with: replacement) }
        return html.replacingOccurrences(of: placeholder, with: replacement)
    }

    /// The final HTML, given each math span's HTML.
    func finish(math rendered: [String]) -> String {
        var out = html
        // Highest index first so WBMATH1Z does not match inside WBMATH10Z (the Z ends each one anyway).
        for (i, html) in rendered.enumerated().reversed() {
            out = out.replacingOccurrences(of: MathExtractor.placeholder(i), with: html)
        }
        for (index, cellHTML) in cells.sorted(by: { $0.key > $1.key }) {
            out = Self.splice(out, placeholder: Self.cellPlaceholder(index), with: cellHTML)
        }
        return out
    }

    /// Text per section for the search index (math as TeX, cells as their code when shown).
    func searchSections() -> [SearchSection] {
        var text = html
        for (i, span) in math.enumerated().reversed() {
            text = text.replacingOccurrences(of: MathExtractor.placeholder(i), with: HTML.escape(span.tex))
        }
        for (index, _) in cells.sorted(by: { $0.key > $1.key }) {
            text = Self.splice(text, placeholder: Self.cellPlaceholder(index),
                               with: "<pre>" + HTML.escape(cellText[index] ?? "") + "</pre>")
        }
        var sections: [SearchSection] = []
        var rest = Substring(text)
        var current = (h: "", a: "")
        for heading in headings {
            let marker = " id=\"\(heading.id)\""
            guard let r = rest.range(of: marker), let tagStart = rest[..<r.lowerBound].range(of: "<h", options: .backwards) else { continue }
            let body = HTML.text(of: String(rest[..<tagStart.lowerBound]))
            if !body.isEmpty || !current.h.isEmpty { sections.append(SearchSection(h: current.h, a: current.a, x: Self.clip(body))) }
            let close = rest[r.upperBound...].range(of: "</h\(heading.level)>")?.upperBound ?? r.upperBound
            rest = rest[close...]
            current = (heading.text, heading.id)
        }
        let body = HTML.text(of: String(rest))
        if !body.isEmpty || !current.h.isEmpty { sections.append(SearchSection(h: current.h, a: current.a, x: Self.clip(body))) }
        return sections
    }

    /// Keeps the index compact: the first 1500 characters of a section are enough to find it.
    static func clip(_ text: String) -> String {
        text.count <= 1500 ? text : String(text.prefix(1500))
    }
}
