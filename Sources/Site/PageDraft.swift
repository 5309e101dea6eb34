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

    /// `markdown` (from `markdownWithPlaceholders`) without the prose on the given file lines;
    /// cell placeholders inside them stay (the cells decide for themselves).
    static func removingLines(_ ranges: [ClosedRange<Int>], from markdown: String, lesson: Lesson) -> String {
        // markdownWithPlaceholders turned each cell's lines into three; map file lines to ours.
        var fileLineOfOurs: [Int] = []
        var fileLine = 1
        let cellsByLine = Dictionary(lesson.cells.map { ($0.line, $0) }, uniquingKeysWith: { a, _ in a })
        let total = lesson.text.components(separatedBy: "\n").count
        while fileLine <= total {
            if let cell = cellsByLine[fileLine] {
                fileLineOfOurs += [cell.line, cell.line, cell.line]
                fileLine = cell.endLine + 1
            } else {
                fileLineOfOurs.append(fileLine)
                fileLine += 1
            }
        }
        let lines = markdown.components(separatedBy: "\n")
        var out: [String] = []
        for (i, line) in lines.enumerated() {
            let origin = i < fileLineOfOurs.count ? fileLineOfOurs[i] : Int.max
            let isCell = cellsByLine[origin] != nil
            if !isCell && ranges.contains(where: { $0.contains(origin) }) { out.append(""); continue }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// Lines inside code blocks (fences included), which math extraction leaves alone.
    static func codeLines(_ markdown: String) -> Set<Int> {
        var lines = Set<Int>()
        for block in MarkdownFences.codeBlocks(in: markdown) where block.endLine >= block.startLine {
            lines.formUnion(block.startLine...block.endLine)
        }
        return lines
    }

    /// Replaces every `WBMATH<n>Z` with `math(n)` and every `WBCELL<n>Z` with `cell(n)` in one
    /// pass (a cell's `<p>…</p>` wrapper goes too).
    static func substitute(_ html: String, math: (Int) -> String, cell: (Int) -> String) -> String {
        let bytes = Array(html.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        let mathTag = Array("WBMATH".utf8), cellTag = Array("WBCELL".utf8)
        let open = Array("<p>".utf8), close = Array("</p>".utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "W"), i + 7 < bytes.count {
                let isMath = bytes[i..<(i + 6)].elementsEqual(mathTag)
                let isCell = !isMath && bytes[i..<(i + 6)].elementsEqual(cellTag)
                if isMath || isCell {
                    var j = i + 6
                    var n = 0
                    while j < bytes.count, bytes[j] >= 48, bytes[j] <= 57 { n = n * 10 + Int(bytes[j] - 48); j += 1 }
                    if j > i + 6, j < bytes.count, bytes[j] == UInt8(ascii: "Z") {
                        j += 1
                        if isMath {
                            out += Array(math(n).utf8)
                        } else {
                            if out.count >= 3, out[(out.count - 3)...].elementsEqual(open),
                               j + 4 <= bytes.count, bytes[j..<(j + 4)].elementsEqual(close) {
                                out.removeLast(3)
                                j += 4
                            }
                            out += Array(cell(n).utf8)
                        }
                        i = j
                        continue
                    }
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The final HTML, given each math span's HTML.
    func finish(math rendered: [String]) -> String {
        Self.substitute(html, math: { $0 < rendered.count ? rendered[$0] : "" }, cell: { cells[$0] ?? "" })
    }

    /// Text per section for the search index (math as TeX, cells as their code when shown).
    func searchSections() -> [SearchSection] {
        let text = Self.substitute(html, math: { $0 < math.count ? HTML.escape(math[$0].tex) : "" },
                                   cell: { "<pre>" + HTML.escape(cellText[$0] ?? "") + "</pre>" })
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
