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

/// `export NAME = JSON` lines, as a lesson prints them outside the grader, made readable:
/// `export sizes = [4800, 600, 600]`, tensors as shape, dtype and statistics.
enum ExportRecord {
    static func readable(_ text: String) -> String {
        guard text.contains("export ") else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("export "), let eq = line.range(of: " = {") else { return String(line) }
            let name = line[line.index(line.startIndex, offsetBy: 7)..<eq.lowerBound]
            let json = line[line.index(before: eq.upperBound)...]
            guard let data = json.data(using: .utf8), let value = try? JSONSerialization.jsonObject(with: data) else {
                return String(line)  // cut at 200 characters: left as printed
            }
            return "export \(name) = \(describe(value))"
        }.joined(separator: "\n")
    }

    static func number(_ any: Any) -> String {
        guard let n = any as? NSNumber else { return "\(any)" }
        let d = n.doubleValue
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(format: "%.6g", d)
    }

    static func describe(_ value: Any) -> String {
        guard let object = value as? [String: Any], let (kind, body) = object.first, object.count == 1 else { return "\(value)" }
        switch kind {
        case "null": return "nil"
        case "bool": return (body as? Bool).map { $0 ? "true" : "false" } ?? "\(body)"
        case "int", "num": return number(body)
        case "str": return "\"\(body)\""
        case "error": return "(error: \(body))"
        case "list":
            let items = (body as? [Any]) ?? []
            let shown = items.prefix(12).map(describe)
            return "[" + shown.joined(separator: ", ") + (items.count > 12 ? ", … \(items.count - 12) more" : "") + "]"
        case "map":
            let fields = (body as? [String: Any]) ?? [:]
            return "[" + fields.keys.sorted().map { "\"\($0)\": \(describe(fields[$0]!))" }.joined(separator: ", ") + "]"
        case "tensor":
            guard let t = body as? [String: Any] else { return "\(body)" }
            let shape = ((t["shape"] as? [Any]) ?? []).map(number).joined(separator: ", ")
            var text = "tensor [\(shape)] \(t["dtype"] ?? "")"
            if let values = t["values"] as? [Any] {
                text += " " + "[" + values.prefix(8).map(number).joined(separator: ", ") + (values.count > 8 ? ", …" : "") + "]"
            }
            return text + " (sum \(number(t["sum"] ?? 0)), min \(number(t["min"] ?? 0)), max \(number(t["max"] ?? 0)))"
        default:
            return "\(value)"
        }
    }
}
