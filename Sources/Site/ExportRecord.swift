import Foundation

/// `export NAME = JSON` lines, as a lesson prints them outside the grader, made readable:
/// `export sizes = [4800, 600, 600]`, tensors as shape, dtype and statistics.
enum ExportRecord {
    static func readable(_ text: String) -> String {
        guard text.contains("export ") else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("export "), let eq = line.range(of: " = {") else { return String(line) }
            let name = line[line.index(line.startIndex, offsetBy: 7)..<eq.lowerBound]
            let json = line[line.index(before: eq.upperBound)...]
            if let value = try? JSONSerialization.jsonObject(with: Data(json.utf8)) {
                return "export \(name) = \(describe(value))"
            }
            // The runtime cuts a long record at 200 characters ("…"): show the values it has.
            guard json.hasSuffix("…"), let value = repaired(String(json.dropLast())) else { return String(line) }
            return "export \(name) = \(describe(value, cut: true))"
        }.joined(separator: "\n")
    }

    static func number(_ any: Any) -> String {
        guard let n = any as? NSNumber else { return "\(any)" }
        let d = n.doubleValue
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(format: "%.6g", d)
    }

    /// The longest prefix of a cut JSON text that ends after an element, with its open brackets
    /// closed; nil when there is none.
    static func repaired(_ text: String) -> Any? {
        var closers: [Character] = []
        var inString = false, escaped = false
        // (end of the prefix, brackets to close there), at each comma outside strings.
        var cuts: [(String.Index, [Character])] = []
        for i in text.indices {
            let c = text[i]
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            switch c {
            case "\"": inString = true
            case "{": closers.append("}")
            case "[": closers.append("]")
            case "}", "]": _ = closers.popLast()
            case ",": cuts.append((i, closers))
            default: break
            }
        }
        for (end, open) in cuts.reversed().prefix(64) {
            let candidate = String(text[..<end]) + String(open.reversed())
            if let value = try? JSONSerialization.jsonObject(with: Data(candidate.utf8)) { return value }
        }
        return nil
    }

    /// `cut`: the value was cut short, so its last list goes on ("…") by an unknown count.
    static func describe(_ value: Any, cut: Bool = false) -> String {
        guard let object = value as? [String: Any], let (kind, body) = object.first, object.count == 1 else { return "\(value)" }
        switch kind {
        case "null": return "nil"
        case "bool": return (body as? Bool).map { $0 ? "true" : "false" } ?? "\(body)"
        case "int", "num": return number(body)
        case "str": return "\"\(body)\""
        case "error": return "(error: \(body))"
        case "list":
            let items = (body as? [Any]) ?? []
            let shown = items.prefix(12).enumerated().map { i, item in describe(item, cut: cut && i == items.count - 1) }
            let more = cut ? ", …" : items.count > 12 ? ", … \(items.count - 12) more" : ""
            return "[" + shown.joined(separator: ", ") + more + "]"
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
            // A long export's printed line is cut before its statistics: show only those it has.
            let stats = ["sum", "min", "max"].compactMap { key in t[key].map { "\(key) \(number($0))" } }
            return stats.isEmpty ? text : text + " (" + stats.joined(separator: ", ") + ")"
        default:
            return "\(value)"
        }
    }
}
