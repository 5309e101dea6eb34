/// Element-wise comparisons returning Bool tensors, logical ops, and whole-tensor tests
/// (`all`, `any`, `equal`, `allClose`). Two Int64 tensors compare exactly as integers; any other
/// mix compares as Float32. Comparisons are not differentiable.

enum ComparisonKind {
    case eq, ne, lt, le, gt, ge

    var name: String {
        switch self {
        case .eq: return "eq"
        case .ne: return "ne"
        case .lt: return "lt"
        case .le: return "le"
        case .gt: return "gt"
        case .ge: return "ge"
        }
    }
}

/// Writes 1/0 into `out` for `kind(x[i * sx], y[i * sy])` (a stride of 0 repeats a scalar).
private func compareLoop<T: Comparable>(_ x: UnsafePointer<T>, sx: Int, _ y: UnsafePointer<T>, sy: Int,
                                        _ out: UnsafeMutablePointer<Float>, _ n: Int, _ kind: ComparisonKind) {
    @inline(__always) func run(_ p: (T, T) -> Bool) {
        Threads.parallelFor(n) { r in for i in r { out[i] = p(x[i * sx], y[i * sy]) ? 1 : 0 } }
    }
    switch kind {
    case .eq: run(==)
    case .ne: run(!=)
    case .lt: run(<)
    case .le: run(<=)
    case .gt: run(>)
    case .ge: run(>=)
    }
}

extension Tensor {
    static func compare(_ a: Tensor, _ b: Tensor, _ kind: ComparisonKind, file: StaticString, line: UInt) -> Tensor {
        guard let outShape = Shape.broadcast(a.shape, b.shape) else {
            engineFailure(kind.name, "shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape)) cannot be broadcast together",
                          file: file, line: line)
        }
        let bothInt = a.dtype == .int64 && b.dtype == .int64
        let x = bothInt ? a : a.float(), y = bothInt ? b : b.float()
        // Operands that are not already the output shape are broadcast by copying (or read as scalars).
        let xs = x.count == 1 ? 0 : 1, ys = y.count == 1 ? 0 : 1
        let xe = (xs == 0 || x.shape == outShape) ? x : x.expandData(to: outShape)
        let ye = (ys == 0 || y.shape == outShape) ? y : y.expandData(to: outShape)
        let n = Shape.count(outShape)
        return Tensor.makeBool(shape: outShape) { out in
            guard let o = out.baseAddress else { return }
            if bothInt {
                xe.int64Storage.withUnsafeBufferPointer { p in
                    ye.int64Storage.withUnsafeBufferPointer { q in compareLoop(p.baseAddress!, sx: xs, q.baseAddress!, sy: ys, o, n, kind) }
                }
            } else {
                xe.storage.withUnsafeBufferPointer { p in
                    ye.storage.withUnsafeBufferPointer { q in compareLoop(p.baseAddress!, sx: xs, q.baseAddress!, sy: ys, o, n, kind) }
                }
            }
        }
    }

    static func compare(_ a: Tensor, _ value: Float, _ kind: ComparisonKind) -> Tensor {
        if a.dtype == .int64 {
            // Compare in Double so large integers are not rounded to Float first.
            let v = Double(value)
            return Tensor.makeBool(shape: a.shape) { out in
                a.int64Storage.withUnsafeBufferPointer { p in
                    for i in 0..<out.count {
                        let x = Double(p[i])
                        let r: Bool
                        switch kind {
                        case .eq: r = x == v
                        case .ne: r = x != v
                        case .lt: r = x < v
                        case .le: r = x <= v
                        case .gt: r = x > v
                        case .ge: r = x >= v
                        }
                        out[i] = r ? 1 : 0
                    }
                }
            }
        }
        return compare(a, Tensor(value), kind, file: #fileID, line: #line)
    }

    /// `self == other` element-wise (broadcasting), as a Bool tensor: PyTorch's `torch.eq`,
    /// `a.eq(b)` and `a == b`. Also spelled `a .== b` and `a == b` (see `==` below), e.g. the
    /// accuracy idiom `(predicted == labels).sum()`.
    public func eq(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor { Tensor.compare(self, other, .eq, file: file, line: line) }
    /// `self != other` element-wise.
    public func ne(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor { Tensor.compare(self, other, .ne, file: file, line: line) }
    /// `self < other` element-wise.
    public func lt(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor { Tensor.compare(self, other, .lt, file: file, line: line) }
    /// `self <= other` element-wise.
    public func le(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor { Tensor.compare(self, other, .le, file: file, line: line) }
    /// `self > other` element-wise.
    public func gt(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor { Tensor.compare(self, other, .gt, file: file, line: line) }
    /// `self >= other` element-wise.
    public func ge(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor { Tensor.compare(self, other, .ge, file: file, line: line) }

    public func eq(_ value: Float) -> Tensor { Tensor.compare(self, value, .eq) }
    public func ne(_ value: Float) -> Tensor { Tensor.compare(self, value, .ne) }
    public func lt(_ value: Float) -> Tensor { Tensor.compare(self, value, .lt) }
    public func le(_ value: Float) -> Tensor { Tensor.compare(self, value, .le) }
    public func gt(_ value: Float) -> Tensor { Tensor.compare(self, value, .gt) }
    public func ge(_ value: Float) -> Tensor { Tensor.compare(self, value, .ge) }

    /// Element-wise equality (`a.eq(b)`), Swift's SIMD spelling; see also `==`.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { a.eq(b) }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { a.ne(b) }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { a.lt(b) }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { a.le(b) }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { a.gt(b) }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { a.ge(b) }

    public static func .== (a: Tensor, b: Float) -> Tensor { a.eq(b) }
    public static func .!= (a: Tensor, b: Float) -> Tensor { a.ne(b) }
    public static func .< (a: Tensor, b: Float) -> Tensor { a.lt(b) }
    public static func .<= (a: Tensor, b: Float) -> Tensor { a.le(b) }
    public static func .> (a: Tensor, b: Float) -> Tensor { a.gt(b) }
    public static func .>= (a: Tensor, b: Float) -> Tensor { a.ge(b) }

    public static func .== (a: Float, b: Tensor) -> Tensor { b.eq(a) }
    public static func .!= (a: Float, b: Tensor) -> Tensor { b.ne(a) }
    public static func .< (a: Float, b: Tensor) -> Tensor { b.gt(a) }
    public static func .<= (a: Float, b: Tensor) -> Tensor { b.ge(a) }
    public static func .> (a: Float, b: Tensor) -> Tensor { b.lt(a) }
    public static func .>= (a: Float, b: Tensor) -> Tensor { b.le(a) }

    // PyTorch's `predicted == labels` is element-wise. Tensor is not Equatable (a whole-tensor
    // test is `equal(_:)`), so `==` is free to mean the same here; the ordering operators stay
    // `.<`, `.>` ... so that `<` keeps its Bool meaning everywhere else.

    /// Element-wise equality as a Bool tensor, as PyTorch's `a == b` (`torch.eq`):
    /// `(predicted == labels).sum()` counts the matches. For one Bool, use `a.equal(b)`.
    public static func == (a: Tensor, b: Tensor) -> Tensor { a.eq(b) }
    /// Element-wise inequality as a Bool tensor, as PyTorch's `a != b` (`torch.ne`).
    public static func != (a: Tensor, b: Tensor) -> Tensor { a.ne(b) }
    /// Element-wise comparison with a number, as PyTorch's `t == 3`.
    public static func == (a: Tensor, b: Float) -> Tensor { a.eq(b) }
    /// Element-wise comparison with a number, as PyTorch's `t != 3`.
    public static func != (a: Tensor, b: Float) -> Tensor { a.ne(b) }

    // MARK: Logical ops on Bool tensors (non-zero counts as true for other dtypes)

    private var truthValues: Tensor { dtype == .bool ? self : ne(0) }

    /// Element-wise NOT.
    public func logicalNot() -> Tensor {
        let t = truthValues
        return Tensor.makeBool(shape: shape) { o in t.storage.withUnsafeBufferPointer { p in for i in 0..<o.count { o[i] = 1 - p[i] } } }
    }

    /// Element-wise AND (broadcasting).
    public func logicalAnd(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        logical(other, "logicalAnd", file: file, line: line) { ($0 != 0 && $1 != 0) ? 1 : 0 }
    }

    /// Element-wise OR (broadcasting).
    public func logicalOr(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        logical(other, "logicalOr", file: file, line: line) { ($0 != 0 || $1 != 0) ? 1 : 0 }
    }

    /// Element-wise XOR (broadcasting).
    public func logicalXor(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        logical(other, "logicalXor", file: file, line: line) { (($0 != 0) != ($1 != 0)) ? 1 : 0 }
    }

    private func logical(_ other: Tensor, _ name: String, file: StaticString, line: UInt,
                         _ op: @escaping (Float, Float) -> Float) -> Tensor {
        guard let outShape = Shape.broadcast(shape, other.shape) else {
            engineFailure(name, "shapes \(describe(shape: shape)) and \(describe(shape: other.shape)) cannot be broadcast together",
                          file: file, line: line)
        }
        let out = Tensor.binaryKernel(truthValues, other.truthValues, outShape: outShape, op)
        return Tensor(shape: outShape, dtype: .bool, storage: out.storage, int64Storage: [])
    }

    public static func .& (a: Tensor, b: Tensor) -> Tensor { a.logicalAnd(b) }
    public static func .| (a: Tensor, b: Tensor) -> Tensor { a.logicalOr(b) }
    public static func .^ (a: Tensor, b: Tensor) -> Tensor { a.logicalXor(b) }
    public static prefix func .! (a: Tensor) -> Tensor { a.logicalNot() }

    /// Bool tensor marking NaN elements.
    public func isNaN() -> Tensor {
        let x = dtype == .int64 ? float() : self
        return Tensor.makeBool(shape: shape) { o in x.storage.withUnsafeBufferPointer { p in for i in 0..<o.count { o[i] = p[i].isNaN ? 1 : 0 } } }
    }

    /// Bool tensor marking finite elements (not NaN or infinite).
    public func isFinite() -> Tensor {
        let x = dtype == .int64 ? float() : self
        return Tensor.makeBool(shape: shape) { o in x.storage.withUnsafeBufferPointer { p in for i in 0..<o.count { o[i] = p[i].isFinite ? 1 : 0 } } }
    }

    // MARK: Whole-tensor tests (Swift Bool results, for `if` and assertions)

    /// Whether every element is true (non-zero); true for an empty tensor. Unlike PyTorch this
    /// returns a Swift `Bool`, since Swift has no implicit tensor-to-bool conversion.
    public func all() -> Bool {
        dtype == .int64 ? int64Storage.allSatisfy { $0 != 0 } : storage.allSatisfy { $0 != 0 }
    }

    /// Whether any element is true (non-zero); false for an empty tensor.
    public func any() -> Bool {
        dtype == .int64 ? int64Storage.contains { $0 != 0 } : storage.contains { $0 != 0 }
    }

    /// Same shape and same values (`torch.equal`). Dtypes may differ: values compare as numbers.
    public func equal(_ other: Tensor) -> Bool {
        guard shape == other.shape else { return false }
        if dtype == .int64 && other.dtype == .int64 { return int64Storage == other.int64Storage }
        return scalars == other.scalars
    }

    /// Whether `|self - other| <= atol + rtol * |other|` everywhere (broadcasting), `torch.allclose`.
    /// NaNs compare unequal unless `equalNaN`.
    public func allClose(_ other: Tensor, rtol: Float = 1e-5, atol: Float = 1e-8, equalNaN: Bool = false,
                         file: StaticString = #fileID, line: UInt = #line) -> Bool {
        guard let outShape = Shape.broadcast(shape, other.shape) else {
            engineFailure("allClose", "shapes \(describe(shape: shape)) and \(describe(shape: other.shape)) cannot be broadcast together",
                          file: file, line: line)
        }
        let close = Tensor.binaryKernel(float(), other.float(), outShape: outShape) { a, b in
            if a.isNaN || b.isNaN { return (equalNaN && a.isNaN && b.isNaN) ? 1 : 0 }
            if a == b { return 1 }  // equal infinities
            return Swift.abs(a - b) <= atol + rtol * Swift.abs(b) ? 1 : 0
        }
        return close.storage.allSatisfy { $0 != 0 }
    }
}
