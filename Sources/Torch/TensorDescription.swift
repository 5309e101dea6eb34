import Foundation

/// `print(x)` shows a tensor exactly as PyTorch's `repr` does with default print options:
/// `tensor([[1.5000, 2.0000], ...])`, integer-valued floats as `1.`, scientific notation for wide
/// ranges, Bool as `True`/`False`, `...` summaries above 1000 elements (3 edge items), and the
/// `requires_grad=True` / `grad_fn=<MulBackward0>` suffixes.
extension Tensor: CustomStringConvertible {
    public var description: String { TensorPrinter(self).render() }
}

struct TensorPrinter {
    static let lineWidth = 80
    static let threshold = 1000
    static let edgeItems = 3
    static let precision = 4

    let tensor: Tensor
    let strides: [Int]
    let summarize: Bool

    init(_ tensor: Tensor) {
        self.tensor = tensor
        strides = Shape.strides(tensor.shape)
        summarize = tensor.count > TensorPrinter.threshold
    }

    func render() -> String {
        let prefix = "tensor("
        let indent = prefix.count
        var suffixes: [String] = []
        let body: String
        if tensor.count == 0 {
            if tensor.rank != 1 { suffixes.append("size=(" + tensor.shape.map(String.init).joined(separator: ", ") + ")") }
            if tensor.dtype != .float32 { suffixes.append("dtype=\(tensor.dtype)") }
            body = "[]"
        } else {
            let formatter = ElementFormatter(values: sampleOffsets(dim: 0, base: 0).map(value), dtype: tensor.dtype)
            body = tensorString(dim: 0, base: 0, indent: indent, formatter)
        }
        if let fn = tensor.gradFn {
            suffixes.append("grad_fn=<\(fn.name.prefix(1).uppercased() + fn.name.dropFirst())Backward0>")
        } else if tensor.requiresGrad {
            suffixes.append("requires_grad=True")
        }
        return TensorPrinter.addSuffixes(prefix + body, suffixes, indent: indent)
    }

    static func addSuffixes(_ text: String, _ suffixes: [String], indent: Int) -> String {
        var out = text
        let lastNewline = text.lastIndex(of: "\n").map { text.distance(from: text.startIndex, to: $0) } ?? -1
        var lastLineLength = text.count - lastNewline + 1
        for suffix in suffixes {
            if lastLineLength + suffix.count + 2 > lineWidth {
                out += ",\n" + String(repeating: " ", count: indent) + suffix
                lastLineLength = indent + suffix.count
            } else {
                out += ", " + suffix
                lastLineLength += suffix.count + 2
            }
        }
        return out + ")"
    }

    private func value(at offset: Int) -> ElementFormatter.Value {
        switch tensor.dtype {
        case .float32: return .float(Double(tensor.storage[offset]))
        case .int64: return .int(tensor.int64Storage[offset])
        case .bool: return .bool(tensor.storage[offset] != 0)
        }
    }

    /// Positions shown (edge items only when summarising) along dim `dim`.
    private func shownIndices(_ dim: Int) -> [Int?] {
        let size = tensor.shape[dim], e = TensorPrinter.edgeItems
        if summarize && size > 2 * e { return Array(0..<e) + [nil] + Array((size - e)..<size) }
        return Array(0..<size)
    }

    /// Flat offsets of the elements that will be printed, which is what the formatter measures.
    private func sampleOffsets(dim: Int, base: Int) -> [Int] {
        if dim == tensor.rank { return [base] }
        return shownIndices(dim).compactMap { $0 }.flatMap { sampleOffsets(dim: dim + 1, base: base + $0 * strides[dim]) }
    }

    private func tensorString(dim: Int, base: Int, indent: Int, _ f: ElementFormatter) -> String {
        let remaining = tensor.rank - dim
        if remaining == 0 { return f.format(value(at: base)) }
        if remaining == 1 {
            let elementsPerLine = Swift.max(1, (TensorPrinter.lineWidth - indent) / (f.maxWidth + 2))
            let items = shownIndices(dim).map { i in i.map { f.format(value(at: base + $0 * strides[dim])) } ?? " ..." }
            let lines = stride(from: 0, to: items.count, by: elementsPerLine).map {
                items[$0..<Swift.min($0 + elementsPerLine, items.count)].joined(separator: ", ")
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let slices = shownIndices(dim).map { i in
            i.map { tensorString(dim: dim + 1, base: base + $0 * strides[dim], indent: indent + 1, f) } ?? "..."
        }
        let separator = "," + String(repeating: "\n", count: remaining - 1) + String(repeating: " ", count: indent + 1)
        return "[" + slices.joined(separator: separator) + "]"
    }
}

/// PyTorch's `_Formatter`: one width and style (fixed, integer, scientific) for all elements.
struct ElementFormatter {
    enum Value { case float(Double), int(Int64), bool(Bool) }

    private(set) var maxWidth = 1
    private var intMode = true
    private var sciMode = false
    private let floating: Bool

    init(values: [Value], dtype: DType) {
        floating = dtype == .float32
        guard floating else {
            for v in values { maxWidth = Swift.max(maxWidth, ElementFormatter.plain(v).count) }
            return
        }
        let finite = values.compactMap { v -> Double? in
            if case .float(let x) = v, x.isFinite, x != 0 { return x }
            return nil
        }
        guard !finite.isEmpty else { return }
        let magnitudes = finite.map(Swift.abs)
        let lo = magnitudes.min()!, hi = magnitudes.max()!
        intMode = finite.allSatisfy { $0 == $0.rounded(.up) }
        sciMode = hi / lo > 1000 || hi > 1e8 || lo < 1e-4
        for x in finite {
            let text: String
            if sciMode { text = ElementFormatter.python(x, "e") } else if intMode { text = ElementFormatter.python(x, ".0f") + "." } else {
                text = ElementFormatter.python(x, "f")
            }
            maxWidth = Swift.max(maxWidth, text.count)
        }
    }

    func format(_ v: Value) -> String {
        let text: String
        if floating, case .float(let x) = v {
            if sciMode {
                text = ElementFormatter.python(x, "e")
            } else if intMode {
                text = ElementFormatter.python(x, ".0f") + (x.isFinite ? "." : "")
            } else {
                text = ElementFormatter.python(x, "f")
            }
        } else {
            text = ElementFormatter.plain(v)
        }
        return String(repeating: " ", count: Swift.max(0, maxWidth - text.count)) + text
    }

    private static func plain(_ v: Value) -> String {
        switch v {
        case .float(let x): return String(x)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "True" : "False"
        }
    }

    /// Python's `format(x, ".4f")` / `".4e"` / `".0f"` (non-finite values print as nan/inf/-inf).
    private static func python(_ x: Double, _ style: String) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        switch style {
        case "e": return String(format: "%.\(TensorPrinter.precision)e", x)
        case ".0f": return String(format: "%.0f", x)
        default: return String(format: "%.\(TensorPrinter.precision)f", x)
        }
    }
}
