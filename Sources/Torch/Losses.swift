import Foundation

// Losses with PyTorch's exact formulas. Cross-entropy is fused (log-softmax + NLL + label
// smoothing in one pass) so its backward is the familiar `softmax - target` form.

/// How per-element losses are combined, as PyTorch's `reduction=` argument.
public enum Reduction: String, Sendable {
    /// One loss per element (per sample for classification losses).
    case none
    /// The (weighted) mean.
    case mean
    /// The sum.
    case sum
}

/// Cross-entropy between `input` logits `[N, C]` (or `[N, C, d1, ...]`, or `[C]`) and Int64 class
/// indices `target` `[N]` (or `[N, d1, ...]`, or `[]`), as `torch.nn.functional.cross_entropy`.
///
/// Per sample: `(1 - ls) * w[t] * -logp[t] + ls / C * sum_c w[c] * -logp[c]` with `ls` the label
/// smoothing; targets equal to `ignoreIndex` contribute nothing. `.mean` divides by the sum of
/// `w[t]` over non-ignored samples (the count when there is no weight), for both terms.
public func crossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         reduction: Reduction = .mean, labelSmoothing: Float = 0,
                         file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let op = "crossEntropy"
    let layout = ClassLossLayout(op: op, input: input, target: target, weight: weight, ignoreIndex: ignoreIndex,
                                 file: file, line: line)
    check(labelSmoothing >= 0 && labelSmoothing <= 1, op, "labelSmoothing must be in [0, 1], got \(labelSmoothing)",
          file: file, line: line)
    let (n, c, s) = (layout.n, layout.c, layout.s)
    let eps = labelSmoothing
    // log-softmax over the class dimension, kept for the backward pass.
    var logp = [Float](repeating: 0, count: input.count)
    if input.count > 0 { input.storage.withUnsafeBufferPointer { px in
        logp.withUnsafeMutableBufferPointer { pl in
            SoftmaxLayout(outer: n, size: c, inner: s).forward(px.baseAddress!, pl.baseAddress!, log: true)
        }
    } }
    let w = layout.weights
    let targets = layout.targets
    var losses = [Float](repeating: 0, count: n * s)
    var denominator: Double = 0
    for j in 0..<(n * s) {
        let t = targets[j]
        if t == ignoreIndex { continue }
        let i = j / s, sp = j % s
        let base = i * c * s + sp
        var loss = -(1 - eps) * w[t] * logp[base + t * s]
        if eps > 0 {
            var smooth: Float = 0
            for k in 0..<c { smooth -= w[k] * logp[base + k * s] }
            loss += eps / Float(c) * smooth
        }
        losses[j] = loss
        denominator += Double(w[t])
    }
    let out = layout.reduce(losses, reduction: reduction, denominator: denominator)
    let inputShape = input.shape
    let savedLogp = logp
    return Tensor.record(out, op, [input]) { g, _ in
        if savedLogp.isEmpty { return [zeroTensor(inputShape)] }
        let scales = layout.sampleScales(g, reduction: reduction, denominator: denominator, ignoreIndex: ignoreIndex)
        let gx = Tensor.make(shape: inputShape) { out in
            savedLogp.withUnsafeBufferPointer { pl in
                let lp = pl.baseAddress!, o = out.baseAddress!
                o.update(repeating: 0, count: out.count)
                for j in 0..<(n * s) where scales[j] != 0 {
                    let i = j / s, sp = j % s, t = targets[j]
                    let base = i * c * s + sp
                    // a_k = dL/dlogp_k; dL/dx_k = a_k - softmax_k * sum(a).
                    let scale = scales[j]
                    var total: Float = 0
                    for k in 0..<c {
                        var a: Float = eps > 0 ? -scale * eps / Float(c) * w[k] : 0
                        if k == t { a -= scale * (1 - eps) * w[t] }
                        o[base + k * s] = a
                        total += a
                    }
                    for k in 0..<c { o[base + k * s] -= Foundation.exp(lp[base + k * s]) * total }
                }
            }
        }
        return [gx]
    }
}

/// Negative log-likelihood of Int64 class indices under log-probabilities `input` `[N, C]`
/// (or `[N, C, d1, ...]`, or `[C]`), as `torch.nn.functional.nll_loss`:
/// per sample `-w[t] * input[t]`; `.mean` divides by the sum of `w[t]` over non-ignored samples.
public func nllLoss(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let layout = ClassLossLayout(op: "nllLoss", input: input, target: target, weight: weight, ignoreIndex: ignoreIndex,
                                 file: file, line: line)
    let (n, c, s) = (layout.n, layout.c, layout.s)
    let w = layout.weights, targets = layout.targets
    var losses = [Float](repeating: 0, count: n * s)
    var denominator: Double = 0
    input.storage.withUnsafeBufferPointer { px in
        for j in 0..<(n * s) where targets[j] != ignoreIndex {
            let t = targets[j]
            losses[j] = -w[t] * px[(j / s) * c * s + t * s + j % s]
            denominator += Double(w[t])
        }
    }
    let out = layout.reduce(losses, reduction: reduction, denominator: denominator)
    let inputShape = input.shape
    return Tensor.record(out, "nllLoss", [input]) { g, _ in
        let scales = layout.sampleScales(g, reduction: reduction, denominator: denominator, ignoreIndex: ignoreIndex)
        let gx = Tensor.make(shape: inputShape) { o in
            o.update(repeating: 0)
            for j in 0..<(n * s) where scales[j] != 0 {
                let t = targets[j]
                o[(j / s) * c * s + t * s + j % s] = -scales[j] * w[t]
            }
        }
        return [gx]
    }
}

/// Mean squared error `(input - target)^2`, as `torch.nn.functional.mse_loss`. Shapes must match.
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean,
                    file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    requireFloat(input, "mseLoss", "input", file: file, line: line)
    requireFloat(target, "mseLoss", "target", file: file, line: line)
    check(input.shape == target.shape, "mseLoss",
          "input \(describe(shape: input.shape)) and target \(describe(shape: target.shape)) must have the same shape",
          file: file, line: line)
    let count = input.count
    if count == 0 {
        return reduction == .none ? emptyResult(input.shape, "mseLoss", [input, target])
            : Tensor.record(Tensor(reduction == .mean ? Float.nan : 0), "mseLoss", [input, target]) { _, needs in
                [needs[0] ? zeroTensor(input.shape) : nil, needs[1] ? zeroTensor(input.shape) : nil]
            }
    }
    let diff = Tensor.binaryKernel(input, target, outShape: input.shape, -).storage
    let out: Tensor
    switch reduction {
    case .none:
        out = floatTensor(input.shape, diff.map { $0 * $0 })
    case .sum, .mean:
        var total: Double = 0
        for d in diff { total += Double(d * d) }
        out = Tensor(Float(reduction == .mean ? total / Double(count) : total))
    }
    let shape = input.shape
    return Tensor.record(out, "mseLoss", [input, target]) { g, needs in
        var dx = [Float](repeating: 0, count: count)
        g.storage.withUnsafeBufferPointer { pg in
            switch reduction {
            case .none: for i in 0..<count { dx[i] = 2 * diff[i] * pg[i] }
            case .sum, .mean:
                let k = 2 * pg[0] / (reduction == .mean ? Float(count) : 1)
                for i in 0..<count { dx[i] = k * diff[i] }
            }
        }
        return [needs[0] ? floatTensor(shape, dx) : nil, needs[1] ? floatTensor(shape, dx.map { -$0 }) : nil]
    }
}

/// Validated `[N, C, S]` view of a classification loss's input with its targets and class weights.
struct ClassLossLayout {
    let n: Int, c: Int, s: Int
    /// Shape of the `.none` result.
    let perSampleShape: [Int]
    let targets: [Int]
    let weights: [Float]

    init(op: String, input: Tensor, target: Tensor, weight: Tensor?, ignoreIndex: Int, file: StaticString, line: UInt) {
        requireFloat(input, op, "input", file: file, line: line)
        check(target.dtype == .int64, op,
              "target must be an Int64 tensor of class indices, got \(target.dtype) of shape \(describe(shape: target.shape)); call .long()",
              file: file, line: line)
        check(input.rank >= 1, op, "input must have a class dimension, got a scalar", file: file, line: line)
        if input.rank == 1 {
            n = 1; c = input.shape[0]; s = 1
            perSampleShape = []
        } else {
            n = input.shape[0]; c = input.shape[1]
            s = input.rank == 2 ? 1 : Shape.count(Array(input.shape[2...]))
            perSampleShape = [n] + Array(input.shape.dropFirst(2))
        }
        check(target.shape == perSampleShape, op,
              "target \(describe(shape: target.shape)) does not match input \(describe(shape: input.shape)); expected target shape \(describe(shape: perSampleShape))",
              file: file, line: line)
        check(c > 0, op, "input \(describe(shape: input.shape)) has no classes", file: file, line: line)
        let t = target.int64Storage.map { Int($0) }
        for (j, v) in t.enumerated() where v != ignoreIndex && (v < 0 || v >= c) {
            engineFailure(op, "target \(v) is out of bounds for \(c) classes (at flat index \(j) of target \(describe(shape: target.shape)))",
                          file: file, line: line)
        }
        targets = t
        if let weight {
            requireFloat(weight, op, "weight", file: file, line: line)
            check(weight.shape == [c], op, "weight has shape \(describe(shape: weight.shape)) but input \(describe(shape: input.shape)) has \(c) classes",
                  file: file, line: line)
            weights = weight.storage
        } else {
            weights = [Float](repeating: 1, count: c)
        }
    }

    func reduce(_ losses: [Float], reduction: Reduction, denominator: Double) -> Tensor {
        switch reduction {
        case .none: return floatTensor(perSampleShape, losses)
        case .sum, .mean:
            var total: Double = 0
            for l in losses { total += Double(l) }
            // An all-ignored batch gives 0/0 = nan under .mean, as in PyTorch.
            return Tensor(Float(reduction == .mean ? total / denominator : total))
        }
    }

    /// dL/d(per-sample loss) for every sample; 0 for ignored ones.
    func sampleScales(_ g: Tensor, reduction: Reduction, denominator: Double, ignoreIndex: Int) -> [Float] {
        let gs = g.storage
        var scales = [Float](repeating: 0, count: n * s)
        for j in 0..<(n * s) where targets[j] != ignoreIndex {
            switch reduction {
            case .none: scales[j] = gs[j]
            case .sum: scales[j] = gs[0]
            case .mean: scales[j] = Float(Double(gs[0]) / denominator)
            }
        }
        return scales
    }
}
