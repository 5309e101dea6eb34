import Foundation

/// A hyper-parameter value of a parameter group, as PyTorch stores them (`lr`: float,
/// `nesterov`: bool, `betas`: pair, `params`: list of indices).
public enum OptimizerValue: Equatable, Codable, CustomStringConvertible {
    case double(Double)
    case bool(Bool)
    case int(Int)
    case pair(Double, Double)
    case doubles([Double])
    case ints([Int])
    case none

    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .double(let d): return "\(d)"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return "\(i)"
        case .pair(let a, let b): return "(\(a), \(b))"
        case .doubles(let ds): return "\(ds)"
        case .ints(let xs): return "\(xs)"
        case .none: return "None"
        }
    }
}
