import Foundation

/// Element-wise unary math with autograd. Each op is a tight loop over raw buffers (split across
/// threads for large tensors) so the compiler can vectorise the cheap ones (relu, abs, clamp).
/// Int64/Bool inputs are converted to Float32 first.

@inline(__always) private func expF(_ x: Float) -> Float { exp(x) }
@inline(__always) private func logF(_ x: Float) -> Float { log(x) }
@inline(__always) private func tanhF(_ x: Float) -> Float { tanh(x) }
@inline(__always) private func powF(_ x: Float, _ y: Float) -> Float { pow(x, y) }

/// `out[i] = f(x[i])` over a Float32 tensor; `cost` is a rough per-element cost for threading.
@inline(__always)
private func unaryKernel(_ x: Tensor, cost: Int = 1, _ f: (Float) -> Float) -> Tensor {
    Tensor.make(shape: x.shape) { out in
        x.storage.withUnsafeBufferPointer { src in
            guard let s = src.baseAddress, let o = out.baseAddress else { return }
            Threads.parallelFor(out.count, costPerItem: cost) { r in
                for i in r { o[i] = f(s[i]) }
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])` for two same-shaped Float32 tensors (gradient times a saved value).
@inline(__always)
private func zipKernel(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    Tensor.make(shape: a.shape) { out in
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                guard let x = pa.baseAddress, let y = pb.baseAddress, let o = out.baseAddress else { return }
                Threads.parallelFor(out.count) { r in
                    for i in r { o[i] = f(x[i], y[i]) }
                }
            }
        }
    }
}

extension Tensor {
    private var asFloat: Tensor { dtype == .float32 ? self : float() }

    /// Rectified linear unit, `max(x, 0)`.
    public func relu() -> Tensor {
        let x = asFloat
        let out = Tensor.make(shape: x.shape) { y in
            x.storage.withUnsafeBufferPointer { px in
                guard let s = px.baseAddress, let o = y.baseAddress else { return }
                Threads.parallelFor(y.count) { r in vectorReLU(s + r.lowerBound, o + r.lowerBound, r.count) }
            }
        }
        // The output's values, not the tensor: capturing `out` would keep it alive through its own gradFn.
        let saved = out.storage
        return Tensor.record(out, "relu", [x]) { g, _ in [maskedByPositive(g, saved)] }
    }

    /// Logistic sigmoid `1 / (1 + exp(-x))`, computed without overflow for large |x|.
    public func sigmoid() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x, cost: 16) { v in
            if v >= 0 { return 1 / (1 + expF(-v)) }
            let e = expF(v)
            return e / (1 + e)
        }
        return Tensor.record(out, "sigmoid", [x]) { g, _ in [zipKernel(g, out) { $0 * $1 * (1 - $1) }] }
    }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x, cost: 16) { tanhF($0) }
        return Tensor.record(out, "tanh", [x]) { g, _ in [zipKernel(g, out) { $0 * (1 - $1 * $1) }] }
    }

    /// Natural exponential.
    public func exp() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x, cost: 16) { expF($0) }
        return Tensor.record(out, "exp", [x]) { g, _ in [zipKernel(g, out) { $0 * $1 }] }
    }

    /// Natural logarithm (`-inf` at 0, NaN for negative values, as in PyTorch).
    public func log() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x, cost: 16) { logF($0) }
        return Tensor.record(out, "log", [x]) { g, _ in [zipKernel(g, x) { $0 / $1 }] }
    }

    /// Square root.
    public func sqrt() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x, cost: 4) { $0.squareRoot() }
        return Tensor.record(out, "sqrt", [x]) { g, _ in [zipKernel(g, out) { $0 / (2 * $1) }] }
    }

    /// Reciprocal square root `1 / sqrt(x)`.
    public func rsqrt() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x, cost: 4) { 1 / $0.squareRoot() }
        return Tensor.record(out, "rsqrt", [x]) { g, _ in [zipKernel(g, out) { -0.5 * $0 * $1 * $1 * $1 }] }
    }

    /// Absolute value (gradient 0 at 0, as in PyTorch).
    public func abs() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x) { Swift.abs($0) }
        return Tensor.record(out, "abs", [x]) { g, _ in [zipKernel(g, x) { $1 > 0 ? $0 : ($1 < 0 ? -$0 : 0) }] }
    }

    /// `x * x`.
    public func square() -> Tensor {
        let x = asFloat
        let out = unaryKernel(x) { $0 * $0 }
        return Tensor.record(out, "pow", [x]) { g, _ in [zipKernel(g, x) { 2 * $0 * $1 }] }
    }

    /// `x` raised to a constant power.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 { return square() }
        let x = asFloat
        let out = unaryKernel(x, cost: 16) { powF($0, exponent) }
        return Tensor.record(out, "pow", [x]) { g, _ in
            [zipKernel(g, x) { exponent == 0 ? 0 : $0 * exponent * powF($1, exponent - 1) }]
        }
    }

    /// Limits values to `[min, max]` (either bound optional); the gradient flows where the input
    /// was inside the bounds (inclusive), as in PyTorch.
    public func clamp(min lower: Float? = nil, max upper: Float? = nil,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(lower != nil || upper != nil, "clamp", "at least one of min or max must be given", file: file, line: line)
        let x = asFloat
        let lo = lower ?? -Float.infinity, hi = upper ?? Float.infinity
        let out = unaryKernel(x) { v in
            // PyTorch applies min then max, so min > max gives max everywhere; NaN passes through.
            v.isNaN ? v : Swift.min(Swift.max(v, lo), hi)
        }
        return Tensor.record(out, "clamp", [x]) { g, _ in [zipKernel(g, x) { ($1 >= lo && $1 <= hi) ? $0 : 0 }] }
    }
}

/// Rectified linear unit, `torch.relu` / `F.relu`.
public func relu(_ x: Tensor) -> Tensor { x.relu() }
