import CEngineSupport

// Functional batch normalization over the channel dimension 1 of [N, C] or [N, C, H, W]
// (any [N, C, ...]), optionally fused with the ReLU that follows it in ResNets, or with the
// residual addition and ReLU that end a residual block.
//
// Channels are independent, so the training-mode kernels run in parallel over channels and handle
// one channel completely before the next: its statistics pass reads the channel from memory, and
// the normalizing pass that follows finds it still in the core's L2 cache (a channel of a
// 128 x 28 x 28 batch is 400 KB). The backward pass does the same with its two passes. The loops
// over a channel's elements are C (CEngineSupport/batch_norm.c): 16-lane FMA where available.

/// Batch normalization, as `torch.nn.functional.batch_norm`.
///
/// Training: normalizes with the batch mean and biased batch variance and, when running stats
/// are given, updates them in place: `running = (1 - momentum) * running + momentum * batchStat`
/// with the *unbiased* batch variance (PyTorch's rule). Eval: normalizes with the running stats.
public func batchNorm(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                      bias: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    batchNormKernel(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                    training: training, momentum: momentum, eps: eps, reLU: false, op: "batchNorm", file: file, line: line)
}

/// `relu(batchNorm(...))` in one pass over memory, with its own backward: the convolution-BN-ReLU
/// pattern of ResNets. Same arguments, results and running-statistics updates as `batchNorm`.
public func batchNormReLU(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                          bias: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                          file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    batchNormKernel(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                    training: training, momentum: momentum, eps: eps, reLU: true, op: "batchNormReLU", file: file, line: line)
}

/// `relu(batchNorm(...) + residual)`, the end of a residual block, in one pass over memory forward
/// and one masking pass backward (which also yields the batch norm's gradient sums); no normalized
/// tensor is written or kept. `residual` has the input's shape; otherwise as `batchNorm`.
public func batchNormAddReLU(_ input: Tensor, adding residual: Tensor, runningMean: Tensor?, runningVar: Tensor?,
                             weight: Tensor?, bias: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                             file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    batchNormKernel(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                    training: training, momentum: momentum, eps: eps, reLU: true, residual: residual,
                    op: "batchNormAddReLU", file: file, line: line)
}

private func batchNormKernel(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                             bias: Tensor?, training: Bool, momentum: Float, eps: Float, reLU: Bool,
                             residual: Tensor? = nil, op: String, file: StaticString, line: UInt) -> Tensor {
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
    if let residual {
        requireFloat(residual, op, "residual", file: file, line: line)
        check(residual.shape == input.shape, op,
              "residual has shape \(describe(shape: residual.shape)) but input has shape \(describe(shape: input.shape))",
              file: file, line: line)
    }
    check((runningMean == nil) == (runningVar == nil), op, "pass both runningMean and runningVar, or neither", file: file, line: line)
    let useBatchStats = training || runningMean == nil
    check(!useBatchStats || m > 1, op,
          "expected more than 1 value per channel when training, got input \(describe(shape: input.shape))", file: file, line: line)

    var optionalInputs = [input]
    for t in [residual, weight, bias] { if let t { optionalInputs.append(t) } }
    if input.count == 0 { return emptyResult(input.shape, op, optionalInputs) }
    let xData = input.storage
    // Kept for the backward's ReLU mask; the caller holds it anyway (a block's input).
    let residualData = residual?.storage
    let weightData = weight?.storage ?? [Float](repeating: 1, count: c)
    let biasData = bias?.storage ?? [Float](repeating: 0, count: c)
    // Per channel: the mean and 1/sqrt(var + eps) used to normalize, and the resulting affine map
    // y = x * scale + shift with scale = w * invStd, shift = b - mean * scale.
    var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
    var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
    let out: Tensor
    if useBatchStats {
        var unbiasedVar = [Float](repeating: 0, count: c)
        out = Tensor.make(shape: input.shape) { yBuffer in
            let y = yBuffer.baseAddress!
            xData.withUnsafeBufferPointer { px in withOptionalPointer(residualData) { r in
                let x = px.baseAddress!
                mean.withUnsafeMutableBufferPointer { pm in
                    invStd.withUnsafeMutableBufferPointer { pi in
                        unbiasedVar.withUnsafeMutableBufferPointer { pu in
                            scale.withUnsafeMutableBufferPointer { pa in
                                shift.withUnsafeMutableBufferPointer { pb in
                                    let meanP = pm.baseAddress!, invP = pi.baseAddress!, uvP = pu.baseAddress!
                                    let scaleP = pa.baseAddress!, shiftP = pb.baseAddress!
                                    Threads.parallelFor(c, costPerItem: 3 * m) { range in
                                        for ch in range {
                                            // One pass: sums of (x - k) and (x - k)^2 around a sample k of
                                            // the channel, which keeps the cancellation in var = E[d^2] - E[d]^2 small.
                                            let k = x[ch * s]
                                            var sum: Double = 0, squares: Double = 0
                                            engine_batch_norm_stats(x + ch * s, n, c * s, s, k, &sum, &squares)
                                            let d = sum / Double(m)
                                            let centered = max(squares - sum * d, 0)  // sum((x - mean)^2)
                                            let mu = Float(Double(k) + d)
                                            let inv = Float(1 / (centered / Double(m) + Double(eps)).squareRoot())
                                            meanP[ch] = mu
                                            invP[ch] = inv
                                            uvP[ch] = Float(centered / Double(max(m - 1, 1)))
                                            let a = weightData[ch] * inv
                                            let b = biasData[ch] - mu * a
                                            scaleP[ch] = a; shiftP[ch] = b
                                            engine_batch_norm_affine(x + ch * s, r.map { $0 + ch * s }, y + ch * s, n,
                                                                     c * s, s, a, b, reLU ? 1 : 0)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
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
        for ch in 0..<c {
            scale[ch] = weightData[ch] * invStd[ch]
            shift[ch] = biasData[ch] - mean[ch] * scale[ch]
        }
        out = Tensor.make(shape: input.shape) { yBuffer in
            xData.withUnsafeBufferPointer { px in
                withOptionalPointer(residualData) { r in
                    let x = px.baseAddress!, y = yBuffer.baseAddress!
                    Threads.parallelFor(n * c, costPerItem: s) { range in
                        for item in range {
                            let ch = item % c
                            engine_batch_norm_affine(x + item * s, r.map { $0 + item * s }, y + item * s, 1, s, s, scale[ch],
                                                     shift[ch], reLU ? 1 : 0)
                        }
                    }
                }
            }
        }
    }

    var inputs = [input]
    let residualSlot = residual.map { inputs.append($0); return inputs.count - 1 }
    let weightSlot = weight.map { inputs.append($0); return inputs.count - 1 }
    let biasSlot = bias.map { inputs.append($0); return inputs.count - 1 }
    let inputShape = input.shape
    let savedMean = mean, savedInvStd = invStd, savedScale = scale, savedShift = shift
    return Tensor.record(out, op, inputs) { g, needs in
        let needX = needs[0]
        let needR = residualSlot.map { needs[$0] } ?? false
        let needW = weightSlot.map { needs[$0] } ?? false
        let needB = biasSlot.map { needs[$0] } ?? false
        // A ReLU after an added residual: its mask needs the residual, so the sums pass writes the
        // masked gradient (the residual's gradient) and the passes after it read that instead.
        let masksResidual = residualData != nil && reLU
        // With batch statistics dx depends on both per-channel sums; with running statistics the
        // sums are only needed for the weight and bias gradients.
        let needSums = needW || needB || (needX && useBatchStats) || masksResidual
        // Per channel: sum(dy) and sum(dy * xhat), dy being the gradient after the ReLU mask.
        var sumG = [Float](repeating: 0, count: c), sumGXhat = [Float](repeating: 0, count: c)
        func inputGradient(masked gm: UnsafeMutablePointer<Float>?) -> Tensor? {
            var gx: Tensor?
            g.storage.withUnsafeBufferPointer { pg in
                xData.withUnsafeBufferPointer { px in withOptionalPointer(residualData) { r in
                    let x = px.baseAddress!
                    // The passes after the sums read dy already masked, when the sums wrote it.
                    let gp = gm.map { UnsafePointer($0) } ?? pg.baseAddress!, maskReLU: Int32 = reLU && gm == nil ? 1 : 0
                    sumG.withUnsafeMutableBufferPointer { psg in
                        sumGXhat.withUnsafeMutableBufferPointer { psx in
                            let sg = psg.baseAddress!, sx = psx.baseAddress!
                            // The ReLU mask is recomputed from x with the forward's own scale and shift
                            // (bit-identical), so the fused op saves no output tensor.
                            func channelSums(_ ch: Int) {
                                var t0: Double = 0, t1: Double = 0
                                if let gm, let r {
                                    engine_batch_norm_residual_gradient_sums(pg.baseAddress! + ch * s, x + ch * s, r + ch * s,
                                                                             gm + ch * s, n, c * s, s, savedMean[ch],
                                                                             savedScale[ch], savedShift[ch], &t0, &t1)
                                } else {
                                    engine_batch_norm_gradient_sums(gp + ch * s, x + ch * s, n, c * s, s, savedMean[ch],
                                                                    savedScale[ch], savedShift[ch], maskReLU, &t0, &t1)
                                }
                                sg[ch] = Float(t0)
                                sx[ch] = Float(t1) * savedInvStd[ch]
                            }
                            if needX {
                                gx = Tensor.make(shape: inputShape) { outBuffer in
                                    let o = outBuffer.baseAddress!
                                    if useBatchStats {
                                        Threads.parallelFor(c, costPerItem: 4 * m) { range in
                                            for ch in range {
                                                channelSums(ch)
                                                // dx = w*invStd * (dy - mean(dy) - xhat * mean(dy * xhat))
                                                let inv = savedInvStd[ch], a = weightData[ch] * inv
                                                let meanG = sg[ch] / Float(m), k = sx[ch] / Float(m) * inv
                                                engine_batch_norm_input_gradient(gp + ch * s, x + ch * s, o + ch * s, n, c * s,
                                                                                 s, a, meanG, savedMean[ch], k, savedScale[ch],
                                                                                 savedShift[ch], maskReLU)
                                            }
                                        }
                                    } else {
                                        if needSums {
                                            Threads.parallelFor(c, costPerItem: 2 * m) { range in for ch in range { channelSums(ch) } }
                                        }
                                        Threads.parallelFor(n * c, costPerItem: s) { range in
                                            for item in range {
                                                let ch = item % c, off = item * s
                                                engine_batch_norm_scaled_gradient(gp + off, x + off, o + off, 1, s, s,
                                                                                  weightData[ch] * savedInvStd[ch],
                                                                                  savedScale[ch], savedShift[ch], maskReLU)
                                            }
                                        }
                                    }
                                }
                            } else if needSums {
                                Threads.parallelFor(c, costPerItem: 2 * m) { range in for ch in range { channelSums(ch) } }
                            }
                        }
                    }
                } }
            }
            return gx
        }
        var gx: Tensor?, gr: Tensor?
        if masksResidual {
            gr = Tensor.make(shape: inputShape) { gx = inputGradient(masked: $0.baseAddress!) }
        } else {
            gx = inputGradient(masked: nil)
            gr = needR ? g : nil
        }
        var grads: [Tensor?] = [gx]
        if residualSlot != nil { grads.append(gr) }
        if weightSlot != nil { grads.append(needW ? floatTensor([c], sumGXhat) : nil) }
        if biasSlot != nil { grads.append(needB ? floatTensor([c], sumG) : nil) }
        return grads
    }
}
