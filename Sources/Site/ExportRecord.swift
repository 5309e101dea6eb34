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
