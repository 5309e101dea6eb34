/// Cleans SVG and HTML fragments that cells produce (`show(svg:)`, `show(html:)`, plots) before
/// they are inlined in a page: they come from our own runtime and lesson code, but a page must
/// stay offline and script-free. Removes `<script>`, `<iframe>`, `<object>`, `<embed>`,
/// `<foreignObject>`, `<link>`, `<meta>` and `<base>` elements, `on…` event attributes,
/// `style` attributes that load URLs, and `href`/`src`/`xlink:href` values other than
/// in-page `#…` references and `data:image/…` URLs. Text is kept as written (already escaped by
/// the runtime); a stray `<` that starts no tag is escaped.
public struct MarkupSanitizer: Sendable {
    public init() {}

    static let droppedElements: Set<String> = ["script", "iframe", "object", "embed", "foreignobject",
                                               "link", "meta", "base", "frame", "frameset", "applet"]
    static let urlAttributes: Set<String> = ["href", "src", "xlink:href", "action", "formaction",
                                             "poster", "background", "srcset", "data"]

    public func sanitize(_ markup: String) -> String {
        let s = Array(markup.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        /// Name of the dropped element we are inside, and its nesting depth.
        var skipping: (name: String, depth: Int)?
        func append(_ text: String) { if skipping == nil { out.append(contentsOf: text.unicodeScalars) } }
        while i < s.count {
            let c = s[i]
            guard c == "<" else {
                if skipping == nil { out.append(c) }
                i += 1
                continue
            }
            // Comments, CDATA, doctype: copied (comments) or dropped whole.
            if s[i...].starts(with: "<!--".unicodeScalars) {
                var j = i + 4
                while j < s.count && !s[j...].starts(with: "-->".unicodeScalars) { j += 1 }
                i = min(s.count, j + 3)
                continue
            }
            if i + 1 < s.count && (s[i + 1] == "!" || s[i + 1] == "?") {
                var j = i
                while j < s.count && s[j] != ">" { j += 1 }
                i = min(s.count, j + 1)
                continue
            }
            guard let tag = parseTag(s, at: i) else {
                append("&lt;")
                i += 1
                continue
            }
            i = tag.end
            let name = tag.name.lowercased()
            if var skip = skipping {
                if name == skip.name {
                    skip.depth += tag.closing ? -1 : (tag.selfClosing ? 0 : 1)
                    skipping = skip.depth == 0 ? nil : skip
                }
                continue
            }
            if Self.droppedElements.contains(name) {
                if !tag.closing && !tag.selfClosing { skipping = (name, 1) }
                continue
            }
            if tag.closing { append("</\(tag.name)>"); continue }
            var text = "<" + tag.name
            for (key, value) in tag.attributes {
                let k = key.lowercased()
                if k.hasPrefix("on") { continue }
                if let value {
                    let v = value.trimmingWhitespace().lowercased()
                    if Self.urlAttributes.contains(k) && !(v.hasPrefix("#") || v.hasPrefix("data:image/")) { continue }
                    if k == "style" && (v.contains("url(") || v.contains("expression(") || v.contains("@import")) { continue }
                    text += " \(key)=\"\(HTML.escape(HTML.decodeEntities(value)))\""
                } else {
                    text += " \(key)"
                }
            }
            text += tag.selfClosing ? "/>" : ">"
            append(text)
        }
        return String(out)
    }

    struct Tag {
        var name: String
        var closing: Bool
        var selfClosing: Bool
        var attributes: [(String, String?)]
        var end: Int
    }

    /// Parses `<name attr="v" attr2='v' attr3=v flag>` at `start`; nil if no tag starts there.
    func parseTag(_ s: [Unicode.Scalar], at start: Int) -> Tag? {
        var i = start + 1
        let closing = i < s.count && s[i] == "/"
        if closing { i += 1 }
        func isNameChar(_ c: Unicode.Scalar) -> Bool {
            c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == ":" || c == "_" || c == "."
        }
        let nameStart = i
        guard i < s.count, s[i].properties.isAlphabetic else { return nil }
        while i < s.count && isNameChar(s[i]) { i += 1 }
        let name = String(String.UnicodeScalarView(s[nameStart..<i]))
        var attributes: [(String, String?)] = []
        var selfClosing = false
        while i < s.count {
            while i < s.count && s[i].properties.isWhitespace { i += 1 }
            guard i < s.count else { return nil }
            if s[i] == ">" { return Tag(name: name, closing: closing, selfClosing: selfClosing, attributes: attributes, end: i + 1) }
            if s[i] == "/" { selfClosing = true; i += 1; continue }
            let keyStart = i
            while i < s.count && !s[i].properties.isWhitespace && s[i] != "=" && s[i] != ">" && s[i] != "/" { i += 1 }
            let key = String(String.UnicodeScalarView(s[keyStart..<i]))
            guard !key.isEmpty else { i += 1; continue }
            while i < s.count && s[i].properties.isWhitespace { i += 1 }
            if i < s.count && s[i] == "=" {
                i += 1
                while i < s.count && s[i].properties.isWhitespace { i += 1 }
                guard i < s.count else { return nil }
                var value: String
                if s[i] == "\"" || s[i] == "'" {
                    let quote = s[i]
                    let valueStart = i + 1
                    i += 1
                    while i < s.count && s[i] != quote { i += 1 }
                    guard i < s.count else { return nil }
                    value = String(String.UnicodeScalarView(s[valueStart..<i]))
                    i += 1
                } else {
                    let valueStart = i
                    while i < s.count && !s[i].properties.isWhitespace && s[i] != ">" { i += 1 }
                    value = String(String.UnicodeScalarView(s[valueStart..<i]))
                }
                attributes.append((key, value))
                selfClosing = false
            } else {
                attributes.append((key, nil))
            }
        }
        return nil
    }
}
