import Foundation

/// GitHub's alert syntax, which forges render too:
///
///     > [!NOTE]
///     > Text of the note.
///
/// cmark renders it as a block quote whose first paragraph starts with `[!NOTE]`; this turns such
/// quotes into `<div class="callout note">` with a title. Other block quotes stay as they are.
enum Callouts {
    static let kinds = ["NOTE": "Note", "TIP": "Tip", "IMPORTANT": "Important", "WARNING": "Warning", "CAUTION": "Caution"]

    static func render(_ html: String) -> String {
        guard html.contains("[!") else { return html }
        var out = ""
        var rest = Substring(html)
        // For each open <blockquote>: whether it became a callout (its close must become </div>).
        var stack: [Bool] = []
        while true {
            let open = rest.range(of: "<blockquote>"), close = rest.range(of: "</blockquote>")
            if let open, open.lowerBound < (close?.lowerBound ?? rest.endIndex) {
                out += rest[..<open.lowerBound]
                let (head, after) = Self.open(rest[open.upperBound...])
                out += head ?? "<blockquote>"
                stack.append(head != nil)
                rest = after
            } else if let close {
                out += rest[..<close.lowerBound]
                out += (stack.popLast() ?? false) ? "</div>" : "</blockquote>"
                rest = rest[close.upperBound...]
            } else {
                break
            }
        }
        return out + rest
    }

    /// If `rest` (just after `<blockquote>`) starts a callout: its opening HTML and what follows the marker.
    private static func open(_ rest: Substring) -> (String?, Substring) {
        let body = rest.drop { $0 == "\n" }
        guard body.hasPrefix("<p>[!"), let end = body.range(of: "]") else { return (nil, rest) }
        let name = String(body[body.index(body.startIndex, offsetBy: 5)..<end.lowerBound])
        guard let title = kinds[name.uppercased()] else { return (nil, rest) }
        var after = body[end.upperBound...]
        let kind = name.lowercased()
        var head = "<div class=\"callout \(kind)\" role=\"note\">\n<p class=\"callout-title\">\(title)</p>\n"
        // `[!NOTE]` alone on its line: the paragraph goes on below it, or ends there.
        if after.hasPrefix("</p>") {
            after = after.dropFirst(4)
        } else {
            after = after.drop { $0 == "\n" || $0 == " " }
            head += "<p>"
        }
        return (head, after)
    }
}
