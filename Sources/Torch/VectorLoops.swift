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

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// `(sum(p[i] - k), sum((p[i] - k)^2))`: one-pass statistics around a shift `k`.
@inline(__always)
func vectorShiftedSums(_ p: UnsafePointer<Float>, _ n: Int, shift k: Float) -> (Float, Float) {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), q0 = SIMD8<Float>(), q1 = SIMD8<Float>()
    let kv = SIMD8<Float>(repeating: k)
    var i = 0
    while i + 16 <= n {
        let d0 = load8(p, i) - kv, d1 = load8(p, i + 8) - kv
        s0 += d0; s1 += d1
        q0 += d0 * d0; q1 += d1 * d1
        i += 16
    }
    var a = (s0 + s1).sum(), b = (q0 + q1).sum()
    while i < n { let d = p[i] - k; a += d; b += d * d; i += 1 }
    return (a, b)
}

// The batch-norm kernels below take `reLU` to fuse a following ReLU. Its mask is
// `x * maskScale + maskShift > 0`, the forward's pre-activation computed with the same operations
// (SIMD and scalar lanes round alike), so forward and backward agree bit for bit.

/// `y[i] = x[i] * scale + shift`, then `max(., 0)` when `reLU` (NaN becomes 0, like `relu`).
@inline(__always)
func vectorAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                  scale: Float, shift: Float, reLU: Bool) {
    let a = SIMD8<Float>(repeating: scale), b = SIMD8<Float>(repeating: shift), zero = SIMD8<Float>()
    var i = 0
    if reLU {
        while i + 16 <= n {
            let v0 = load8(x, i) * a + b, v1 = load8(x, i + 8) * a + b
            store8(zero.replacing(with: v0, where: v0 .> zero), y, i)
            store8(zero.replacing(with: v1, where: v1 .> zero), y, i + 8)
            i += 16
        }
        while i < n { let v = x[i] * scale + shift; y[i] = v > 0 ? v : 0; i += 1 }
    } else {
        while i + 16 <= n {
            store8(load8(x, i) * a + b, y, i)
            store8(load8(x, i + 8) * a + b, y, i + 8)
            i += 16
        }
        while i < n { y[i] = x[i] * scale + shift; i += 1 }
    }
}

/// `(sum(g'), sum(g' * (x - mu)))` with `g' = g` masked by the fused ReLU when `reLU`: the two
/// per-channel sums of the batch-norm backward pass.
@inline(__always)
func vectorGradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean mu: Float,
                        maskScale: Float, maskShift: Float, reLU: Bool) -> (Float, Float) {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), t0 = SIMD8<Float>(), t1 = SIMD8<Float>()
    let m = SIMD8<Float>(repeating: mu), a = SIMD8<Float>(repeating: maskScale), b = SIMD8<Float>(repeating: maskShift)
    let zero = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        var g0 = load8(g, i), g1 = load8(g, i + 8)
        let x0 = load8(x, i), x1 = load8(x, i + 8)
        if reLU {
            g0 = zero.replacing(with: g0, where: x0 * a + b .> zero)
            g1 = zero.replacing(with: g1, where: x1 * a + b .> zero)
        }
        s0 += g0; s1 += g1
        t0 += g0 * (x0 - m); t1 += g1 * (x1 - m)
        i += 16
    }
    var sa = (s0 + s1).sum(), sb = (t0 + t1).sum()
    while i < n {
        let gi = reLU && !(x[i] * maskScale + maskShift > 0) ? 0 : g[i]
        sa += gi; sb += gi * (x[i] - mu); i += 1
    }
    return (sa, sb)
}

/// Training-mode input gradient: `o = gain * (g' - meanG - (x - mu) * k)`.
@inline(__always)
func vectorNormGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int,
                        gain: Float, meanG: Float, mean mu: Float, k: Float,
                        maskScale: Float, maskShift: Float, reLU: Bool) {
    let gv = SIMD8<Float>(repeating: gain), mg = SIMD8<Float>(repeating: meanG), m = SIMD8<Float>(repeating: mu)
    let kv = SIMD8<Float>(repeating: k), a = SIMD8<Float>(repeating: maskScale), b = SIMD8<Float>(repeating: maskShift)
    let zero = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        var g0 = load8(g, i)
        let x0 = load8(x, i)
        if reLU { g0 = zero.replacing(with: g0, where: x0 * a + b .> zero) }
        store8(gv * (g0 - mg - (x0 - m) * kv), o, i)
        i += 8
    }
    while i < n {
        let gi = reLU && !(x[i] * maskScale + maskShift > 0) ? 0 : g[i]
        o[i] = gain * (gi - meanG - (x[i] - mu) * k)
        i += 1
    }
}

/// Running-statistics input gradient: `o = gain * g'`.
@inline(__always)
func vectorScaledGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int,
                          gain: Float, maskScale: Float, maskShift: Float, reLU: Bool) {
    let gv = SIMD8<Float>(repeating: gain), a = SIMD8<Float>(repeating: maskScale), b = SIMD8<Float>(repeating: maskShift)
    let zero = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        var g0 = load8(g, i)
        if reLU { g0 = zero.replacing(with: g0, where: load8(x, i) * a + b .> zero) }
        store8(gv * g0, o, i)
        i += 8
    }
    while i < n {
        let gi = reLU && !(x[i] * maskScale + maskShift > 0) ? 0 : g[i]
        o[i] = gain * gi
        i += 1
    }
}

/// `y[i] = a[i] + b[i]`, then `max(., 0)` when `reLU` (NaN becomes 0, like `relu`).
@inline(__always)
func vectorAdd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, reLU: Bool) {
    let zero = SIMD8<Float>()
    var i = 0
    if reLU {
        while i + 8 <= n {
            let v = load8(a, i) + load8(b, i)
            store8(zero.replacing(with: v, where: v .> zero), y, i)
            i += 8
        }
        while i < n { let v = a[i] + b[i]; y[i] = v > 0 ? v : 0; i += 1 }
    } else {
        while i + 8 <= n { store8(load8(a, i) + load8(b, i), y, i); i += 8 }
        while i < n { y[i] = a[i] + b[i]; i += 1 }
    }
}

/// `y[i] = max(x[i], 0)` (NaN becomes 0).
@inline(__always)
func vectorReLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let v = load8(x, i)
        store8(zero.replacing(with: v, where: v .> zero), y, i)
        i += 8
    }
    while i < n { let v = x[i]; y[i] = v > 0 ? v : 0; i += 1 }
}

/// `o[i] = ref[i] > 0 ? g[i] : 0`: the ReLU backward, given the ReLU's output (or input).
@inline(__always)
func vectorMaskPositive(_ g: UnsafePointer<Float>, _ ref: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        store8(zero.replacing(with: load8(g, i), where: load8(ref, i) .> zero), o, i)
        i += 8
    }
    while i < n { o[i] = ref[i] > 0 ? g[i] : 0; i += 1 }
}

/// `acc[i] = max(acc[i], x[i])`, NaN winning (either side NaN gives NaN).
@inline(__always)
func vectorMaxInPlace(_ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let a = load8(UnsafePointer(acc), i), v = load8(x, i)
        store8(a.replacing(with: v, where: (v .> a) .| (v .!= v)), acc, i)
        i += 8
    }
    while i < n { let v = x[i]; if v > acc[i] || v.isNaN { acc[i] = v }; i += 1 }
}

/// Column-wise running max with the first row reaching it: where `x[i]` beats `acc[i]` (greater,
/// or the first NaN), `acc[i] = x[i]` and `arg[i] = row`.
@inline(__always)
func vectorArgMaxInPlace(_ acc: UnsafeMutablePointer<Float>, _ arg: UnsafeMutablePointer<Int32>,
                         _ x: UnsafePointer<Float>, _ row: Int32, _ n: Int) {
    let rowVector = SIMD8<Int32>(repeating: row)
    var i = 0
    while i + 8 <= n {
        let a = load8(UnsafePointer(acc), i), v = load8(x, i)
        let wins = (v .> a) .| ((v .!= v) .& (a .== a))
        store8(a.replacing(with: v, where: wins), acc, i)
        let argPointer = UnsafeMutableRawPointer(arg + i)
        let previous = argPointer.loadUnaligned(as: SIMD8<Int32>.self)
        argPointer.storeBytes(of: previous.replacing(with: rowVector, where: wins), as: SIMD8<Int32>.self)
        i += 8
    }
    while i < n {
        let v = x[i], a = acc[i]
        if v > a || (v.isNaN && !a.isNaN) { acc[i] = v; arg[i] = row }
        i += 1
    }
}
