// Functional batch normalization over the channel dimension 1 of [N, C] or [N, C, H, W]
// (any [N, C, ...]). Channels are independent, so every loop runs in parallel over channels.

/// Batch normalization, as `torch.nn.functional.batch_norm`.
///
/// Training: normalizes with the batch mean and biased batch variance and, when running stats
/// are given, updates them in place: `running = (1 - momentum) * running + momentum * batchStat`
/// with the *unbiased* batch variance (PyTorch's rule). Eval: normalizes with the running stats.
public func batchNorm(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                      bias: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let op = "batchNorm"
    requireFloat(input, op, "input", file: file, line: line)
    check(input.rank >= 2, op, "expected an input [N, C] or [N, C, H, W], got shape \(describe(shape: input.shape))",
          file: file, line: line)
    let n = input.shape[0], c = input.shape[1]
    let s = c == 0 || n == 0 ? 0 : input.count / (n * c)
    let m = n * s
    for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
        guard let t else { continue }
        requireFloat(t, op, name, file: file, line: line)
        check(t.shape == [c], op, "\(name) has shape \(describe(shape: t.shape)) but input \(describe(shape: input.shape)) has \(c) channels",
              file: file, line: line)
    }
    check((runningMean == nil) == (runningVar == nil), op, "pass both runningMean and runningVar, or neither", file: file, line: line)
    let useBatchStats = training || runningMean == nil
    check(!useBatchStats || m > 1, op,
          "expected more than 1 value per channel when training, got input \(describe(shape: input.shape))", file: file, line: line)

    var optionalInputs = [input]
    for t in [weight, bias] { if let t { optionalInputs.append(t) } }
    if input.count == 0 { return emptyResult(input.shape, op, optionalInputs) }
    let xData = input.storage
    let weightData = weight?.storage, biasData = bias?.storage
    // Per channel: the mean and 1/sqrt(var + eps) used to normalize.
    var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
    if useBatchStats {
        var unbiasedVar = [Float](repeating: 0, count: c)
        xData.withUnsafeBufferPointer { px in
            mean.withUnsafeMutableBufferPointer { pm in
                invStd.withUnsafeMutableBufferPointer { pi in
                    unbiasedVar.withUnsafeMutableBufferPointer { pu in
                        let x = px.baseAddress!, meanP = pm.baseAddress!, invP = pi.baseAddress!, uvP = pu.baseAddress!
                        Threads.parallelFor(c, costPerItem: 2 * m) { range in
                            for ch in range {
                                var total: Double = 0
                                for img in 0..<n {
                                    let p = x + (img * c + ch) * s
                                    var acc: Float = 0
                                    for i in 0..<s { acc += p[i] }
                                    total += Double(acc)
                                }
                                let mu = Float(total / Double(m))
                                var squares: Double = 0
                                for img in 0..<n {
                                    let p = x + (img * c + ch) * s
                                    var acc: Float = 0
                                    for i in 0..<s { let d = p[i] - mu; acc += d * d }
                                    squares += Double(acc)
                                }
                                meanP[ch] = mu
                                invP[ch] = Float(1 / (squares / Double(m) + Double(eps)).squareRoot())
                                uvP[ch] = Float(squares / Double(max(m - 1, 1)))
                            }
                        }
                    }
                }
            }
        }
        if training, let runningMean, let runningVar {
            runningMean.withUnsafeMutableBufferPointer { rm in
                for ch in 0..<c { rm[ch] = (1 - momentum) * rm[ch] + momentum * mean[ch] }
            }
            runningVar.withUnsafeMutableBufferPointer { rv in
                for ch in 0..<c { rv[ch] = (1 - momentum) * rv[ch] + momentum * unbiasedVar[ch] }
            }
        }
    } else {
        mean = runningMean!.storage
        invStd = runningVar!.storage.map { 1 / ($0 + eps).squareRoot() }
    }

    // y = x * scale + shift with scale = w * invStd, shift = b - mean * scale.
    var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
    for ch in 0..<c {
        scale[ch] = (weightData?[ch] ?? 1) * invStd[ch]
        shift[ch] = (biasData?[ch] ?? 0) - mean[ch] * scale[ch]
    }
    let out = Tensor.make(shape: input.shape) { y in
        xData.withUnsafeBufferPointer { px in
            let x = px.baseAddress!, yo = y.baseAddress!
            Threads.parallelFor(n * c, costPerItem: s) { range in
                for item in range {
                    let ch = item % c, a = scale[ch], b = shift[ch]
                    let src = x + item * s, dst = yo + item * s
                    for i in 0..<s { dst[i] = src[i] * a + b }
                }
            }
        }
    }

    var inputs = [input]
    let weightSlot = weight.map { inputs.append($0); return inputs.count - 1 }
    let biasSlot = bias.map { inputs.append($0); return inputs.count - 1 }
    let inputShape = input.shape
    let savedMean = mean, savedInvStd = invStd
    return Tensor.record(out, op, inputs) { g, needs in
        let needX = needs[0]
        let needW = weightSlot.map { needs[$0] } ?? false
        let needB = biasSlot.map { needs[$0] } ?? false
        // Per channel: sum(dy) and sum(dy * xhat).
        var sumG = [Float](repeating: 0, count: c), sumGXhat = [Float](repeating: 0, count: c)
        var gx: Tensor?
        g.storage.withUnsafeBufferPointer { pg in
            xData.withUnsafeBufferPointer { px in
                let gp = pg.baseAddress!, x = px.baseAddress!
                sumG.withUnsafeMutableBufferPointer { psg in
                    sumGXhat.withUnsafeMutableBufferPointer { psx in
                        let sg = psg.baseAddress!, sx = psx.baseAddress!
                        Threads.parallelFor(c, costPerItem: 2 * m) { range in
                            for ch in range {
                                let mu = savedMean[ch]
                                var t0: Double = 0, t1: Double = 0
                                for img in 0..<n {
                                    let off = (img * c + ch) * s
                                    var a0: Float = 0, a1: Float = 0
                                    for i in 0..<s { a0 += gp[off + i]; a1 += gp[off + i] * (x[off + i] - mu) }
                                    t0 += Double(a0); t1 += Double(a1)
                                }
                                sg[ch] = Float(t0)
                                sx[ch] = Float(t1) * savedInvStd[ch]
                            }
                        }
                    }
                }
                if needX {
                    gx = Tensor.make(shape: inputShape) { out in
                        let o = out.baseAddress!
                        Threads.parallelFor(n * c, costPerItem: s) { range in
                            for item in range {
                                let ch = item % c
                                let inv = savedInvStd[ch], a = (weightData?[ch] ?? 1) * inv, mu = savedMean[ch]
                                let off = item * s
                                if useBatchStats {
                                    // dx = w*invStd * (dy - mean(dy) - xhat * mean(dy * xhat))
                                    let meanG = sumG[ch] / Float(m), k = sumGXhat[ch] / Float(m) * inv
                                    for i in 0..<s { o[off + i] = a * (gp[off + i] - meanG - (x[off + i] - mu) * k) }
                                } else {
                                    for i in 0..<s { o[off + i] = a * gp[off + i] }
                                }
                            }
                        }
                    }
                }
            }
        }
        var grads: [Tensor?] = [gx]
        if weightSlot != nil { grads.append(needW ? floatTensor([c], sumGXhat) : nil) }
        if biasSlot != nil { grads.append(needB ? floatTensor([c], sumG) : nil) }
        return grads
    }
}
