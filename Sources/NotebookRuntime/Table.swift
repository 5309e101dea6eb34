import ProgramRecords

/// A table of text and numbers, shown by `show(table:)`.
///
///     show(table: Table(headers: ["layer", "params"], rows: [["conv1", 9408], ["fc", 513_000]]))
public struct Table: Sendable {
    public enum Alignment: String, Sendable { case left, right, center }

    /// One cell: text, or a number formatted with `digits` decimals (integers as is).
    public enum Value: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
                       ExpressibleByFloatLiteral, CustomStringConvertible {
        case text(String)
        case integer(Int)
        case number(Double, digits: Int)

        public init(stringLiteral value: String) { self = .text(value) }
        public init(integerLiteral value: Int) { self = .integer(value) }
        public init(floatLiteral value: Double) { self = .number(value, digits: 4) }
        public init(_ value: Double, digits: Int = 4) { self = .number(value, digits: digits) }
        public init(_ value: Float, digits: Int = 4) { self = .number(Double(value), digits: digits) }

        public var description: String {
            switch self {
            case .text(let s): return s
            case .integer(let i): return String(i)
            case .number(let x, let digits):
                if x.isNaN { return "nan" }
                if x.isInfinite { return x > 0 ? "inf" : "-inf" }
                return String(format: "%.\(max(0, digits))f", x)
            }
        }

        var isNumeric: Bool { if case .text = self { return false } else { return true } }
    }

    public var headers: [String]
    public var rows: [[Value]]
    /// One per column; nil: numbers right-aligned, text left-aligned.
    public var alignments: [Alignment]?

    public init(headers: [String], rows: [[Value]], alignments: [Alignment]? = nil) {
        self.headers = headers
        self.rows = rows
        self.alignments = alignments
    }

    /// Column alignments, resolved.
    public var resolvedAlignments: [Alignment] {
        let columns = max(headers.count, rows.map(\.count).max() ?? 0)
        return (0..<columns).map { c in
            if let alignments, c < alignments.count { return alignments[c] }
            let values = rows.compactMap { c < $0.count ? $0[c] : nil }
            return !values.isEmpty && values.allSatisfy(\.isNumeric) ? .right : .left
        }
    }

    var record: Record.Body {
        .table(headers: headers, rows: rows.map { $0.map(\.description) }, align: resolvedAlignments.map(\.rawValue))
    }

    /// Tab-separated text, for programs run outside the runner.
    var plainText: String {
        ([headers] + rows.map { $0.map(\.description) }).map { $0.joined(separator: "\t") }.joined(separator: "\n")
    }
}
