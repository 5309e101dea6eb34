// Reductions over contiguous Float runs with several independent SIMD accumulators. A plain
// `acc += p[i]` loop is one serial chain of additions (the compiler may not reassociate float
// adds), about 4 cycles per element; these run many lanes at once. The order of additions
// depends only on `n`, so results stay deterministic.

@inline(__always)
private func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

/// `sum(p[0..<n])`.
@inline(__always)
func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n { a0 += load8(p, i); a1 += load8(p, i + 8); i += 16 }
    var s = (a0 + a1).sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// `sum((p[i] - mu)^2)`.
@inline(__always)
func vectorSumSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean mu: Float) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    let m = SIMD8<Float>(repeating: mu)
    var i = 0
    while i + 16 <= n {
        let d0 = load8(p, i) - m, d1 = load8(p, i + 8) - m
        a0 += d0 * d0; a1 += d1 * d1
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < n { let d = p[i] - mu; s += d * d; i += 1 }
    return s
}

/// `(sum(g), sum(g * (x - mu)))`: the two per-channel sums of the batch-norm backward pass.
@inline(__always)
func vectorGradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean mu: Float) -> (Float, Float) {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), t0 = SIMD8<Float>(), t1 = SIMD8<Float>()
    let m = SIMD8<Float>(repeating: mu)
    var i = 0
    while i + 16 <= n {
        let g0 = load8(g, i), g1 = load8(g, i + 8)
        s0 += g0; s1 += g1
        t0 += g0 * (load8(x, i) - m); t1 += g1 * (load8(x, i + 8) - m)
        i += 16
    }
    var a = (s0 + s1).sum(), b = (t0 + t1).sum()
    while i < n { a += g[i]; b += g[i] * (x[i] - mu); i += 1 }
    return (a, b)
}
