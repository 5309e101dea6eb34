/// Reductions with autograd: sum, mean, var, std, max/min (all and along a dim), argmax/argmin.
///
/// Float sums accumulate in Double (8 lanes wide), and every output
/// element is computed by one thread in a fixed order, so results do not depend on thread count.
/// Sums of Int64 and Bool tensors are exact and return Int64 tensors (as in PyTorch), so
/// `(predictions .== labels).sum().intItem()` counts matches.

enum ReductionValidation {
    /// `dims` resolved, sorted and de-duplicated; empty means all dims.
    static func dims(_ dims: [Int], shape: [Int], op: String) -> Result<[Int], OpFailure> {
        if dims.isEmpty { return .success(Array(0..<shape.count)) }
        var resolved: [Int] = []
        for d in dims {
            switch resolveDim(d, rank: shape.count, op: op, shape: shape) {
            case .success(let r): resolved.append(r)
            case .failure(let f): return .failure(f)
            }
        }
        guard Set(resolved).count == resolved.count else {
            return .failure(OpFailure(op: op, message: "dim \(dims) appears multiple times in the list of dims for shape \(describe(shape: shape))"))
        }
        return .success(shape.isEmpty ? [] : resolved.sorted())
    }
}

/// Shape bookkeeping for reducing `dims` of `shape`.
struct ReductionPlan {
    let inputShape: [Int]
    let dims: [Int]
    /// The result shape with reduced dims kept as 1.
    let keptShape: [Int]
    /// Elements reduced into each output element.
    let reducedCount: Int

    init(shape: [Int], dims: [Int]) {
        inputShape = shape
        self.dims = dims
        var kept = shape
        var n = 1
        for d in dims { n *= shape[d]; kept[d] = 1 }
        keptShape = kept
        reducedCount = n
    }

    func outputShape(keepDim: Bool) -> [Int] {
        keepDim ? keptShape : inputShape.enumerated().filter { !dims.contains($0.offset) }.map(\.element)
    }

    /// Consecutive runs of reduced / kept dims merged into (size, reduced) segments.
    var segments: [(size: Int, reduced: Bool)] {
        var segs: [(size: Int, reduced: Bool)] = []
        for (i, s) in inputShape.enumerated() {
            let r = dims.contains(i)
            if let last = segs.last, last.reduced == r { segs[segs.count - 1].size *= s } else { segs.append((s, r)) }
        }
        return segs
    }
}

// MARK: - Sum kernels

/// Sum of `n` contiguous Floats, widened to Double 8 lanes at a time (exact products of the
/// conversion, so only the Double additions round).
@inline(__always)
private func sumContiguous(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD8<Double>()
    var j = 0
    let base = UnsafeRawPointer(p)
    while j + 8 <= n {
        let v = base.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
        acc += SIMD8<Double>(v)
        j += 8
    }
    var s = acc.sum()
    while j < n { s += Double(p[j]); j += 1 }
    return s
}

@inline(__always)
private func sumContiguous(_ p: UnsafePointer<Double>, _ n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { s += p[i] }
    return s
}

private protocol SummableElement { static func contiguousSum(_ p: UnsafePointer<Self>, _ n: Int) -> Double; var asDouble: Double { get } }
extension Float: SummableElement {
    static func contiguousSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double { sumContiguous(p, n) }
    var asDouble: Double { Double(self) }
}
extension Double: SummableElement {
    static func contiguousSum(_ p: UnsafePointer<Double>, _ n: Int) -> Double { sumContiguous(p, n) }
    var asDouble: Double { self }
}

/// Sums `src` viewed as [outer, size, inner] over the middle axis into `dst` [outer, inner].
private func sumAxis<S: SummableElement>(_ src: UnsafePointer<S>, outer: Int, size: Int, inner: Int,
                                         _ dst: UnsafeMutablePointer<Double>) {
    if inner == 1 {
        if outer == 1 && size > 65_536 {
            // One big sum: fixed-size blocks in parallel, partials combined in order.
            let block = 65_536
            let blocks = (size + block - 1) / block
            var partials = [Double](repeating: 0, count: blocks)
            partials.withUnsafeMutableBufferPointer { part in
                let pp = part.baseAddress!
                Threads.parallelFor(blocks, costPerItem: block) { r in
                    for b in r { pp[b] = S.contiguousSum(src + b * block, Swift.min(block, size - b * block)) }
                }
            }
            dst[0] = partials.reduce(0, +)
            return
        }
        Threads.parallelFor(outer, costPerItem: size) { r in
            for o in r { dst[o] = S.contiguousSum(src + o * size, size) }
        }
        return
    }
    // Column sums: each task owns one (row, block of columns) and walks the reduced axis in order.
    let width = 256
    let colBlocks = (inner + width - 1) / width
    Threads.parallelFor(outer * colBlocks, costPerItem: size * Swift.min(width, inner)) { r in
        var acc = [Double](repeating: 0, count: width)
        acc.withUnsafeMutableBufferPointer { a in
            for task in r {
                let o = task / colBlocks, c0 = (task % colBlocks) * width
                let w = Swift.min(width, inner - c0)
                for j in 0..<w { a[j] = 0 }
                for k in 0..<size {
                    let row = src + (o * size + k) * inner + c0
                    for j in 0..<w { a[j] += row[j].asDouble }
                }
                let out = dst + o * inner + c0
                for j in 0..<w { out[j] = a[j] }
            }
        }
    }
}

extension Tensor {
    /// Sums of a Float32 tensor over `plan.dims`, in Double, laid out as `plan.keptShape`.
    func sumValues(_ plan: ReductionPlan) -> [Double] {
        var sizes = plan.segments
        var current: [Double]? = nil
        // Reduce segments from the innermost outwards; later passes read the Double partials.
        for i in stride(from: sizes.count - 1, through: 0, by: -1) where sizes[i].reduced {
            let outer = sizes[..<i].reduce(1) { $0 * $1.size }
            let inner = sizes[(i + 1)...].reduce(1) { $0 * $1.size }
            let size = sizes[i].size
            var next = [Double](repeating: 0, count: outer * inner)
            next.withUnsafeMutableBufferPointer { d in
                guard let dp = d.baseAddress else { return }
                if let cur = current {
                    cur.withUnsafeBufferPointer { sumAxis($0.baseAddress!, outer: outer, size: size, inner: inner, dp) }
                } else {
                    storage.withUnsafeBufferPointer { s in
                        if let sp = s.baseAddress { sumAxis(sp, outer: outer, size: size, inner: inner, dp) }
                    }
                }
            }
            current = next
            sizes[i].size = 1
        }
        return current ?? storage.map(Double.init)
    }

    /// Exact Int64 sums over `plan.dims` (for Int64 and Bool tensors).
    func sumInt64Values(_ plan: ReductionPlan) -> [Int64] {
        var current = dtype == .int64 ? int64Storage : storage.map { Int64($0) }
        var sizes = plan.segments
        for i in stride(from: sizes.count - 1, through: 0, by: -1) where sizes[i].reduced {
            let outer = sizes[..<i].reduce(1) { $0 * $1.size }
            let inner = sizes[(i + 1)...].reduce(1) { $0 * $1.size }
            let size = sizes[i].size
            var next = [Int64](repeating: 0, count: outer * inner)
            for o in 0..<outer {
                for k in 0..<size {
                    let base = (o * size + k) * inner
                    for j in 0..<inner { next[o * inner + j] &+= current[base + j] }
                }
            }
            current = next
            sizes[i].size = 1
        }
        return current
    }

    private func plan(_ dims: [Int], op: String, file: StaticString, line: UInt) -> ReductionPlan {
        ReductionPlan(shape: shape, dims: ReductionValidation.dims(dims, shape: shape, op: op).orFail(file: file, line: line))
    }

    /// The gradient of a reduction (shaped like its output) broadcast back over the reduced dims.
    static func expandReduced(_ g: Tensor, _ plan: ReductionPlan) -> Tensor {
        g.withShape(plan.keptShape).expandData(to: plan.inputShape)
    }

    // MARK: sum

    /// Sum of all elements (Int64 for Int64/Bool tensors).
    public func sum() -> Tensor { sum(dims: [], keepDim: false) }

    /// Sum over one dimension.
    public func sum(dim: Int, keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        sum(dims: [dim], keepDim: keepDim, file: file, line: line)
    }

    /// Sum over several dimensions (all of them when `dims` is empty).
    public func sum(dims: [Int], keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let p = plan(dims, op: "sum", file: file, line: line)
        let outShape = p.outputShape(keepDim: keepDim)
        if dtype != .float32 {
            return Tensor(shape: outShape, dtype: .int64, storage: [], int64Storage: sumInt64Values(p))
        }
        let values = sumValues(p)
        let out = Tensor.make(shape: outShape) { o in for i in 0..<o.count { o[i] = Float(values[i]) } }
        return Tensor.record(out, "sum", [self]) { g, _ in [Tensor.expandReduced(g, p)] }
    }

    // MARK: mean

    /// Mean of all elements.
    public func mean(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        mean(dims: [], keepDim: false, file: file, line: line)
    }

    /// Mean over one dimension.
    public func mean(dim: Int, keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        mean(dims: [dim], keepDim: keepDim, file: file, line: line)
    }

    /// Mean over several dimensions (all when empty). Float32 only, as in PyTorch.
    public func mean(dims: [Int], keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(dtype == .float32, "mean", "needs a Float32 tensor, got \(dtype) with shape \(describe(shape: shape)); call .float() first",
              file: file, line: line)
        let p = plan(dims, op: "mean", file: file, line: line)
        let values = sumValues(p)
        let n = Double(p.reducedCount)
        let out = Tensor.make(shape: p.outputShape(keepDim: keepDim)) { o in for i in 0..<o.count { o[i] = Float(values[i] / n) } }
        return Tensor.record(out, "mean", [self]) { g, _ in
            let scale = Float(1 / n)
            return [Tensor.expandReduced(g.map { $0 * scale }, p)]
        }
    }

    // MARK: var and std

    /// Variance of all elements; `unbiased` divides by n - 1 (Bessel's correction), as PyTorch's default.
    public func `var`(unbiased: Bool = true, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        variance(dims: [], unbiased: unbiased, keepDim: false, std: false, file: file, line: line)
    }

    /// Variance over one dimension.
    public func `var`(dim: Int, unbiased: Bool = true, keepDim: Bool = false,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        variance(dims: [dim], unbiased: unbiased, keepDim: keepDim, std: false, file: file, line: line)
    }

    /// Variance over several dimensions.
    public func `var`(dims: [Int], unbiased: Bool = true, keepDim: Bool = false,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        variance(dims: dims, unbiased: unbiased, keepDim: keepDim, std: false, file: file, line: line)
    }

    /// Standard deviation of all elements (unbiased by default).
    public func std(unbiased: Bool = true, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        variance(dims: [], unbiased: unbiased, keepDim: false, std: true, file: file, line: line)
    }

    /// Standard deviation over one dimension.
    public func std(dim: Int, unbiased: Bool = true, keepDim: Bool = false,
                    file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        variance(dims: [dim], unbiased: unbiased, keepDim: keepDim, std: true, file: file, line: line)
    }

    /// Standard deviation over several dimensions.
    public func std(dims: [Int], unbiased: Bool = true, keepDim: Bool = false,
                    file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        variance(dims: dims, unbiased: unbiased, keepDim: keepDim, std: true, file: file, line: line)
    }

    private func variance(dims: [Int], unbiased: Bool, keepDim: Bool, std: Bool, file: StaticString, line: UInt) -> Tensor {
        let op = std ? "std" : "var"
        check(dtype == .float32, op, "needs a Float32 tensor, got \(dtype) with shape \(describe(shape: shape)); call .float() first",
              file: file, line: line)
        let p = plan(dims, op: op, file: file, line: line)
        // Two passes: the mean, then squared deviations from it (stable for large offsets).
        let n = Double(p.reducedCount)
        let meanValues = sumValues(p).map { $0 / n }
        let mean = Tensor.make(shape: p.keptShape) { o in for i in 0..<o.count { o[i] = Float(meanValues[i]) } }
        let centered = Tensor.binaryKernel(self, mean, outShape: shape, -)
        let squares = Tensor.binaryKernel(centered, centered, outShape: shape, *)
        let divisor = n - (unbiased ? 1 : 0)
        let variances = squares.sumValues(p).map { $0 / divisor }
        let out = Tensor.make(shape: p.outputShape(keepDim: keepDim)) { o in
            for i in 0..<o.count { o[i] = Float(std ? variances[i].squareRoot() : variances[i]) }
        }
        return Tensor.record(out, op, [self]) { g, _ in
            // d var / dx = 2 (x - mean) / divisor;  d std / dx = (x - mean) / (divisor * std).
            let factor: Tensor
            if std {
                factor = Tensor.binaryKernel(g, out, outShape: g.shape) { gv, s in gv / (Float(divisor) * s) }
            } else {
                factor = g.map { $0 * Float(2 / divisor) }
            }
            return [Tensor.binaryKernel(centered, Tensor.expandReduced(factor, p), outShape: centered.shape, *)]
        }
    }

    // MARK: max / min

    /// Positions and values of the largest (or smallest) element along `dim` of [outer, size, inner].
    /// Ties pick the first index; NaN counts as the extreme, as in PyTorch.
    private func extremeAlong(dim d: Int, largest: Bool) -> (values: [Float], indices: [Int64]) {
        let x = dtype == .int64 ? float() : self
        let (outer, size, inner) = outerSizeInner(shape, d)
        var values = [Float](repeating: 0, count: outer * inner)
        var indices = [Int64](repeating: 0, count: outer * inner)
        x.storage.withUnsafeBufferPointer { s in
            values.withUnsafeMutableBufferPointer { v in
                indices.withUnsafeMutableBufferPointer { ix in
                    guard let sp = s.baseAddress, let vp = v.baseAddress, let ip = ix.baseAddress else { return }
                    Threads.parallelFor(outer, costPerItem: size * inner) { r in
                        for o in r {
                            let base = sp + o * size * inner
                            for j in 0..<inner { vp[o * inner + j] = base[j]; ip[o * inner + j] = 0 }
                            for k in 1..<Swift.max(size, 1) {
                                let row = base + k * inner
                                for j in 0..<inner {
                                    let c = row[j], b = vp[o * inner + j]
                                    let better = largest ? (c > b) : (c < b)
                                    if (better || c.isNaN) && !b.isNaN { vp[o * inner + j] = c; ip[o * inner + j] = Int64(k) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (values, indices)
    }

    private func extreme(dim: Int, keepDim: Bool, largest: Bool, file: StaticString, line: UInt) -> (values: Tensor, indices: Tensor) {
        let op = largest ? "max" : "min"
        let d = resolveDim(dim, rank: rank, op: op, shape: shape).orFail(file: file, line: line)
        let p = ReductionPlan(shape: shape, dims: rank == 0 ? [] : [d])
        check(rank == 0 || shape[d] > 0, op, "cannot reduce over dim \(dim) of size 0 (shape \(describe(shape: shape)))",
              file: file, line: line)
        let outShape = p.outputShape(keepDim: keepDim)
        let (v, ix) = extremeAlong(dim: rank == 0 ? 0 : d, largest: largest)
        let indices = Tensor(shape: outShape, dtype: .int64, storage: [], int64Storage: ix)
        if dtype == .int64 {
            return (Tensor(shape: outShape, dtype: .int64, storage: [], int64Storage: v.map { Int64($0) }), indices)
        }
        let values = Tensor(shape: outShape, dtype: dtype, storage: v, int64Storage: [])
        guard dtype == .float32 else { return (values, indices) }
        let original = shape
        let (outer, size, inner) = outerSizeInner(shape, rank == 0 ? 0 : d)
        let recorded = Tensor.record(values, op, [self]) { g, _ in
            let result = Tensor.zerosFloat(original)
            result.storage.withUnsafeMutableBufferPointer { r in
                g.storage.withUnsafeBufferPointer { gp in
                    for o in 0..<outer {
                        for j in 0..<inner { r[(o * size + Int(ix[o * inner + j])) * inner + j] += gp[o * inner + j] }
                    }
                }
            }
            return [result]
        }
        return (recorded, indices)
    }

    /// Largest values along `dim` and their Int64 positions (`torch.max(x, dim)`).
    public func max(dim: Int, keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> (values: Tensor, indices: Tensor) {
        extreme(dim: dim, keepDim: keepDim, largest: true, file: file, line: line)
    }

    /// Smallest values along `dim` and their Int64 positions.
    public func min(dim: Int, keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> (values: Tensor, indices: Tensor) {
        extreme(dim: dim, keepDim: keepDim, largest: false, file: file, line: line)
    }

    /// Int64 positions of the largest values along `dim` (first on ties).
    public func argmax(dim: Int, keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        withNoGrad { extreme(dim: dim, keepDim: keepDim, largest: true, file: file, line: line).indices }
    }

    /// Int64 positions of the smallest values along `dim` (first on ties).
    public func argmin(dim: Int, keepDim: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        withNoGrad { extreme(dim: dim, keepDim: keepDim, largest: false, file: file, line: line).indices }
    }

    /// Flat Int64 position of the largest element.
    public func argmax(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(count > 0, "argmax", "cannot take the argmax of an empty tensor", file: file, line: line)
        return withNoGrad { reshaped(to: [count], name: "view").extreme(dim: 0, keepDim: false, largest: true, file: file, line: line).indices }
    }

    /// Flat Int64 position of the smallest element.
    public func argmin(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(count > 0, "argmin", "cannot take the argmin of an empty tensor", file: file, line: line)
        return withNoGrad { reshaped(to: [count], name: "view").extreme(dim: 0, keepDim: false, largest: false, file: file, line: line).indices }
    }

    /// Largest element as a scalar tensor; the gradient is shared evenly among tied maxima, as in PyTorch.
    public func max(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        extremeAll(largest: true, file: file, line: line)
    }

    /// Smallest element as a scalar tensor.
    public func min(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        extremeAll(largest: false, file: file, line: line)
    }

    private func extremeAll(largest: Bool, file: StaticString, line: UInt) -> Tensor {
        let op = largest ? "max" : "min"
        check(count > 0, op, "cannot reduce an empty tensor (shape \(describe(shape: shape)))", file: file, line: line)
        let flat = withNoGrad { reshaped(to: [count], name: "view").extreme(dim: 0, keepDim: false, largest: largest, file: file, line: line) }
        guard dtype == .float32 else { return flat.values }
        let value = flat.values.storage[0]
        let out = Tensor(shape: [], dtype: .float32, storage: [value], int64Storage: [])
        return Tensor.record(out, op, [self]) { [self] g, _ in
            let ties = Float(storage.reduce(0) { $0 + ($1 == value ? 1 : 0) })
            let share = g.storage[0] / Swift.max(ties, 1)
            return [map { $0 == value ? share : 0 }]
        }
    }
}
