import Foundation

// 2-D convolution (NCHW) lowered to sgemm.
//
// Forward: a chunk of images is unfolded (im2col) into one column matrix [C*kh*kw, images*Ho*Wo]
// so small feature maps still make one large GEMM per group; 1x1 stride-1 unpadded convolutions
// read the input directly (no unfolding) when one image is processed at a time.
// Backward computes only what is needed: grad input (W^T * dY, then col2im), grad weight
// (dY * cols^T, accumulated over chunks), grad bias (sums of dY).

/// 2-D convolution over `input` `[N, C, H, W]` (or `[C, H, W]`) with `weight`
/// `[outChannels, C / groups, kh, kw]`, as `torch.nn.functional.conv2d`.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                   file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let geometry = ConvGeometry(input: input, weight: weight, bias: bias, stride: stride, padding: padding,
                                dilation: dilation, groups: groups, file: file, line: line)
    let xData = input.storage, wData = weight.storage
    let unbatched = input.rank == 3
    let outShape = unbatched ? [geometry.o, geometry.ho, geometry.wo] : [geometry.n, geometry.o, geometry.ho, geometry.wo]
    let out = Tensor.make(shape: outShape) { y in
        xData.withUnsafeBufferPointer { px in
            wData.withUnsafeBufferPointer { pw in
                if let bias {
                    bias.storage.withUnsafeBufferPointer { pb in
                        geometry.forward(px.baseAddress!, pw.baseAddress!, pb.baseAddress!, y.baseAddress!)
                    }
                } else {
                    geometry.forward(px.baseAddress!, pw.baseAddress!, nil, y.baseAddress!)
                }
            }
        }
    }
    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    let inputShape = input.shape, weightShape = weight.shape
    return Tensor.record(out, "conv2d", inputs) { g, needs in
        let needsInput = needs[0], needsWeight = needs[1], needsBias = needs.count > 2 && needs[2]
        var gx: Tensor?, gw: Tensor?, gb: Tensor?
        if needsInput { gx = Tensor.make(shape: inputShape) { _ in } }
        if needsWeight { gw = Tensor.make(shape: weightShape) { _ in } }
        if needsBias { gb = Tensor.make(shape: [geometry.o]) { _ in } }
        g.storage.withUnsafeBufferPointer { pg in
            xData.withUnsafeBufferPointer { px in
                wData.withUnsafeBufferPointer { pw in
                    withOptionalMutablePointer(gx) { gxp in
                        withOptionalMutablePointer(gw) { gwp in
                            withOptionalMutablePointer(gb) { gbp in
                                geometry.backward(gradOutput: pg.baseAddress!, input: px.baseAddress!, weight: pw.baseAddress!,
                                                  gradInput: gxp, gradWeight: gwp, gradBias: gbp)
                            }
                        }
                    }
                }
            }
        }
        return Array([gx, gw, gb].prefix(inputs.count))
    }
}

/// Sizes of one convolution, validated, with the forward and backward kernels.
struct ConvGeometry {
    let n: Int, c: Int, h: Int, w: Int
    let o: Int, kh: Int, kw: Int
    let sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int
    let groups: Int
    let ho: Int, wo: Int

    var cg: Int { c / groups }
    var og: Int { o / groups }
    /// Rows of one group's column matrix (and columns of its weight matrix).
    var kg: Int { cg * kh * kw }
    var kAll: Int { c * kh * kw }
    var hw: Int { h * w }
    var ohw: Int { ho * wo }
    /// Floats of column buffer a chunk of images may use (tests shrink it to force many chunks).
    /// `WORKBOOK_CONV_CHUNK_FLOATS` overrides it for tuning runs of the benchmark.
    nonisolated(unsafe) static var chunkBudget =
        ProcessInfo.processInfo.environment["WORKBOOK_CONV_CHUNK_FLOATS"].flatMap(Int.init) ?? 1 << 17
    /// Output planes at least this large are lowered one image at a time.
    nonisolated(unsafe) static var wideImage =
        ProcessInfo.processInfo.environment["WORKBOOK_CONV_WIDE_IMAGE"].flatMap(Int.init) ?? 3136

    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }

    init(input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
         dilation: (Int, Int), groups: Int, file: StaticString, line: UInt) {
        let op = "conv2d"
        requireFloat(input, op, "input", file: file, line: line)
        requireFloat(weight, op, "weight", file: file, line: line)
        check(input.rank == 4 || input.rank == 3, op,
              "expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got shape \(describe(shape: input.shape))", file: file, line: line)
        check(weight.rank == 4, op,
              "expected a 4-D weight [outChannels, inChannels / groups, kh, kw], got shape \(describe(shape: weight.shape))",
              file: file, line: line)
        check(groups >= 1, op, "groups must be positive, got \(groups)", file: file, line: line)
        check(stride.0 >= 1 && stride.1 >= 1, op, "stride must be positive, got (\(stride.0), \(stride.1))", file: file, line: line)
        check(dilation.0 >= 1 && dilation.1 >= 1, op, "dilation must be positive, got (\(dilation.0), \(dilation.1))", file: file, line: line)
        check(padding.0 >= 0 && padding.1 >= 0, op, "padding must be non-negative, got (\(padding.0), \(padding.1))", file: file, line: line)
        let s = input.rank == 4 ? input.shape : [1] + input.shape
        n = s[0]; c = s[1]; h = s[2]; w = s[3]
        o = weight.shape[0]; kh = weight.shape[2]; kw = weight.shape[3]
        check(c % groups == 0, op, "input \(describe(shape: input.shape)) has \(c) channels, not divisible by groups \(groups)",
              file: file, line: line)
        check(o % groups == 0, op, "weight \(describe(shape: weight.shape)) has \(o) output channels, not divisible by groups \(groups)",
              file: file, line: line)
        check(weight.shape[1] * groups == c, op,
              "input \(describe(shape: input.shape)) has \(c) channels but weight \(describe(shape: weight.shape)) expects \(weight.shape[1] * groups) (groups \(groups))",
              file: file, line: line)
        if let bias {
            requireFloat(bias, op, "bias", file: file, line: line)
            check(bias.shape == [o], op, "bias \(describe(shape: bias.shape)) does not match \(o) output channels of weight \(describe(shape: weight.shape))",
                  file: file, line: line)
        }
        (sh, sw) = stride; (ph, pw) = padding; (dh, dw) = dilation
        self.groups = groups
        let spanH = h + 2 * ph - dh * (kh - 1) - 1, spanW = w + 2 * pw - dw * (kw - 1) - 1
        check(spanH >= 0 && spanW >= 0 && kh > 0 && kw > 0, op,
              "input \(describe(shape: input.shape)) padded to \(h + 2 * ph)x\(w + 2 * pw) is smaller than the dilated kernel \(dh * (kh - 1) + 1)x\(dw * (kw - 1) + 1) of weight \(describe(shape: weight.shape))",
              file: file, line: line)
        ho = spanH / sh + 1; wo = spanW / sw + 1
    }

    /// Images lowered together: one image when its GEMM is already wide, otherwise as many as fit
    /// a column buffer of about 512 KB, balanced over the chunks. Columns that stay in L2 between
    /// im2col and sgemm measured 1.5-2x faster than 16 MB chunks on small feature maps.
    var imagesPerChunk: Int {
        if n <= 1 || ohw >= ConvGeometry.wideImage { return 1 }
        let perImage = max(kAll, o) * ohw
        let budget = ConvGeometry.chunkBudget
        let fit = max(1, min(n, budget / max(perImage, 1)))
        let chunks = (n + fit - 1) / fit
        return (n + chunks - 1) / chunks
    }

    // MARK: Forward

    func forward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                 _ y: UnsafeMutablePointer<Float>) {
        let nb = imagesPerChunk
        let direct = nb == 1 && isPointwise
        let colSize = direct ? 0 : kAll * nb * ohw
        let tmpSize = nb == 1 ? 0 : o * nb * ohw
        ScratchPool.shared.withBuffer(colSize + tmpSize) { scratch in
            var n0 = 0
            while n0 < n {
                let count = min(nb, n - n0)
                let ld = count * ohw
                let cols: UnsafePointer<Float>
                if direct {
                    cols = x + n0 * c * hw
                } else {
                    im2col(x + n0 * c * hw, images: count, into: scratch)
                    cols = UnsafePointer(scratch)
                }
                let target = count == 1 ? y + n0 * o * ohw : scratch + colSize
                for gi in 0..<groups {
                    sgemm(m: og, n: ld, k: kg, weight + gi * og * kg, lda: kg, cols + gi * kg * ld, ldb: ld,
                          target + gi * og * ld, ldc: ld)
                }
                if count == 1 {
                    if let bias { addBias(bias, to: target, images: 1) }
                } else {
                    scatterChannelMajor(UnsafePointer(target), images: count, channels: o, plane: ohw,
                                        into: y + n0 * o * ohw, bias: bias)
                }
                n0 += count
            }
        }
    }

    private func addBias(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, images: Int) {
        let plane = ohw
        Threads.parallelFor(images * o, costPerItem: plane) { range in
            for item in range {
                let b = bias[item % o]
                let p = y + item * plane
                for i in 0..<plane { p[i] += b }
            }
        }
    }

    // MARK: Backward

    func backward(gradOutput g: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                  gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?,
                  gradBias: UnsafeMutablePointer<Float>?) {
        if let gradBias { biasGradient(g, into: gradBias) }
        if gradInput == nil && gradWeight == nil { return }
        if let gradWeight {
            KernelCounters.conv2dWeightGradients += 1
            if n == 0 { gradWeight.update(repeating: 0, count: o * kg) }
        }
        if gradInput != nil { KernelCounters.conv2dInputGradients += 1 }
        let nb = imagesPerChunk
        let direct = nb == 1 && isPointwise
        // Scratch: gathered dY [O, nb*ohw] (when nb > 1), columns of X (for dW), columns of dX.
        let gatherSize = nb == 1 ? 0 : o * nb * ohw
        let colSize = (gradWeight != nil && !direct) ? kAll * nb * ohw : 0
        let gradColSize = (gradInput != nil && !direct) ? kAll * nb * ohw : 0
        ScratchPool.shared.withBuffer(gatherSize + colSize + gradColSize) { scratch in
            let gathered = scratch, cols = scratch + gatherSize, gradCols = scratch + gatherSize + colSize
            var n0 = 0
            var first = true
            while n0 < n {
                let count = min(nb, n - n0)
                let ld = count * ohw
                let gy: UnsafePointer<Float>
                if count == 1 {
                    gy = g + n0 * o * ohw
                } else {
                    gatherChannelMajor(g + n0 * o * ohw, images: count, channels: o, plane: ohw, into: gathered)
                    gy = UnsafePointer(gathered)
                }
                if let gradWeight {
                    let xc: UnsafePointer<Float>
                    if direct { xc = x + n0 * c * hw } else {
                        im2col(x + n0 * c * hw, images: count, into: cols)
                        xc = UnsafePointer(cols)
                    }
                    for gi in 0..<groups {
                        sgemm(transB: true, m: og, n: kg, k: ld, gy + gi * og * ld, lda: ld, xc + gi * kg * ld, ldb: ld,
                              beta: first ? 0 : 1, gradWeight + gi * og * kg, ldc: kg)
                    }
                }
                if let gradInput {
                    let target = direct ? gradInput + n0 * c * hw : gradCols
                    for gi in 0..<groups {
                        sgemm(transA: true, m: kg, n: ld, k: og, weight + gi * og * kg, lda: kg, gy + gi * og * ld, ldb: ld,
                              target + gi * kg * ld, ldc: ld)
                    }
                    if !direct { col2im(gradCols, images: count, into: gradInput + n0 * c * hw) }
                }
                first = false
                n0 += count
            }
        }
    }

    private func biasGradient(_ g: UnsafePointer<Float>, into gb: UnsafeMutablePointer<Float>) {
        let plane = ohw, images = n, channels = o
        Threads.parallelFor(channels, costPerItem: images * plane) { range in
            for ch in range {
                var total: Double = 0
                for img in 0..<images {
                    let p = g + (img * channels + ch) * plane
                    var s: Float = 0
                    for i in 0..<plane { s += p[i] }
                    total += Double(s)
                }
                gb[ch] = Float(total)
            }
        }
    }

    // MARK: Lowering

    /// Valid output columns `lo..<hi` for kernel column offset `off` (input column = ow*sw + off).
    @inline(__always)
    private func validRange(offset: Int, stride: Int, inputSize: Int, outputSize: Int) -> (Int, Int) {
        let lo = offset >= 0 ? 0 : min(outputSize, (-offset + stride - 1) / stride)
        let last = inputSize - 1 - offset
        let hi = last < 0 ? 0 : min(outputSize, last / stride + 1)
        return (lo, max(lo, hi))
    }

    /// Unfolds `images` images starting at `x` into `cols` `[C*kh*kw, images*Ho*Wo]`.
    func im2col(_ x: UnsafePointer<Float>, images: Int, into cols: UnsafeMutablePointer<Float>) {
        let ld = images * ohw
        let (c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw) = (c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw)
        let hw = self.hw, ohw = self.ohw
        let shifted = sh == 1 && sw == 1 && wo == w
        Threads.parallelFor(kAll * images, costPerItem: ohw) { range in
            for item in range {
                let row = item / images, img = item % images
                let ch = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw
                let src = x + (img * c + ch) * hw
                let dst = cols + row * ld + img * ohw
                let offH = ki * dh - ph, offW = kj * dw - pw
                let (owLo, owHi) = validRange(offset: offW, stride: sw, inputSize: w, outputSize: wo)
                if shifted {
                    // Output row oh reads input row oh + offH at the same width: the whole valid
                    // block is one shifted copy; only the columns that fall into padding need zeros.
                    let (ohLo, ohHi) = validRange(offset: offH, stride: 1, inputSize: h, outputSize: ho)
                    if ohLo == ohHi || owLo == owHi { dst.update(repeating: 0, count: ohw); continue }
                    if ohLo > 0 { dst.update(repeating: 0, count: ohLo * wo) }
                    if ohHi < ho { (dst + ohHi * wo).update(repeating: 0, count: (ho - ohHi) * wo) }
                    let j0 = ohLo * wo + owLo, j1 = (ohHi - 1) * wo + owHi
                    (dst + j0).update(from: src + j0 + offH * w + offW, count: j1 - j0)
                    if owLo > 0 || owHi < wo {
                        for oh in ohLo..<ohHi {
                            let d = dst + oh * wo
                            for ow in 0..<owLo { d[ow] = 0 }
                            for ow in owHi..<wo { d[ow] = 0 }
                        }
                    }
                    continue
                }
                for oh in 0..<ho {
                    let ih = oh * sh + offH
                    let d = dst + oh * wo
                    if ih < 0 || ih >= h || owLo == owHi {
                        d.update(repeating: 0, count: wo)
                        continue
                    }
                    if owLo > 0 { d.update(repeating: 0, count: owLo) }
                    if owHi < wo { (d + owHi).update(repeating: 0, count: wo - owHi) }
                    let s = src + ih * w + offW
                    if sw == 1 {
                        (d + owLo).update(from: s + owLo, count: owHi - owLo)
                    } else {
                        for ow in owLo..<owHi { d[ow] = s[ow * sw] }
                    }
                }
            }
        }
    }

    /// Folds column gradients back onto `images` input planes starting at `gx` (overwrites them).
    /// Each input plane is owned by one work item, so accumulation order is fixed.
    /// The rows of `cols` are used as scratch (padding columns are zeroed in the shifted case).
    func col2im(_ cols: UnsafeMutablePointer<Float>, images: Int, into gx: UnsafeMutablePointer<Float>) {
        let ld = images * ohw
        let (c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw) = (c, h, w, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw)
        let hw = self.hw, ohw = self.ohw
        let shifted = sh == 1 && sw == 1 && wo == w
        Threads.parallelFor(images * c, costPerItem: kh * kw * ohw) { range in
            for item in range {
                let img = item / c, ch = item % c
                let plane = gx + item * hw
                plane.update(repeating: 0, count: hw)
                for ki in 0..<kh {
                    let offH = ki * dh - ph
                    for kj in 0..<kw {
                        let offW = kj * dw - pw
                        let (owLo, owHi) = validRange(offset: offW, stride: sw, inputSize: w, outputSize: wo)
                        if owLo == owHi { continue }
                        let src = cols + ((ch * kh + ki) * kw + kj) * ld + img * ohw
                        if shifted {
                            // Mirror of im2col's shifted copy: one contiguous accumulation once
                            // the entries that belong to padding are zeroed.
                            let (ohLo, ohHi) = validRange(offset: offH, stride: 1, inputSize: h, outputSize: ho)
                            if ohLo == ohHi { continue }
                            if owLo > 0 || owHi < wo {
                                for oh in ohLo..<ohHi {
                                    let d = src + oh * wo
                                    for ow in 0..<owLo { d[ow] = 0 }
                                    for ow in owHi..<wo { d[ow] = 0 }
                                }
                            }
                            let j0 = ohLo * wo + owLo, j1 = (ohHi - 1) * wo + owHi
                            let target = plane + (j0 + offH * w + offW), from = src + j0
                            for j in 0..<(j1 - j0) { target[j] += from[j] }
                            continue
                        }
                        for oh in 0..<ho {
                            let ih = oh * sh + offH
                            if ih < 0 || ih >= h { continue }
                            let d = plane + ih * w + offW
                            let s = src + oh * wo
                            if sw == 1 {
                                for ow in owLo..<owHi { d[ow] += s[ow] }
                            } else {
                                for ow in owLo..<owHi { d[ow * sw] += s[ow] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `[channels, images, plane]` -> `[images, channels, plane]`, adding a per-channel bias.
func scatterChannelMajor(_ src: UnsafePointer<Float>, images: Int, channels: Int, plane: Int,
                         into dst: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?) {
    Threads.parallelFor(images * channels, costPerItem: plane) { range in
        for item in range {
            let img = item / channels, ch = item % channels
            let s = src + (ch * images + img) * plane
            let d = dst + item * plane
            if let bias {
                let b = bias[ch]
                for i in 0..<plane { d[i] = s[i] + b }
            } else {
                d.update(from: s, count: plane)
            }
        }
    }
}

/// `[images, channels, plane]` -> `[channels, images, plane]`.
func gatherChannelMajor(_ src: UnsafePointer<Float>, images: Int, channels: Int, plane: Int,
                        into dst: UnsafeMutablePointer<Float>) {
    Threads.parallelFor(images * channels, costPerItem: plane) { range in
        for item in range {
            let ch = item / images, img = item % images
            (dst + item * plane).update(from: src + (img * channels + ch) * plane, count: plane)
        }
    }
}
