import Foundation

// Softmax and log-softmax along one dimension, numerically stable (the maximum is subtracted
// before exponentiating). A tensor is viewed as [outer, D, inner] around the reduced dimension.

/// `exp(x) / sum(exp(x))` along `dim`, as `torch.softmax`.
public func softmax(_ x: Tensor, dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    normalizedExponential(x, dim: dim, log: false, file: file, line: line)
}

/// `x - log(sum(exp(x)))` along `dim`, as `torch.log_softmax`.
public func logSoftmax(_ x: Tensor, dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    normalizedExponential(x, dim: dim, log: true, file: file, line: line)
}

/// Softmax or log-softmax with its backward:
/// softmax `dx = y * (g - sum(g * y))`, log-softmax `dx = g - exp(y) * sum(g)`.
private func normalizedExponential(_ x: Tensor, dim: Int, log: Bool, file: StaticString, line: UInt) -> Tensor {
    let op = log ? "logSoftmax" : "softmax"
    let layout = SoftmaxLayout(op: op, x, dim: dim, file: file, line: line)
    if x.count == 0 { return emptyResult(x.shape, op, [x]) }
    let out = Tensor.make(shape: x.shape) { y in
        x.storage.withUnsafeBufferPointer { layout.forward($0.baseAddress!, y.baseAddress!, log: log) }
    }
    let saved = out.storage
    return Tensor.record(out, op, [x]) { g, _ in
        [Tensor.make(shape: g.shape) { gx in
            g.storage.withUnsafeBufferPointer { pg in
                saved.withUnsafeBufferPointer { py in
                    layout.backward(pg.baseAddress!, py.baseAddress!, gx.baseAddress!, log: log)
                }
            }
        }]
    }
}

struct SoftmaxLayout {
    let outer: Int, size: Int, inner: Int

    init(op: String, _ x: Tensor, dim: Int, file: StaticString, line: UInt) {
        requireFloat(x, op, "input", file: file, line: line)
        guard let d = Shape.normalize(dim: dim, rank: x.rank) else {
            engineFailure(op, "dimension \(dim) out of range for shape \(describe(shape: x.shape))", file: file, line: line)
        }
        if x.rank == 0 {
            outer = 1; size = 1; inner = 1
        } else {
            outer = Shape.count(Array(x.shape[..<d]))
            size = x.shape[d]
            inner = Shape.count(Array(x.shape[(d + 1)...]))
        }
    }

    init(outer: Int, size: Int, inner: Int) {
        self.outer = outer; self.size = size; self.inner = inner
    }

    /// One softmax (or log-softmax) over `size` values `stride` apart.
    @inline(__always)
    static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, size: Int, stride: Int, log: Bool) {
        var mx = -Float.infinity
        for i in 0..<size { mx = max(mx, x[i * stride]) }
        if mx == -.infinity { mx = 0 }  // all -inf: avoid inf - inf
        var sum: Float = 0
        if log {
            for i in 0..<size { sum += Foundation.exp(x[i * stride] - mx) }
            let shift = mx + Foundation.log(sum)
            for i in 0..<size { y[i * stride] = x[i * stride] - shift }
        } else {
            for i in 0..<size {
                let e = Foundation.exp(x[i * stride] - mx)
                y[i * stride] = e
                sum += e
            }
            let inv = 1 / sum
            for i in 0..<size { y[i * stride] *= inv }
        }
    }

    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, log: Bool) {
        let (size, inner) = (size, inner)
        Threads.parallelFor(outer * inner, costPerItem: size * 4) { range in
            for item in range {
                let o = item / inner, i = item % inner
                let base = o * size * inner + i
                SoftmaxLayout.row(x + base, y + base, size: size, stride: inner, log: log)
            }
        }
    }

    func backward(_ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>, log: Bool) {
        let (size, inner) = (size, inner)
        Threads.parallelFor(outer * inner, costPerItem: size * 3) { range in
            for item in range {
                let o = item / inner, i = item % inner
                let base = o * size * inner + i
                let gp = g + base, yp = y + base, dp = gx + base
                var dot: Float = 0
                if log {
                    for k in 0..<size { dot += gp[k * inner] }
                    for k in 0..<size { dp[k * inner] = gp[k * inner] - Foundation.exp(yp[k * inner]) * dot }
                } else {
                    for k in 0..<size { dot += gp[k * inner] * yp[k * inner] }
                    for k in 0..<size { dp[k * inner] = yp[k * inner] * (gp[k * inner] - dot) }
                }
            }
        }
    }
}
