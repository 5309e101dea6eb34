import Foundation
import ProgramRecords
import Torch

/// A check did not pass; `message` is shown to the student for a visible check. A hidden check
/// shows only `summary`: the author's own words, without the expected or actual values that
/// `expectEqual` and friends add (those would give the answer away).
public struct CheckFailure: Error, CustomStringConvertible {
    public var message: String
    public var summary: String
    public init(_ message: String, summary: String? = nil) {
        self.message = message
        self.summary = summary ?? message
    }
    public var description: String { message }
}

/// Fails the check with `message` unless `condition` holds.
public func expect(_ condition: @autoclosure () throws -> Bool, _ message: @autoclosure () -> String) throws {
    if !(try condition()) { throw CheckFailure(message()) }
}

/// Fails the check unless `actual == expected`.
public func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    if actual != expected { throw CheckFailure("\(what): expected \(expected), got \(actual)", summary: what) }
}

/// Fails the check unless `actual` is within `tolerance` of `expected`.
public func expectClose(_ actual: Double, _ expected: Double, tolerance: Double = 1e-4, _ what: String) throws {
    if !(abs(actual - expected) <= tolerance) {
        throw CheckFailure("\(what): expected \(expected) ± \(tolerance), got \(actual)", summary: what)
    }
}

/// Fails the check unless `actual` lies in `range`.
public func expectInRange(_ actual: Double, _ range: ClosedRange<Double>, _ what: String) throws {
    if !range.contains(actual) { throw CheckFailure("\(what): expected a value in \(range.lowerBound)...\(range.upperBound), got \(actual)", summary: what) }
}

/// Fails the check with `message`.
public func fail(_ message: String) throws -> Never { throw CheckFailure(message) }

/// A model exported with `export(_:parameters:)` or `Answer.model(parameters:)`.
public struct ModelAnswer: Sendable {
    /// Parameter names in definition order.
    public var names: [String]
    public var requiresGrad: [String: Bool]
    public var shapes: [String: [Int]]
    public var tensors: [String: TensorAnswer]
}

/// One optimizer parameter group exported with `Answer.parameterGroups`.
public struct ParameterGroupAnswer: Sendable {
    /// Parameter names (`?[shape]` for tensors the model did not name).
    public var params: [String]
    /// Numeric options (`lr`, `momentum`, `weightDecay`, ...).
    public var options: [String: Double]
}

/// The answers a program exported, read by a checker program: `answers` (the student's run) and
/// `reference` (the grader's own run of the exercise's solution). The file is untrusted input:
/// its size is capped, every line is parsed on its own (a broken line is skipped), nesting depth
/// and element counts are bounded, and nothing in it is ever executed.
public struct Answers: Sendable {
    public static let maxFileBytes = 1 << 20
    static let maxDepth = 32

    /// Whose exports these are; it only changes the messages of missing values.
    public enum Side: Sendable {
        /// The student's program.
        case student
        /// The grader's run of the reference solution.
        case reference
        /// No reference run exists (`workbook test` on a student's machine).
        case unavailable
    }
    public var side: Side = .student

    public private(set) var values: [String: Answer] = [:]
    /// Names exported with a problem (`too large`), with the problem.
    public private(set) var problems: [String: String] = [:]
    /// The file was cut at `maxFileBytes`.
    public private(set) var truncated = false

    public init(values: [String: Answer] = [:]) { self.values = values }

    /// Reads an answers file; a missing file is an empty set of answers.
    public static func load(path: String) -> Answers {
        var result = Answers()
        guard let handle = FileHandle(forReadingAtPath: path) else { return result }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        var usable = data
        if data.count > maxFileBytes {
            result.truncated = true
            usable = data.prefix(maxFileBytes)
        }
        for line in usable.split(separator: UInt8(ascii: "\n")) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let name = object["name"] as? String, name.utf8.count <= 200,
                  let value = object["value"] as? [String: Any] else { continue }
            if let error = value["error"] as? String {
                result.problems[name] = String(error.prefix(200))
                result.values[name] = nil
            } else if let answer = decode(value, depth: 0) {
                result.values[name] = answer
                result.problems[name] = nil
            }
        }
        return result
    }

    /// Converts one tagged JSON object; nil when it is malformed.
    static func decode(_ any: Any, depth: Int) -> Answer? {
        guard depth < maxDepth, let object = any as? [String: Any], object.count == 1,
              let (tag, payload) = object.first else { return nil }
        switch tag {
        case "null": return .null
        case "bool": return (payload as? Bool).map(Answer.bool)
        case "int":
            guard let n = payload as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d.isFinite, abs(d) < 9.2e18 else { return nil }
            return .int(n.intValue)
        case "num": return number(payload).map(Answer.number)
        case "str": return (payload as? String).map { .string(String($0.prefix(100_000))) }
        case "list":
            guard let items = payload as? [Any] else { return nil }
            var out: [Answer] = []
            out.reserveCapacity(items.count)
            for item in items {
                guard let a = decode(item, depth: depth + 1) else { return nil }
                out.append(a)
            }
            return .list(out)
        case "map":
            guard let fields = payload as? [String: Any] else { return nil }
            var out: [String: Answer] = [:]
            for (k, v) in fields {
                guard let a = decode(v, depth: depth + 1) else { return nil }
                out[k] = a
            }
            return .map(out)
        case "tensor":
            guard let t = payload as? [String: Any], let shapeAny = t["shape"] as? [Any], shapeAny.count <= 16,
                  let dtype = t["dtype"] as? String, ["float32", "int64", "bool"].contains(dtype) else { return nil }
            var shape: [Int] = []
            var count = 1
            for s in shapeAny {
                guard let n = s as? NSNumber, n.doubleValue >= 0, n.doubleValue < 1e12 else { return nil }
                shape.append(n.intValue)
                count = count.multipliedReportingOverflow(by: n.intValue).overflow ? Int.max : count * n.intValue
            }
            var values: [Double]?
            if let raw = t["values"] as? [Any] {
                guard raw.count == count else { return nil }
                var v: [Double] = []
                v.reserveCapacity(raw.count)
                for x in raw {
                    guard let d = number(x) else { return nil }
                    v.append(d)
                }
                values = v
            }
            return .tensor(TensorAnswer(shape: shape, dtype: dtype, values: values,
                                        sum: number(t["sum"] as Any) ?? .nan, min: number(t["min"] as Any) ?? .nan,
                                        max: number(t["max"] as Any) ?? .nan))
        default:
            return nil
        }
    }

    static func number(_ any: Any) -> Double? {
        if let s = any as? String {
            switch s { case "nan": return .nan; case "inf": return .infinity; case "-inf": return -.infinity; default: return nil }
        }
        // (On Linux a JSON number 0 or 1 also casts to Bool, so do not reject Bools here.)
        return (any as? NSNumber)?.doubleValue
    }

    // MARK: Typed access for checks (each throws a message the student understands)

    /// The exported value, or a failure saying it was not exported.
    public func value(_ name: String) throws -> Answer {
        switch side {
        case .unavailable:
            throw CheckFailure("this check reads reference.\(name), and only `workbook grade` runs the reference solution "
                               + "(a visible check may use `answers` only)", summary: "the check needs the reference run")
        case .reference:
            if let v = values[name] { return v }
            // The author's mistake, never the student's; it must not say what the reference holds.
            throw CheckFailure("the reference solution did not export '\(name)' (an error in the exercise)",
                               summary: "the check could not read the reference (an error in the exercise; the instructor was told)")
        case .student:
            if let v = values[name] { return v }
            if let problem = problems[name] { throw CheckFailure("the answer '\(name)' could not be read (\(problem))") }
            throw CheckFailure("your program did not export '\(name)' (call export(\"\(name)\", ...); did an earlier cell fail?)")
        }
    }

    public subscript(name: String) -> Answer? { values[name] }

    public func number(_ name: String) throws -> Double {
        switch try value(name) {
        case .number(let d): return d
        case .int(let i): return Double(i)
        case .tensor(let t) where t.count == 1 && t.values != nil: return t.values![0]
        case let other: throw CheckFailure("'\(name)' should be a number, got \(other.kindName)")
        }
    }

    public func int(_ name: String) throws -> Int {
        switch try value(name) {
        case .int(let i): return i
        case .number(let d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
        case let other: throw CheckFailure("'\(name)' should be an integer, got \(other.kindName)")
        }
    }

    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = try value(name) else { throw CheckFailure("'\(name)' should be true or false, got \(try value(name).kindName)") }
        return b
    }

    public func string(_ name: String) throws -> String {
        guard case .string(let s) = try value(name) else { throw CheckFailure("'\(name)' should be a string, got \(try value(name).kindName)") }
        return s
    }

    public func tensorAnswer(_ name: String) throws -> TensorAnswer {
        guard case .tensor(let t) = try value(name) else { throw CheckFailure("'\(name)' should be a tensor, got \(try value(name).kindName)") }
        return t
    }

    /// The exported tensor rebuilt, for checks that compute with it.
    public func tensor(_ name: String) throws -> Tensor {
        let t = try tensorAnswer(name)
        guard let tensor = t.tensor() else {
            throw CheckFailure("'\(name)' has \(t.count) elements, too many to check its values (at most \(TensorAnswer.maxValues))")
        }
        return tensor
    }

    /// A `[String: Bool]` map (such as a `requiresGrad` map).
    public func flags(_ name: String) throws -> [String: Bool] {
        guard case .map(let m) = try value(name) else { throw CheckFailure("'\(name)' should be a [String: Bool] map, got \(try value(name).kindName)") }
        var out: [String: Bool] = [:]
        for (k, v) in m {
            guard case .bool(let b) = v else { throw CheckFailure("'\(name)[\"\(k)\"]' should be true or false, got \(v.kindName)") }
            out[k] = b
        }
        return out
    }

    public func list(_ name: String) throws -> [Answer] {
        guard case .list(let l) = try value(name) else { throw CheckFailure("'\(name)' should be an array, got \(try value(name).kindName)") }
        return l
    }

    public func model(_ name: String) throws -> ModelAnswer {
        let bad = CheckFailure("'\(name)' should be a model exported with export(\"\(name)\", parameters: model.namedParameters())")
        guard case .map(let m) = try value(name), m["kind"] == .string("model"),
              case .list(let names)? = m["names"], case .map(let rg)? = m["requiresGrad"],
              case .map(let shapes)? = m["shapes"], case .map(let tensors)? = m["tensors"] else { throw bad }
        var result = ModelAnswer(names: [], requiresGrad: [:], shapes: [:], tensors: [:])
        for n in names { guard case .string(let s) = n else { throw bad }; result.names.append(s) }
        for (k, v) in rg { guard case .bool(let b) = v else { throw bad }; result.requiresGrad[k] = b }
        for (k, v) in shapes {
            guard case .list(let dims) = v else { throw bad }
            result.shapes[k] = try dims.map { guard case .int(let i) = $0 else { throw bad }; return i }
        }
        for (k, v) in tensors { guard case .tensor(let t) = v else { throw bad }; result.tensors[k] = t }
        return result
    }

    public func parameterGroups(_ name: String) throws -> [ParameterGroupAnswer] {
        let bad = CheckFailure("'\(name)' should be an optimizer's parameter groups exported with Answer.parameterGroups(...)")
        return try list(name).map { group in
            guard case .map(let m) = group, case .list(let params)? = m["params"] else { throw bad }
            var g = ParameterGroupAnswer(params: [], options: [:])
            for p in params { guard case .string(let s) = p else { throw bad }; g.params.append(s) }
            for (k, v) in m where k != "params" {
                switch v {
                case .number(let d): g.options[k] = d
                case .int(let i): g.options[k] = Double(i)
                default: throw bad
                }
            }
            return g
        }
    }
}

extension Answer {
    /// What kind of value this is, for messages.
    public var kindName: String {
        switch self {
        case .null: return "nil"
        case .bool(let b): return "the bool \(b)"
        case .int(let i): return "the integer \(i)"
        case .number(let d): return "the number \(d)"
        case .string(let s): return "a string (\(s.count) characters)"
        case .list(let l): return "an array of \(l.count)"
        case .map(let m): return m["kind"] == .string("model") ? "a model" : "a map of \(m.count) entries"
        case .tensor(let t): return "a tensor of shape \(t.shape)"
        }
    }
}

/// Runs the checks of a checker program (generated by the grader; the `_`-prefixed API is not for
/// exercise authors). Usage: `checker ANSWERS_FILE [FIRST_CHECK_INDEX [REFERENCE_FILE]]`; without
/// a reference file (`workbook test`) every `reference` accessor fails with a message saying so.
/// Verdicts go to the file descriptor named by `WORKBOOK_VERDICT_FD` (else stdout), one JSON line per event:
/// `{"start":i}` before check `i`, then `{"check":i,"passed":true|false,"message":"…","summary":"…"}`
/// (`summary`: the author's words only, what a hidden check may show).
public enum CheckSession {
    public struct _Check {
        public var id: String
        /// `(answers, reference)`: the student's exports and the reference run's.
        public var body: (Answers, Answers) throws -> Void
        public init(id: String, body: @escaping (Answers, Answers) throws -> Void) { self.id = id; self.body = body }
    }

    public static func _main(_ checks: [_Check]) -> Never {
        setvbuf(stdout, nil, _IOLBF, 0)
        let args = CommandLine.arguments
        guard args.count >= 2 else {
            fputs("usage: \(args[0]) ANSWERS_FILE [FIRST_CHECK [REFERENCE_FILE]]\n", stderr)
            exit(2)
        }
        let first = args.count >= 3 ? Int(args[2]) ?? 0 : 0
        let fd: Int32 = ProcessInfo.processInfo.environment[RecordChannel.verdictVariable].flatMap(Int32.init) ?? 1
        func emit(_ verdict: Verdict) {
            guard let data = try? RecordChannel.encodeLine(verdict) else { return }
            fflush(stdout)
            RecordChannel.write(data, to: fd)
        }
        let answers = Answers.load(path: args[1])
        var reference = Answers()
        reference.side = .unavailable
        if args.count >= 4 {
            reference = Answers.load(path: args[3])
            reference.side = .reference
        }
        for (i, check) in checks.enumerated() where i >= first {
            emit(.start(check: i))
            do {
                try check.body(answers, reference)
                emit(.result(check: i, passed: true, message: "", summary: ""))
            } catch let failure as CheckFailure {
                emit(.result(check: i, passed: false, message: String(failure.message.prefix(2000)),
                             summary: String(failure.summary.prefix(500))))
            } catch {
                // Any other error's text may carry values; a hidden check shows none of it.
                emit(.result(check: i, passed: false, message: String("\(error)".prefix(2000)), summary: ""))
            }
        }
        emit(.done)
        exit(0)
    }
}
