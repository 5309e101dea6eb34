import Foundation
import Torch

/// A Python object decoded from a PyTorch checkpoint's pickle: what `torch.load` would return,
/// restricted to plain data and tensors. Training checkpoints keep their epoch, metrics and
/// optimizer state here: `object["epoch"]?.intValue`.
public indirect enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// A dict or OrderedDict, in insertion order.
    case dict([(key: PickleValue, value: PickleValue)])
    case tensor(Tensor)
    /// An allowed Python global used as a value, e.g. `torch.float32`.
    case global(String)

    /// The value for a string key of a dict; nil for other values or a missing key.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let pairs) = self else { return nil }
        for pair in pairs {
            if case .string(let k) = pair.key, k == key { return pair.value }
        }
        return nil
    }

    public var intValue: Int? {
        switch self {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var tensorValue: Tensor? {
        if case .tensor(let t) = self { return t }
        return nil
    }

    /// Elements of a list or tuple.
    public var arrayValue: [PickleValue]? {
        switch self {
        case .list(let items), .tuple(let items): return items
        default: return nil
        }
    }

    /// Key-value pairs of a dict.
    public var dictValue: [(key: PickleValue, value: PickleValue)]? {
        if case .dict(let pairs) = self { return pairs }
        return nil
    }

    /// Python-like rendering; tensors show as `tensor(shape [3, 4], torch.float32)`.
    public var description: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .string(let s): return "'\(s)'"
        case .bytes(let b): return "b<\(b.count) bytes>"
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .tuple(let items):
            return "(" + items.map(\.description).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
        case .dict(let pairs):
            return "{" + pairs.map { "\($0.key.description): \($0.value.description)" }.joined(separator: ", ") + "}"
        case .tensor(let t): return "tensor(shape \(describe(shape: t.shape)), \(t.dtype))"
        case .global(let name): return name
        }
    }
}
