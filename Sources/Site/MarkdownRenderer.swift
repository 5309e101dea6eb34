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

    public func html(_ markdown: String) -> String {
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
