import Foundation
import Torch

/// A value an exercise asks for, as the grader sees it: exported by the student's program with
/// `export(_:_:)`, read back by the separate checker program with `Answers`.
///
/// Encoded as one tagged JSON object per value so nothing is ambiguous (an integer is never
/// mistaken for a float, a map for a model): `{"int":3}`, `{"num":0.5}` (non-finite numbers as
/// the strings `"nan"`, `"inf"`, `"-inf"`), `{"bool":true}`, `{"str":"…"}`, `{"null":true}`,
/// `{"list":[…]}`, `{"map":{"k":…}}` and `{"tensor":{"shape":[…],"dtype":"float32",
/// "values":[…] or null,"sum":…,"min":…,"max":…}}`.
public indirect enum Answer: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case list([Answer])
    case map([String: Answer])
    case tensor(TensorAnswer)
}

/// A tensor as exported: its shape and dtype always, its values when it is small enough
/// (`TensorAnswer.maxValues` elements), and summary statistics either way.
public struct TensorAnswer: Equatable, Sendable {
    /// Tensors with more elements than this are exported as shape + statistics only.
    public static let maxValues = 65_536

    public var shape: [Int]
    /// `float32`, `int64` or `bool`.
    public var dtype: String
    /// Row-major values (bools as 0/1), or nil for a large tensor.
    public var values: [Double]?
    public var sum: Double
    public var min: Double
    public var max: Double

    public init(shape: [Int], dtype: String, values: [Double]?, sum: Double, min: Double, max: Double) {
        self.shape = shape
        self.dtype = dtype
        self.values = values
        self.sum = sum
        self.min = min
        self.max = max
    }

    public init(_ tensor: Tensor, includeValues: Bool = true) {
        let scalars: [Double] = tensor.dtype == .int64 ? tensor.int64Scalars.map(Double.init) : tensor.scalars.map(Double.init)
        self.shape = tensor.shape
        self.dtype = tensor.dtype.rawValue
        self.values = includeValues && scalars.count <= Self.maxValues ? scalars : nil
        self.sum = scalars.reduce(0, +)
        self.min = scalars.min() ?? 0
        self.max = scalars.max() ?? 0
    }

    public var count: Int { shape.reduce(1, *) }

    /// The tensor rebuilt (Float32, or Int64 for `int64`); nil when the values were not exported.
    public func tensor() -> Tensor? {
        guard let values, values.count == count else { return nil }
        if dtype == "int64" { return Tensor(shape: shape, int64Scalars: values.map { Int64(clamping: Int($0.isFinite ? $0 : 0)) }) }
        return Tensor(shape: shape, scalars: values.map(Float.init))
    }
}

/// Something `export(_:_:)` accepts.
public protocol AnswerConvertible {
    var answer: Answer { get }
}

extension Answer: AnswerConvertible { public var answer: Answer { self } }
extension Bool: AnswerConvertible { public var answer: Answer { .bool(self) } }
extension Int: AnswerConvertible { public var answer: Answer { .int(self) } }
extension Int64: AnswerConvertible { public var answer: Answer { .int(Int(self)) } }
extension Int32: AnswerConvertible { public var answer: Answer { .int(Int(self)) } }
extension Double: AnswerConvertible { public var answer: Answer { .number(self) } }
extension Float: AnswerConvertible { public var answer: Answer { .number(Double(self)) } }
extension String: AnswerConvertible { public var answer: Answer { .string(self) } }
extension Tensor: AnswerConvertible { public var answer: Answer { .tensor(TensorAnswer(self)) } }
extension Array: AnswerConvertible where Element: AnswerConvertible {
    public var answer: Answer { .list(map(\.answer)) }
}
extension Dictionary: AnswerConvertible where Key == String, Value: AnswerConvertible {
    public var answer: Answer { .map(mapValues(\.answer)) }
}
extension Optional: AnswerConvertible where Wrapped: AnswerConvertible {
    public var answer: Answer { self?.answer ?? .null }
}
extension StateDict: AnswerConvertible {
    /// A map from parameter name to tensor (values of large tensors left out).
    public var answer: Answer {
        .map(Dictionary(uniqueKeysWithValues: map { ($0.key, Answer.tensor(TensorAnswer($0.value))) }))
    }
}

extension Answer {
    /// A model as the grader sees it: `names` (definition order), `requiresGrad` (name -> Bool),
    /// `shapes` (name -> shape) and, with `values`, `tensors` (name -> tensor; large ones as
    /// statistics only). Pass `model.namedParameters()`.
    public static func model(parameters: [(String, Tensor)], values: Bool = false) -> Answer {
        var requiresGrad: [String: Answer] = [:], shapes: [String: Answer] = [:], tensors: [String: Answer] = [:]
        for (name, tensor) in parameters {
            requiresGrad[name] = .bool(tensor.requiresGrad)
            shapes[name] = .list(tensor.shape.map { .int($0) })
            tensors[name] = .tensor(TensorAnswer(tensor, includeValues: values))
        }
        return .map(["kind": .string("model"), "names": .list(parameters.map { .string($0.0) }),
                     "requiresGrad": .map(requiresGrad), "shapes": .map(shapes), "tensors": .map(tensors)])
    }

    /// An optimizer's parameter groups as the grader sees them: a list of maps with `params`
    /// (the parameters' names, found by identity in `names`, e.g. `model.namedParameters()`;
    /// a tensor not found there is named `?shape`) and the group's numeric options (`lr`, ...).
    public static func parameterGroups(_ groups: [(params: [Tensor], options: [String: Double])],
                                       names: [(String, Tensor)]) -> Answer {
        var byIdentity: [ObjectIdentifier: String] = [:]
        for (name, tensor) in names where byIdentity[ObjectIdentifier(tensor)] == nil {
            byIdentity[ObjectIdentifier(tensor)] = name
        }
        return .list(groups.map { group in
            var fields: [String: Answer] = group.options.mapValues { .number($0) }
            fields["params"] = .list(group.params.map {
                .string(byIdentity[ObjectIdentifier($0)] ?? "?\($0.shape)")
            })
            return .map(fields)
        })
    }
}

// MARK: Encoding

extension Answer {
    /// The tagged JSON text of this value.
    public var json: String {
        var out = ""
        write(into: &out)
        return out
    }

    static func number(_ d: Double) -> String {
        if d.isNaN { return "\"nan\"" }
        if d.isInfinite { return d > 0 ? "\"inf\"" : "\"-inf\"" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    func write(into out: inout String) {
        switch self {
        case .null: out += "{\"null\":true}"
        case .bool(let b): out += "{\"bool\":\(b)}"
        case .int(let i): out += "{\"int\":\(i)}"
        case .number(let d): out += "{\"num\":\(Self.number(d))}"
        case .string(let s): out += "{\"str\":\(Self.quoted(s))}"
        case .list(let items):
            out += "{\"list\":["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]}"
        case .map(let fields):
            out += "{\"map\":{"
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                out += Self.quoted(key) + ":"
                fields[key]!.write(into: &out)
            }
            out += "}}"
        case .tensor(let t):
            out += "{\"tensor\":{\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
            out += "\"dtype\":\(Self.quoted(t.dtype)),\"values\":"
            if let values = t.values {
                out += "[" + values.map(Self.number).joined(separator: ",") + "]"
            } else {
                out += "null"
            }
            out += ",\"sum\":\(Self.number(t.sum)),\"min\":\(Self.number(t.min)),\"max\":\(Self.number(t.max))}}"
        }
    }
}

// MARK: Exporting

/// Where `export` writes: the file named by `WORKBOOK_ANSWERS_FILE` (set by `workbook test` and
/// `workbook grade`), one JSON line per export, appended, so the answers exported before a crash
/// are still graded. A later export of the same name replaces an earlier one.
public enum AnswerExport {
    /// One exported answer may take at most this many bytes of JSON; a larger one is replaced by
    /// an error marker (the grader reads at most 1 MiB of answers in all).
    public static let maxAnswerBytes = 512 * 1024

    private static let lock = NSLock()
    nonisolated(unsafe) private static var fd: Int32? = {
        guard let path = ProcessInfo.processInfo.environment["WORKBOOK_ANSWERS_FILE"], !path.isEmpty else { return nil }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        return fd >= 0 ? fd : nil
    }()

    /// Whether answers go to a grader's file (otherwise `export` prints a one-line summary).
    public static var isCaptured: Bool { fd != nil }

    static func write(name: String, answer: Answer) {
        var body = answer.json
        if body.utf8.count > maxAnswerBytes {
            fputs("export(\"\(name)\"): the answer is \(body.utf8.count) bytes of JSON, more than the \(maxAnswerBytes) allowed; export something smaller (a large tensor's values are left out automatically)\n", stderr)
            body = "{\"error\":\(Answer.quoted("too large: \(body.utf8.count) bytes"))}"
        }
        let line = "{\"name\":\(Answer.quoted(name)),\"value\":\(body)}\n"
        lock.lock(); defer { lock.unlock() }
        guard let fd else {
            let summary = body.count > 200 ? String(body.prefix(200)) + "…" : body
            print("export \(name) = \(summary)")
            return
        }
        Array(line.utf8).withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }
}

/// Hands a value to the grader under `name` (a number, string, bool, tensor, array, `[String: Bool]`
/// map, `StateDict`, or an `Answer` such as `.model(parameters:)`). Exporting is the only way an
/// exercise's checks see your work; printing does not count.
public func export(_ name: String, _ value: some AnswerConvertible) {
    AnswerExport.write(name: name, answer: value.answer)
}

/// Exports a model's parameters: names, shapes and `requiresGrad` (and values with `values: true`).
public func export(_ name: String, parameters: [(String, Tensor)], values: Bool = false) {
    AnswerExport.write(name: name, answer: .model(parameters: parameters, values: values))
}
