// TEMPORARY (branch nn-models): naive stand-ins for the agreed functional API (BRIEF.md) so NN,
// Models and Optim compile and test before the `kernels` branch lands.
// DELETE this file when merging `kernels` into main.
import CBLAS

public enum Reduction { case none, mean, sum }

private func pendingPair(_ x: (Int, Int)) -> [Int] { [x.0, x.1] }

// flatten, reshape and relu landed with tensor-ops.

public func matmul(_ a: Tensor, _ b: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    check(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0], "matmul",
          "TEMPORARY matmul supports 2-D only, got \(describe(shape: a.shape)) and \(describe(shape: b.shape))", file: file, line: line)
    let out = pendingGemm(a.storage, b.storage, m: a.shape[0], n: b.shape[1], k: a.shape[1], transA: false, transB: false)
    let (sa, sb) = (a, b)
    return Tensor.record(Tensor(shape: [a.shape[0], b.shape[1]], scalars: out), "matmul", [a, b]) { g, needs in
        [needs[0] ? Tensor(shape: sa.shape, scalars: pendingGemm(g.storage, sb.storage, m: sa.shape[0], n: sa.shape[1], k: sb.shape[1], transA: false, transB: true)) : nil,
         needs[1] ? Tensor(shape: sb.shape, scalars: pendingGemm(sa.storage, g.storage, m: sb.shape[0], n: sb.shape[1], k: sa.shape[0], transA: true, transB: false)) : nil]
    }
}

/// C[m,n] = op(A)[m,k] * op(B)[k,n]
private func pendingGemm(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    if m == 0 || n == 0 || k == 0 { return c }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a, Int32(transA ? m : k), b, Int32(transB ? k : n), 0, &c, Int32(n))
    return c
}

public func linear(_ input: Tensor, weight: Tensor, bias: Tensor?, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let inF = weight.shape[1]
    check(input.shape.last == inF, "linear", "input \(describe(shape: input.shape)) does not match weight \(describe(shape: weight.shape))",
          file: file, line: line)
    let flat = input.reshape([-1, inF])
    var y = matmul(flat, pendingTranspose(weight))
    if let bias { y = y + bias }
    return y.reshape(Array(input.shape.dropLast()) + [weight.shape[0]])
}

private func pendingTranspose(_ w: Tensor) -> Tensor {
    let (r, c) = (w.shape[0], w.shape[1])
    let out = Tensor.make(shape: [c, r]) { o in
        w.withUnsafeBufferPointer { p in for i in 0..<r { for j in 0..<c { o[j * r + i] = p[i * c + j] } } }
    }
    return Tensor.record(out, "t", [w]) { g, _ in
        [Tensor.make(shape: [r, c]) { o in g.withUnsafeBufferPointer { p in for i in 0..<r { for j in 0..<c { o[i * c + j] = p[j * r + i] } } } }]
    }
}

public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                   file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (oc, icg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    check(c == icg * groups, "conv2d", "input \(describe(shape: input.shape)) does not match weight \(describe(shape: weight.shape)) with groups \(groups)",
          file: file, line: line)
    let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let ow = (w + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    let ocg = oc / groups
    let colRows = icg * kh * kw, colCols = oh * ow
    // Maps column entries to input offsets (-1 for padding), per group-relative channel.
    var index = [Int](repeating: -1, count: colRows * colCols)
    for ci in 0..<icg { for a in 0..<kh { for b in 0..<kw {
        let r = (ci * kh + a) * kw + b
        for y in 0..<oh { for x in 0..<ow {
            let iy = y * stride.0 - padding.0 + a * dilation.0, ix = x * stride.1 - padding.1 + b * dilation.1
            if iy >= 0 && iy < h && ix >= 0 && ix < w { index[r * colCols + y * ow + x] = (ci * h + iy) * w + ix }
        } }
    } } }
    let inp = input.storage, wt = weight.storage
    var out = [Float](repeating: 0, count: n * oc * colCols)
    var cols = [[Float]]()
    for b in 0..<n { for g in 0..<groups {
        let base = (b * c + g * icg) * h * w
        let col = index.map { $0 < 0 ? 0 : inp[base + $0] }
        cols.append(col)
        let wg = Array(wt[(g * ocg * colRows)..<((g + 1) * ocg * colRows)])
        let y = pendingGemm(wg, col, m: ocg, n: colCols, k: colRows, transA: false, transB: false)
        let o = (b * oc + g * ocg) * colCols
        for i in 0..<y.count { out[o + i] = y[i] }
    } }
    if let bias {
        for b in 0..<n { for o in 0..<oc { for i in 0..<colCols { out[(b * oc + o) * colCols + i] += bias.storage[o] } } }
    }
    let result = Tensor(shape: [n, oc, oh, ow], scalars: out)
    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    return Tensor.record(result, "conv2d", inputs) { gOut, needs in
        let go = gOut.storage
        var gIn: [Float]? = needs[0] ? [Float](repeating: 0, count: input.count) : nil
        var gW: [Float]? = needs[1] ? [Float](repeating: 0, count: weight.count) : nil
        for b in 0..<n { for g in 0..<groups {
            let o = (b * oc + g * ocg) * colCols
            let gy = Array(go[o..<(o + ocg * colCols)])
            if gW != nil {
                let d = pendingGemm(gy, cols[b * groups + g], m: ocg, n: colRows, k: colCols, transA: false, transB: true)
                let wo = g * ocg * colRows
                for i in 0..<d.count { gW![wo + i] += d[i] }
            }
            if gIn != nil {
                let wg = Array(wt[(g * ocg * colRows)..<((g + 1) * ocg * colRows)])
                let dcol = pendingGemm(wg, gy, m: colRows, n: colCols, k: ocg, transA: true, transB: false)
                let base = (b * c + g * icg) * h * w
                for i in 0..<dcol.count where index[i] >= 0 { gIn![base + index[i]] += dcol[i] }
            }
        } }
        var gB: Tensor? = nil
        if needs.count > 2 && needs[2] {
            var s = [Float](repeating: 0, count: oc)
            for b in 0..<n { for o in 0..<oc { for i in 0..<colCols { s[o] += go[(b * oc + o) * colCols + i] } } }
            gB = Tensor(shape: [oc], scalars: s)
        }
        var grads: [Tensor?] = [gIn.map { Tensor(shape: input.shape, scalars: $0) }, gW.map { Tensor(shape: weight.shape, scalars: $0) }]
        if needs.count > 2 { grads.append(gB) }
        return grads
    }
}

public func batchNorm(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                      bias: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let n = input.shape[0], c = input.shape[1]
    let inner = input.rank > 2 ? input.shape[2...].reduce(1, *) : 1
    let m = n * inner
    let x = input.storage
    var mean = [Float](repeating: 0, count: c), varB = [Float](repeating: 0, count: c)
    if training {
        for ch in 0..<c {
            var s: Double = 0
            for b in 0..<n { for i in 0..<inner { s += Double(x[(b * c + ch) * inner + i]) } }
            let mu = s / Double(m)
            var v: Double = 0
            for b in 0..<n { for i in 0..<inner { let d = Double(x[(b * c + ch) * inner + i]) - mu; v += d * d } }
            mean[ch] = Float(mu); varB[ch] = Float(v / Double(m))
            if let runningMean, let runningVar {
                runningMean.storage[ch] = (1 - momentum) * runningMean.storage[ch] + momentum * Float(mu)
                let unbiased = m > 1 ? Float(v / Double(m - 1)) : Float(v)
                runningVar.storage[ch] = (1 - momentum) * runningVar.storage[ch] + momentum * unbiased
            }
        }
    } else {
        mean = runningMean!.storage; varB = runningVar!.storage
    }
    let invStd = varB.map { 1 / ($0 + eps).squareRoot() }
    var xhat = [Float](repeating: 0, count: x.count)
    for b in 0..<n { for ch in 0..<c { for i in 0..<inner { let k = (b * c + ch) * inner + i; xhat[k] = (x[k] - mean[ch]) * invStd[ch] } } }
    let w = weight?.storage ?? [Float](repeating: 1, count: c), bb = bias?.storage ?? [Float](repeating: 0, count: c)
    var y = xhat
    for b in 0..<n { for ch in 0..<c { for i in 0..<inner { let k = (b * c + ch) * inner + i; y[k] = xhat[k] * w[ch] + bb[ch] } } }
    var inputs = [input]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let hasW = weight != nil
    return Tensor.record(Tensor(shape: input.shape, scalars: y), "batch_norm", inputs) { g, needs in
        let go = g.storage
        var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
        for b in 0..<n { for ch in 0..<c { for i in 0..<inner { let k = (b * c + ch) * inner + i; sumG[ch] += go[k]; sumGX[ch] += go[k] * xhat[k] } } }
        var grads: [Tensor?] = []
        if needs[0] {
            var gi = [Float](repeating: 0, count: x.count)
            for b in 0..<n { for ch in 0..<c { for i in 0..<inner {
                let k = (b * c + ch) * inner + i
                if training {
                    gi[k] = w[ch] * invStd[ch] * (go[k] - sumG[ch] / Float(m) - xhat[k] * sumGX[ch] / Float(m))
                } else {
                    gi[k] = w[ch] * invStd[ch] * go[k]
                }
            } } }
            grads.append(Tensor(shape: input.shape, scalars: gi))
        } else { grads.append(nil) }
        if hasW { grads.append(needs[1] ? Tensor(shape: [c], scalars: sumGX) : nil) }
        if inputs.count > (hasW ? 2 : 1) { grads.append(needs[grads.count] ? Tensor(shape: [c], scalars: sumG) : nil) }
        return grads
    }
}

private func pendingPool(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
                         isMax: Bool, countIncludePad: Bool, name: String) -> Tensor {
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let oh = (h + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
    let ow = (w + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
    let x = input.storage
    var out = [Float](repeating: 0, count: n * c * oh * ow)
    var taps = [[(Int, Float)]](repeating: [], count: out.count)
    for p in 0..<(n * c) { for y in 0..<oh { for xo in 0..<ow {
        let o = (p * oh + y) * ow + xo
        var best = -Float.infinity, bestK = -1, s: Float = 0, cnt = 0
        var ks: [Int] = []
        for a in 0..<kernel.0 { for b in 0..<kernel.1 {
            let iy = y * stride.0 - padding.0 + a * dilation.0, ix = xo * stride.1 - padding.1 + b * dilation.1
            if iy < 0 || iy >= h || ix < 0 || ix >= w { if countIncludePad { cnt += 1 }; continue }
            let k = (p * h + iy) * w + ix
            cnt += 1; ks.append(k); s += x[k]
            if x[k] > best || bestK < 0 { best = x[k]; bestK = k }
        } }
        if isMax { out[o] = best; taps[o] = [(bestK, 1)] } else { out[o] = s / Float(cnt); taps[o] = ks.map { ($0, 1 / Float(cnt)) } }
    } } }
    return Tensor.record(Tensor(shape: [n, c, oh, ow], scalars: out), name, [input]) { g, _ in
        var gi = [Float](repeating: 0, count: x.count)
        for o in 0..<taps.count { for (k, wgt) in taps[o] { gi[k] += g.storage[o] * wgt } }
        return [Tensor(shape: input.shape, scalars: gi)]
    }
}

public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), ceilMode: Bool = false,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    pendingPool(input, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding, dilation: dilation,
                isMax: true, countIncludePad: false, name: "max_pool2d")
}

public func avgPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), ceilMode: Bool = false, countIncludePad: Bool = true,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    pendingPool(input, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding, dilation: (1, 1),
                isMax: false, countIncludePad: countIncludePad, name: "avg_pool2d")
}

public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int), file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let (h, w) = (input.shape[2], input.shape[3])
    check(h % outputSize.0 == 0 && w % outputSize.1 == 0, "adaptiveAvgPool2d", "TEMPORARY version needs divisible sizes", file: file, line: line)
    let k = (h / outputSize.0, w / outputSize.1)
    return pendingPool(input, kernel: k, stride: k, padding: (0, 0), dilation: (1, 1), isMax: false, countIncludePad: true,
                       name: "adaptive_avg_pool2d")
}

public func dropout(_ input: Tensor, p: Float = 0.5, training: Bool = true, generator: Generator? = nil,
                    file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    guard training, p > 0 else { return input }
    let g = generator ?? Generator.default
    let mask = Tensor.make(shape: input.shape) { m in for i in 0..<m.count { m[i] = g.nextFloat() < p ? 0 : 1 / (1 - p) } }
    return input * mask
}

public func logSoftmax(_ x: Tensor, dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    check(dim == 1 || dim == -1, "logSoftmax", "TEMPORARY version supports [N, C] with dim 1", file: file, line: line)
    let (n, c) = (x.shape[0], x.shape[1])
    var out = [Float](repeating: 0, count: n * c)
    for i in 0..<n {
        let row = x.storage[(i * c)..<((i + 1) * c)]
        let mx = row.max()!
        let lse = mx + Foundation.log(row.reduce(Float(0)) { $0 + Foundation.exp($1 - mx) })
        for j in 0..<c { out[i * c + j] = x.storage[i * c + j] - lse }
    }
    return Tensor.record(Tensor(shape: x.shape, scalars: out), "log_softmax", [x]) { g, _ in
        var gi = [Float](repeating: 0, count: n * c)
        for i in 0..<n {
            var s: Float = 0
            for j in 0..<c { s += g.storage[i * c + j] }
            for j in 0..<c { gi[i * c + j] = g.storage[i * c + j] - Foundation.exp(out[i * c + j]) * s }
        }
        return [Tensor(shape: x.shape, scalars: gi)]
    }
}

public func softmax(_ x: Tensor, dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let ls = logSoftmax(x, dim: dim, file: file, line: line)
    let out = ls.map { Foundation.exp($0) }
    return Tensor.record(out, "softmax", [ls]) { g, _ in [g * out] }
}

public func nllLoss(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let (n, c) = (input.shape[0], input.shape[1])
    let t = target.int64Scalars
    var coef = [Float](repeating: 0, count: n * c)
    var total: Float = 0
    for i in 0..<n where Int(t[i]) != ignoreIndex {
        let w = weight?.storage[Int(t[i])] ?? 1
        coef[i * c + Int(t[i])] = -w
        total += w
    }
    let scale: Float = reduction == .mean ? 1 / total : 1
    if reduction == .none {
        let picked = input * Tensor(shape: [n, c], scalars: coef)
        let rowsum = picked.matmulOnes(c)
        return rowsum
    }
    return (input * Tensor(shape: [n, c], scalars: coef.map { $0 * scale })).sumAllPending()
}

public func crossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         reduction: Reduction = .mean, labelSmoothing: Float = 0,
                         file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let lsm = logSoftmax(input, dim: 1)
    let nll = nllLoss(lsm, target, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
    guard labelSmoothing > 0 else { return nll }
    let (n, c) = (input.shape[0], input.shape[1])
    let valid = target.int64Scalars.map { Int($0) != ignoreIndex ? Float(1) : 0 }
    let smooth = (lsm * Tensor(shape: [n, 1], scalars: valid.map { -$0 / Float(c) })).sumAllPending()
    let denom: Float = reduction == .mean ? valid.reduce(0, +) : 1
    return nll * (1 - labelSmoothing) + smooth * (labelSmoothing / denom)
}

public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean,
                    file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let d = input - target
    let sq = d * d
    switch reduction {
    case .none: return sq
    case .sum: return sq.sumAllPending()
    case .mean: return sq.sumAllPending() / Float(sq.count)
    }
}

extension Tensor {
    fileprivate func sumAllPending() -> Tensor {
        let s = storage.reduce(0, +)
        let shp = shape
        return Tensor.record(Tensor(s), "sum", [self]) { g, _ in [Tensor.full(shp, g.storage[0])] }
    }
    fileprivate func matmulOnes(_ c: Int) -> Tensor {
        matmul(self, Tensor.ones([c, 1])).reshape([-1])
    }
}

import Foundation
