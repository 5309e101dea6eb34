/// Element types a tensor can hold. Floating-point work is Float32; labels and indices are Int64;
/// comparisons produce Bool (stored as 0/1).
public enum DType: String, Sendable, CustomStringConvertible {
    case float32
    case int64
    case bool

    /// Size of one element in bytes, as stored in checkpoints.
    public var itemSize: Int {
        switch self {
        case .float32: return 4
        case .int64: return 8
        case .bool: return 1
        }
    }

    public var description: String { "torch.\(rawValue)" }
}
