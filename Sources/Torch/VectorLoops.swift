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

/// Adds `count` blocks of `floats` floats, stored one after another from `blocks`, to `target` in
/// block order: each element's sum is taken in the same order whatever the threads, so partial
/// sums of fixed chunks of work (weight gradients per chunk of images) give the same bits.
func addBlocksInOrder(_ blocks: UnsafePointer<Float>, count: Int, floats: Int, into target: UnsafeMutablePointer<Float>) {
    guard count > 0 else { return }
    Threads.parallelFor(floats, costPerItem: count) { range in
        let t = target + range.lowerBound
        for k in 0..<count { vectorAdd(t, blocks + k * floats + range.lowerBound, t, range.count, reLU: false) }
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
