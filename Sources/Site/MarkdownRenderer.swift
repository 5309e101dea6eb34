import CCmark
import Foundation

/// A heading of a page, with the anchor id given to it.
public struct Heading: Sendable, Equatable {
    public var level: Int
    public var id: String
    public var text: String
}

/// CommonMark to HTML with cmark.
///
/// Raw HTML in lessons is off by default (cmark's safe mode replaces it with a comment and drops
/// `javascript:` links): lessons are trusted, but a course site should not depend on inline HTML
/// that the print/dark themes cannot style. `workbook build --allow-html` turns it on.
public struct MarkdownRenderer: Sendable {
    public var allowRawHTML: Bool
    public init(allowRawHTML: Bool = false) { self.allowRawHTML = allowRawHTML }

    /// CommonMark plus GitHub-style pipe tables, which lessons use and plain cmark lacks: table
    /// blocks are cut out and rendered here (cells through cmark, inline), the rest by cmark.
    public func html(_ markdown: String) -> String {
        var out = ""
        var pending: [Substring] = []
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        var fence: Substring?
        func flush() {
            if !pending.isEmpty { out += commonMark(pending.joined(separator: "\n") + "\n") }
            pending = []
        }
        while i < lines.count {
            let line = lines[i]
            let trimmed = line.drop { $0 == " " }
            if let open = fence {
                if trimmed.hasPrefix(open) { fence = nil }
            } else if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                fence = trimmed.prefix(3)
            } else if i + 1 < lines.count, line.contains("|"), let alignments = Self.delimiterRow(lines[i + 1]),
                      Self.cells(line).count == alignments.count {
                var rows: [[String]] = []
                var j = i + 2
                while j < lines.count, lines[j].contains("|"), !lines[j].allSatisfy({ $0 == " " }) {
                    rows.append(Self.cells(lines[j]))
                    j += 1
                }
                flush()
                out += table(header: Self.cells(line), alignments: alignments, rows: rows)
                i = j
                continue
            }
            pending.append(line)
            i += 1
        }
        flush()
        return out
    }

    private func table(header: [String], alignments: [String?], rows: [[String]]) -> String {
        func cell(_ tag: String, _ text: String, _ align: String?) -> String {
            let style = align.map { " style=\"text-align:\($0)\"" } ?? ""
            return "<\(tag)\(style)>\(inline(text))</\(tag)>"
        }
        var html = "<table>\n<thead>\n<tr>"
        for (k, text) in header.enumerated() { html += cell("th", text, alignments[k]) }
        html += "</tr>\n</thead>\n<tbody>\n"
        for row in rows {
            html += "<tr>"
            for k in 0..<header.count { html += cell("td", k < row.count ? row[k] : "", alignments[k]) }
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }

    /// One cell's Markdown as inline HTML (cmark's paragraph wrapper removed).
    private func inline(_ text: String) -> String {
        var html = commonMark(text).trimmingCharacters(in: .whitespacesAndNewlines)
        if html.hasPrefix("<p>") && html.hasSuffix("</p>") { html = String(html.dropFirst(3).dropLast(4)) }
        return html
    }

    /// The cells of a table row: split on unescaped `|`, outer pipes optional.
    static func cells(_ line: Substring) -> [String] {
        var cells: [String] = []
        var current = ""
        var escaped = false
        for c in line {
            if escaped { current.append(c == "|" ? "|" : "\\\(c)"); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "|" { cells.append(current); current = "" } else { current.append(c) }
        }
        if escaped { current.append("\\") }
        cells.append(current)
        var trimmed = cells.map { $0.trimmingCharacters(in: .whitespaces) }
        if line.trimmingCharacters(in: .whitespaces).hasPrefix("|"), trimmed.first == "" { trimmed.removeFirst() }
        if line.trimmingCharacters(in: .whitespaces).hasSuffix("|"), trimmed.last == "", !trimmed.isEmpty { trimmed.removeLast() }
        return trimmed
    }

    /// The alignments of a delimiter row such as `|:---|---:|:-:|`, or nil if `line` is not one.
    static func delimiterRow(_ line: Substring) -> [String?]? {
        guard line.contains("-") else { return nil }
        let parts = cells(line)
        guard !parts.isEmpty else { return nil }
        var result: [String?] = []
        for part in parts {
            let core = part.trimmingCharacters(in: CharacterSet(charactersIn: ":"))
            guard !core.isEmpty, core.allSatisfy({ $0 == "-" }) else { return nil }
            let left = part.hasPrefix(":"), right = part.hasSuffix(":")
            result.append(left && right ? "center" : right ? "right" : left ? "left" : nil)
        }
        return result
    }

    private func commonMark(_ markdown: String) -> String {
        var options = CMARK_OPT_DEFAULT | CMARK_OPT_SMART
        if allowRawHTML { options |= CMARK_OPT_UNSAFE }
        let bytes = Array(markdown.utf8)
        guard let cString = bytes.withUnsafeBufferPointer({ buffer -> UnsafeMutablePointer<CChar>? in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    cmark_markdown_to_html($0, buffer.count, options)
                }
            } ?? cmark_markdown_to_html("", 0, options)
        }) else { return "" }
        defer { free(cString) }
        return String(cString: cString)
    }

    /// Gives every `<hN>` an id (a slug of its text, unique within the page, `ids` carrying the
    /// ones used so far) and returns the headings in order.
    public static func anchorHeadings(_ html: String, ids: inout Set<String>) -> (html: String, headings: [Heading]) {
        var headings: [Heading] = []
        var out = ""
        var rest = Substring(html)
        while let open = rest.range(of: "<h") {
            let afterH = rest[open.upperBound...]
            guard let levelChar = afterH.first, let level = levelChar.wholeNumberValue, (1...6).contains(level),
                  afterH.dropFirst().first == ">" else {
                out += rest[..<open.upperBound]
                rest = afterH
                continue
            }
            let contentStart = afterH.index(afterH.startIndex, offsetBy: 2)
            guard let close = rest[contentStart...].range(of: "</h\(level)>") else { break }
            let inner = String(rest[contentStart..<close.lowerBound])
            let text = HTML.text(of: inner)
            let id = uniqueSlug(text, ids: &ids)
            headings.append(Heading(level: level, id: id, text: text))
            out += rest[..<open.lowerBound]
            out += "<h\(level) id=\"\(id)\">\(inner)<a class=\"anchor\" href=\"#\(id)\" aria-label=\"Link to this section\">#</a></h\(level)>"
            rest = rest[close.upperBound...]
        }
        out += rest
        return (out, headings)
    }

    /// `Fine-tuning a ResNet!` -> `fine-tuning-a-resnet`; `-2`, `-3`… when taken.
    public static func uniqueSlug(_ text: String, ids: inout Set<String>) -> String {
        var slug = ""
        var dash = false
        for c in text.lowercased().unicodeScalars {
            if c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" {
                if dash && !slug.isEmpty { slug += "-" }
                dash = false
                slug.unicodeScalars.append(c)
            } else {
                dash = true
            }
        }
        if slug.isEmpty { slug = "section" }
        var candidate = slug
        var n = 2
        while ids.contains(candidate) { candidate = "\(slug)-\(n)"; n += 1 }
        ids.insert(candidate)
        return candidate
    }
}
