import Foundation

/// Tiny escaping helpers; everything larger goes through the Mustache templates.
public enum HTML {
    /// Escapes text for element content and double- or single-quoted attribute values.
    public static func escape(_ text: some StringProtocol) -> String { escape(text, quotes: true) }

    /// Escapes text for element content only (`<`, `>`, `&`): shorter output for code.
    public static func escapeText(_ text: some StringProtocol) -> String { escape(text, quotes: false) }

    private static func escape(_ text: some StringProtocol, quotes: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"" where quotes: out += "&quot;"
            case "'" where quotes: out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// The text of an HTML fragment: tags removed, the common entities decoded, whitespace collapsed.
    public static func text(of html: String) -> String {
        var out = ""
        var inTag = false
        for c in html {
            if inTag {
                if c == ">" { inTag = false; out += " " }
            } else if c == "<" {
                inTag = true
            } else {
                out.append(c)
            }
        }
        return collapseWhitespace(decodeEntities(out))
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var s = text
        for (entity, value) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&nbsp;", " ")] {
            s = s.replacingOccurrences(of: entity, with: value)
        }
        return s.replacingOccurrences(of: "&amp;", with: "&")
    }

    static func collapseWhitespace(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}
