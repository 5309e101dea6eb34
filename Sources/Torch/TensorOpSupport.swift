/// Shared plumbing for the tensor operations: testable validation results and dtype-agnostic
/// element movement (Float32/Bool storage is 4 bytes per element, Int64 is 8).

/// What a validation found wrong: the op and a message naming shapes and dims. Validation is
/// separated from trapping so tests can check the wording without crashing the process.
struct OpFailure: Error, Equatable {
    let op: String
    let message: String

    func fail(file: StaticString, line: UInt) -> Never {
        engineFailure(op, message, file: file, line: line)
    }
}

extension Result where Failure == OpFailure {
    /// The value, or a trap with the failure's message attributed to the caller.
    @inline(__always)
    func orFail(file: StaticString, line: UInt) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let failure): failure.fail(file: file, line: line)
        }
    }

    /// The failure message, for tests.
    var failureMessage: String? {
        if case .failure(let f) = self { return "\(f.op): \(f.message)" }
        return nil
    }
}

/// Resolves a possibly negative `dim` against `rank` or explains why it is out of range.
func resolveDim(_ dim: Int, rank: Int, op: String, shape: [Int]) -> Result<Int, OpFailure> {
    // A scalar accepts dims 0 and -1, as in PyTorch.
    let effectiveRank = max(rank, 1)
    let d = dim < 0 ? dim + effectiveRank : dim
    guard d >= 0, d < effectiveRank else {
        return .failure(OpFailure(op: op, message: "dimension \(dim) out of range for shape \(describe(shape: shape)) "
                                  + "(expected to be in range [\(-effectiveRank), \(effectiveRank - 1)])"))
    }
    return .success(d)
}

extension Tensor {
    /// Size in bytes of one stored element.
    var storedElementSize: Int { dtype == .int64 ? 8 : 4 }

    /// Read access to the raw elements whatever the dtype.
    func withRawElements<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        if dtype == .int64 {
            return int64Storage.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!) }
        }
        return storage.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!) }
    }

    /// A tensor of `dtype` whose raw elements `body` fills completely.
    static func makeRaw(shape: [Int], dtype: DType, _ body: (UnsafeMutableRawPointer) -> Void) -> Tensor {
        let n = Shape.count(shape)
        if n == 0 { return Tensor(shape: shape, dtype: dtype, storage: [], int64Storage: []) }
        switch dtype {
        case .int64: return makeInt64(shape: shape) { body(UnsafeMutableRawPointer($0.baseAddress!)) }
        case .float32: return make(shape: shape) { body(UnsafeMutableRawPointer($0.baseAddress!)) }
        case .bool: return makeBool(shape: shape) { body(UnsafeMutableRawPointer($0.baseAddress!)) }
        }
    }

    /// Same values, new shape (storage is shared copy-on-write, so this costs nothing).
    func withShape(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, dtype: dtype, storage: storage, int64Storage: int64Storage)
    }

    /// A Float32 tensor of zeros (internal, no validation).
    static func zerosFloat(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, dtype: .float32, storage: [Float](repeating: 0, count: Shape.count(shape)), int64Storage: [])
    }
}

/// Splits a shape around `dim` into (elements before, size of dim, elements after).
@inline(__always)
func outerSizeInner(_ shape: [Int], _ dim: Int) -> (outer: Int, size: Int, inner: Int) {
    var outer = 1, inner = 1
    for i in 0..<dim { outer *= shape[i] }
    for i in (dim + 1)..<shape.count { inner *= shape[i] }
    return (outer, shape.isEmpty ? 1 : shape[dim], inner)
}

/// For each of `outer` rows copies `bytes` bytes from `src + o * srcRow + srcOffset` to
/// `dst + o * dstRow + dstOffset` (all in bytes): the block copy behind narrow, cat, select, pad.
func copyRows(src: UnsafeRawPointer, srcRow: Int, srcOffset: Int,
              dst: UnsafeMutableRawPointer, dstRow: Int, dstOffset: Int, outer: Int, bytes: Int) {
    if bytes == 0 || outer == 0 { return }
    Threads.parallelFor(outer, costPerItem: max(1, bytes / 4)) { range in
        for o in range {
            (dst + (o * dstRow + dstOffset)).copyMemory(from: src + (o * srcRow + srcOffset), byteCount: bytes)
        }
    }
}
