import CEngineSupport
import Foundation

// 2-D convolution (NCHW) lowered to sgemm.
//
// Forward: the batch is cut into tiles whose im2col columns stay in cache (about 512 KB): several
// small images lowered together into one wide column matrix [C*kh*kw, images*Ho*Wo], or bands of
// output rows of one large image. Same-size stride-1 layers unfold with one shifted copy per
// kernel tap. 1x1 stride-1 unpadded convolutions read the input in place (no im2col).
// Backward computes only what is needed: grad weight (dY * cols^T, accumulated over tiles in a
// fixed order), grad input (stride 1: the dual convolution of dY with the flipped weight;
// otherwise W^T * dY then col2im), grad bias (sums of dY).

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
    if geometry.n == 0 || geometry.c == 0 || geometry.o == 0 {
        return emptyResult(outShape, "conv2d", bias.map { [input, weight, $0] } ?? [input, weight])
    }
    let transformed = geometry.forwardWinogradWeights(weight)
    let out = geometry.output(input, weight, bias: bias, shape: outShape, transformed: transformed?.values)
    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    let reusable = geometry.reusesForwardWinogradWeights ? transformed?.values : nil
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
                                withOptionalPointer(reusable) { pu in
                                    geometry.backward(gradOutput: pg.baseAddress!, input: px.baseAddress!,
                                                      weight: pw.baseAddress!, forwardWinogradWeights: pu,
                                                      gradInput: gxp, gradWeight: gwp, gradBias: gbp)
                                }
                            }
                        }
                    }
                }
            }
        }
        return Array([gx, gw, gb].prefix(inputs.count))
    }
}

/// `conv2d(input, weight)` followed by a per-output-channel affine map, an optional residual and an
/// optional ReLU: `relu(conv * scale + shift + residual)`, with `scale` and `shift` of shape
/// `[outChannels]` and `residual` shaped like the output. This is an eval-mode batch norm folded
/// into the convolution (what PyTorch's `fuse_conv_bn_eval` does offline), with a ResNet block's
/// shortcut and ReLU: when no gradient is recorded it is all applied as the convolution writes
/// its output, so the batch norm and the addition cost no pass over memory and no tensor of their
/// own. When gradients are wanted it runs as the separate differentiable ops.
public func conv2dAffine(_ input: Tensor, weight: Tensor, scale: Tensor, shift: Tensor, residual: Tensor? = nil,
                         reLU: Bool = false, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                         dilation: (Int, Int) = (1, 1), groups: Int = 1,
                         file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let op = "conv2dAffine"
    let outputs = weight.rank == 4 ? weight.shape[0] : -1
    for (name, t) in [("scale", scale), ("shift", shift)] {
        requireFloat(t, op, name, file: file, line: line)
        check(t.shape == [outputs], op,
              "\(name) has shape \(describe(shape: t.shape)) but the weight \(describe(shape: weight.shape)) has \(outputs) output channels",
              file: file, line: line)
    }
    let geometry = ConvGeometry(input: input, weight: weight, bias: shift, stride: stride, padding: padding,
                                dilation: dilation, groups: groups, file: file, line: line)
    let outShape = input.rank == 3 ? [geometry.o, geometry.ho, geometry.wo] : [geometry.n, geometry.o, geometry.ho, geometry.wo]
    if let residual {
        requireFloat(residual, op, "residual", file: file, line: line)
        check(residual.shape == outShape, op,
              "residual has shape \(describe(shape: residual.shape)) but the convolution's output is \(describe(shape: outShape))",
              file: file, line: line)
    }
    let wantsGradient = GradMode.isEnabled && ([input, weight, scale, shift] + [residual].compactMap { $0 }).contains(where: \.requiresGrad)
    if wantsGradient || geometry.n == 0 || geometry.c == 0 || geometry.o == 0 {
        let y = conv2d(input, weight: weight, bias: nil, stride: stride, padding: padding, dilation: dilation,
                       groups: groups, file: file, line: line)
        let channel = input.rank == 3 ? [outputs, 1, 1] : [1, outputs, 1, 1]
        var z = y * scale.reshape(channel) + shift.reshape(channel)
        if let residual { z = z + residual }
        return reLU ? z.relu() : z
    }
    return geometry.output(input, weight, bias: shift, scale: scale, residual: residual, reLU: reLU, shape: outShape,
                           transformed: geometry.cachedWinogradWeights(weight))
}

/// What a convolution's forward pass applies to each output as it writes it, besides the bias:
/// a per-output-channel factor (an eval-mode batch norm folded in) and ReLU.
struct ConvEpilogue {
    var scale: UnsafePointer<Float>? = nil
    /// Added before the ReLU; laid out like the whole output [N, O, Ho, Wo].
    var residual: UnsafePointer<Float>? = nil
    var reLU = false
    var isIdentity: Bool { scale == nil && residual == nil && !reLU }

    /// The same epilogue for the outputs from image `image` on (`imageFloats` floats each).
    func from(image: Int, imageFloats: Int) -> ConvEpilogue {
        ConvEpilogue(scale: scale, residual: residual.map { $0 + image * imageFloats }, reLU: reLU)
    }
}

/// Sizes of one convolution, validated, with the forward and backward kernels.
struct ConvGeometry {
    let n: Int, c: Int, h: Int, w: Int
    let o: Int, kh: Int, kw: Int
    let sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int
    let groups: Int
    let ho: Int, wo: Int
    /// The policy in force when the convolution was called, and the engine's thread count then.
    let policy: ConvPolicy, threads: Int
    /// The kernels each pass runs, decided once from the sizes and `policy` (ConvPlan.swift).
    private(set) var plan = ConvPlan.unplanned

    var cg: Int { c / groups }
    var og: Int { o / groups }
    /// Rows of one group's column matrix (and columns of its weight matrix).
    var kg: Int { cg * kh * kw }
    var kAll: Int { c * kh * kw }
    var hw: Int { h * w }
    var ohw: Int { ho * wo }
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }

    /// `policy`: by default the one scoped by the caller (`ConvPolicy.current`).
    init(input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
         dilation: (Int, Int), groups: Int, policy: ConvPolicy = ConvPolicy.current.get(),
         threads: Int = Threads.count, file: StaticString, line: UInt) {
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
        self.policy = policy
        self.threads = threads
        plan = ConvPlan(self, policy: policy, threads: threads)
    }

    /// A geometry from sizes already known to be valid (the dual convolution of a backward pass).
    init(n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, padding: (Int, Int), dilation: (Int, Int),
         policy: ConvPolicy = ConvPolicy.current.get(), threads: Int = Threads.count) {
        self.n = n; self.c = c; self.h = h; self.w = w; self.o = o; self.kh = kh; self.kw = kw
        (sh, sw) = (1, 1); (ph, pw) = padding; (dh, dw) = dilation
        groups = 1
        ho = h + 2 * ph - dh * (kh - 1); wo = w + 2 * pw - dw * (kw - 1)
        self.policy = policy
        self.threads = threads
        plan = ConvPlan(self, policy: policy, threads: threads)
    }

    /// For stride 1 the input gradient is itself a convolution: dY padded by `d*(k-1) - p`,
    /// correlated with the weight flipped in space and with in/out channels swapped. Its GEMM is
    /// shaped like the forward one ([C, O*k*k] x [O*k*k, pixels]), which stays efficient when O is
    /// small, unlike W^T * dY ([C*k*k, O] x [O, pixels]) followed by col2im.
    var dualForInputGradient: ConvGeometry? {
        guard hasDualForInputGradient else { return nil }
        return ConvGeometry(n: n, c: o, h: ho, w: wo, o: c, kh: kh, kw: kw,
                            padding: (dh * (kh - 1) - ph, dw * (kw - 1) - pw), dilation: (dh, dw), policy: policy,
                            threads: threads)
    }

    /// Whether `dualForInputGradient` exists (the plan asks without building it).
    var hasDualForInputGradient: Bool {
        // With very few input channels the dual GEMM has almost no rows (the RGB stem); col2im wins.
        sh == 1 && sw == 1 && groups == 1 && !isPointwise && c >= policy.dualInputGradientMinimumChannels
            && dh * (kh - 1) - ph >= 0 && dw * (kw - 1) - pw >= 0
    }

    /// `[O, C, kh, kw]` -> `[C, O, kh, kw]` flipped in both spatial dimensions.
    func flippedTransposedWeight(_ weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let k = kh * kw
        for oc in 0..<o {
            for ic in 0..<c {
                let src = weight + (oc * c + ic) * k, dst = out + (ic * o + oc) * k
                for i in 0..<k { dst[i] = src[k - 1 - i] }
            }
        }
    }

    /// One unit of lowering: `count` whole images, or (count 1) output rows `oh0..<oh1` of one image.
    struct Tile {
        let n0: Int, count: Int, oh0: Int, oh1: Int
    }

    /// The tiles covering the batch. Several small images are lowered together so their GEMM is
    /// wide; large images are split into bands of output rows. Either way the column buffer stays
    /// near `policy.columnBudgetFloats` floats (512 KB, about half an L2): columns written by im2col are still in
    /// cache when sgemm reads them, measured 1.5-2x faster than whole-image 16 MB columns.
    var tiles: [Tile] {
        // OpenBLAS splits each GEMM across threads, so each core's share is budget / threads;
        // fewer, larger tiles also mean fewer thread wake-ups (measured: 5-10x less system time).
        tiles(budget: policy.columnBudgetFloats * max(1, Threads.count))
    }

    /// Tiles for the threads to take whole, a run of them each, with a column buffer of
    /// `policy.columnBudgetFloats` floats per thread; nil when there are fewer such tiles than threads or a tile
    /// would hold part of an image (its epilogue needs the whole image). Whole tiles per thread
    /// need one hand-off per layer instead of one per tile, skip the copies that grouping small
    /// images takes, and apply the epilogue per image while the output is in cache (measured:
    /// ResNet-50's eval step ~4% faster, its 1x1 input gradients 10-15%, ResNet-18's strided
    /// projections 15-30%). Each tile's products are single OpenBLAS calls whichever thread runs
    /// them, so the forward pass does not depend on the thread count.
    var parallelTiles: [Tile]? {
        guard Threads.count > 1 && !Threads.isInsidePool else { return nil }
        let tiles = tiles(budget: policy.columnBudgetFloats)
        guard tiles.count >= Threads.count && tiles.allSatisfy({ $0.oh0 == 0 && $0.oh1 == ho }) else { return nil }
        return tiles
    }

    /// The tiles covering the batch with a column buffer of at most about `budget` floats each.
    func tiles(budget: Int) -> [Tile] {
        let perImage = max(kAll, o) * ohw
        var result: [Tile] = []
        if n > 1 && ohw < policy.wideImagePixels && perImage * 2 <= budget {
            let fit = min(n, budget / perImage)
            let chunks = (n + fit - 1) / fit
            let nb = (n + chunks - 1) / chunks
            var n0 = 0
            while n0 < n {
                result.append(Tile(n0: n0, count: min(nb, n - n0), oh0: 0, oh1: ho))
                n0 += nb
            }
            return result
        }
        let fitRows = isPointwise ? ho : max(1, min(ho, budget / max(kAll * wo, 1)))
        let bands = (ho + fitRows - 1) / fitRows
        let rows = (ho + bands - 1) / bands
        for n0 in 0..<n {
            var oh0 = 0
            while oh0 < ho {
                result.append(Tile(n0: n0, count: 1, oh0: oh0, oh1: min(ho, oh0 + rows)))
                oh0 += rows
            }
        }
        return result
    }

    /// Floats of column buffer the largest tile needs.
    private func columnFloats(_ tiles: [Tile]) -> Int {
        tiles.map { kAll * $0.count * ($0.oh1 - $0.oh0) * wo }.max() ?? 0
    }

    // MARK: Forward

    /// The forward pass as a new tensor of `shape` (no autograd): `input` convolved with `weight`,
    /// plus `bias`, through the epilogue that `scale`, `residual` and `reLU` describe; `transformed`,
    /// the Winograd transform of `weight` for this geometry where the caller has one.
    func output(_ input: Tensor, _ weight: Tensor, bias: Tensor?, scale: Tensor? = nil, residual: Tensor? = nil,
                reLU: Bool = false, shape: [Int], transformed: [Float]?) -> Tensor {
        return Tensor.make(shape: shape) { y in
            input.storage.withUnsafeBufferPointer { px in
                weight.storage.withUnsafeBufferPointer { pw in
                    withOptionalPointer(bias?.storage) { pb in
                        withOptionalPointer(scale?.storage) { ps in
                            withOptionalPointer(residual?.storage) { pr in
                                withOptionalPointer(transformed) { pu in
                                    forward(px.baseAddress!, pw.baseAddress!, pb, y.baseAddress!, transformedWeights: pu,
                                            epilogue: ConvEpilogue(scale: ps, residual: pr, reLU: reLU))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `transformedWeights`: the weight's Winograd transform for this geometry, when the caller has it.
    /// Each output is written as `(sum + bias) * 1`, or through `epilogue` (`sum * scale + bias`, ReLU).
    func forward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                 _ y: UnsafeMutablePointer<Float>, transformedWeights: UnsafePointer<Float>? = nil,
                 epilogue: ConvEpilogue = ConvEpilogue()) {
        switch plan.forward {
        case .winograd:
            return winogradForward(x, weight, bias, y, epilogue: epilogue, transformed: transformedWeights)
        case .flat:
            return flatForward(x, weight, bias, y, epilogue: epilogue)
        case .gemm:
            break
        }
        if let tiles = parallelTiles {
            forwardInParallel(tiles, x, weight, bias, y, epilogue: epilogue)
            return
        }
        if !epilogue.isIdentity {
            // sgemm cannot apply it: one pass over the output afterwards (with the bias).
            forward(x, weight, nil, y)
            Threads.parallelFor(n, costPerItem: o * ohw) { range in
                for img in range {
                    engine_channel_affine(y + img * o * ohw, Int32(o), ohw, epilogue.scale, bias,
                                          epilogue.from(image: img, imageFloats: o * ohw).residual, epilogue.reLU ? 1 : 0)
                }
            }
            return
        }
        let tiles = self.tiles
        let buffers = TileBuffers(self, tiles, forward: true)
        ScratchPool.shared.withBuffer(buffers.floats) { scratch in
            for tile in tiles { forwardTile(tile, x, weight, bias, y, buffers, scratch) }
        }
    }

    /// Scratch a run of tiles needs: a channel-major [O, count * Ho*Wo] block for tiles of several
    /// images (the forward's products, the backward's gathered dY), columns of X and of dX (none for
    /// 1x1 stride-1 convolutions of single images, which read and write in place).
    private struct TileBuffers {
        let direct: Bool, channelMajor: Int, columns: Int, gradColumns: Int
        var floats: Int { channelMajor + columns + gradColumns }

        init(_ geometry: ConvGeometry, _ tiles: [Tile], forward: Bool, weightGradient: Bool = false,
             inputGradient: Bool = false) {
            direct = geometry.isPointwise && tiles.allSatisfy { $0.count == 1 }
            channelMajor = tiles.map { $0.count > 1 ? geometry.o * $0.count * geometry.ohw : 0 }.max() ?? 0
            let lowered = direct ? 0 : geometry.columnFloats(tiles)
            columns = forward || weightGradient ? lowered : 0
            gradColumns = inputGradient ? lowered : 0
        }
    }

    private func forwardTile(_ tile: Tile, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                             _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ buffers: TileBuffers,
                             _ scratch: UnsafeMutablePointer<Float>) {
        let ld = tile.count * (tile.oh1 - tile.oh0) * wo
        let products = scratch, cols = scratch + buffers.channelMajor
        let lowered: UnsafePointer<Float>
        if buffers.direct {
            lowered = x + tile.n0 * c * hw
        } else {
            im2col(x + tile.n0 * c * hw, tile: tile, into: cols)
            lowered = UnsafePointer(cols)
        }
        // One image: write straight into its output rows; several: channel-major temp.
        let (target, ldy) = tile.count == 1 ? (y + tile.n0 * o * ohw + tile.oh0 * wo, ohw) : (products, ld)
        for gi in 0..<groups {
            sgemm(m: og, n: ld, k: kg, weight + gi * og * kg, lda: kg, lowered + gi * kg * ld, ldb: ld,
                  target + gi * og * ldy, ldc: ldy)
        }
        if tile.count > 1 {
            scatterChannelMajor(UnsafePointer(target), images: tile.count, channels: o, plane: ohw,
                                into: y + tile.n0 * o * ohw, bias: bias)
        } else if let bias, tile.oh1 == ho {
            addBias(bias, to: y + tile.n0 * o * ohw, images: 1)
        }
    }

    /// Part `part` of `count` items split into `parts` contiguous runs.
    private func partRange(_ part: Int, of parts: Int, _ count: Int) -> Range<Int> {
        (count * part / parts)..<(count * (part + 1) / parts)
    }

    /// `parallelTiles`: each thread lowers and multiplies its run of tiles whole, then applies the
    /// epilogue (with the bias as its shift) to those images.
    private func forwardInParallel(_ tiles: [Tile], _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                   _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        KernelCounters.convTilesInParallel += 1
        let buffers = TileBuffers(self, tiles, forward: true), parts = Threads.count, imageOut = o * ohw
        Threads.run(parts) { part in
            ScratchPool.shared.withBuffer(buffers.floats) { scratch in
                for tile in tiles[partRange(part, of: parts, tiles.count)] {
                    forwardTile(tile, x, weight, epilogue.isIdentity ? bias : nil, y, buffers, scratch)
                    if epilogue.isIdentity { continue }
                    for img in tile.n0..<(tile.n0 + tile.count) {
                        engine_channel_affine(y + img * imageOut, Int32(o), ohw, epilogue.scale, bias,
                                              epilogue.from(image: img, imageFloats: imageOut).residual,
                                              epilogue.reLU ? 1 : 0)
                    }
                }
            }
        }
    }

    private func addBias(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, images: Int) {
        let plane = ohw, o = self.o
        Threads.parallelFor(images * o, costPerItem: plane) { range in
            for item in range {
                let b = bias[item % o]
                let p = y + item * plane
                for i in 0..<plane { p[i] += b }
            }
        }
    }

    // MARK: Backward

    /// `forwardWinogradWeights`: the forward pass's Winograd transform of `weight` with 2x2 tiles, if any.
    func backward(gradOutput g: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                  forwardWinogradWeights: UnsafePointer<Float>? = nil,
                  gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?,
                  gradBias: UnsafeMutablePointer<Float>?) {
        if let gradBias { biasGradient(g, into: gradBias) }
        if gradInput == nil && gradWeight == nil { return }
        if let gradWeight {
            KernelCounters.conv2dWeightGradients += 1
            if n == 0 { gradWeight.update(repeating: 0, count: o * kg) }
        }
        if gradInput != nil { KernelCounters.conv2dInputGradients += 1 }
        // Each gradient goes to the kernel `plan` names for it; Winograd and the flat kernels
        // compute both gradients in one call where both are theirs.
        let winogradInput = usesWinograd ? gradInput : nil, winogradWeight = usesWinogradWeightGradient ? gradWeight : nil
        if winogradInput != nil || winogradWeight != nil {
            winogradBackward(gradOutput: g, input: x, weight: weight, forwardWeights: forwardWinogradWeights,
                             gradInput: winogradInput, gradWeight: winogradWeight)
        }
        let flatInput = plan.inputGradient == .flat ? gradInput : nil
        let flatWeight = usesFlatWeightGradient ? gradWeight : nil
        if flatInput != nil || flatWeight != nil {
            flatBackward(gradOutput: g, input: x, weight: weight, gradInput: flatInput, gradWeight: flatWeight)
        }
        if plan.inputGradient == .dualGEMM, let gradInput, let dual = dualForInputGradient {
            ScratchPool.shared.withBuffer(o * kg) { flipped in
                flippedTransposedWeight(weight, into: flipped)
                dual.forward(g, UnsafePointer(flipped), nil, gradInput)
            }
        }
        let gemmInput = plan.inputGradient == .gemm ? gradInput : nil
        let gemmWeight = plan.weightGradient == .gemm ? gradWeight : nil
        if gemmInput != nil || gemmWeight != nil {
            gemmBackward(g, x, weight, gradInput: gemmInput, gradWeight: gemmWeight)
        }
    }

    /// The im2col + sgemm backward: by whole tiles per thread where there are enough, else tile by tile.
    private func gemmBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                              gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?) {
        if let tiles = parallelTiles {
            backwardInParallel(tiles, g, x, weight, gradInput: gradInput, gradWeight: gradWeight)
            return
        }
        let tiles = self.tiles
        let buffers = TileBuffers(self, tiles, forward: false, weightGradient: gradWeight != nil,
                                  inputGradient: gradInput != nil)
        ScratchPool.shared.withBuffer(buffers.floats) { scratch in
            for (index, tile) in tiles.enumerated() {
                backwardTile(tile, g, x, weight, gradInput: gradInput, gradWeight: gradWeight, accumulate: index > 0,
                             buffers, scratch)
            }
        }
    }

    /// One tile's share of the backward: its input gradients, and its weight gradient written to
    /// `gradWeight` or (`accumulate`) added to it.
    private func backwardTile(_ tile: Tile, _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                              _ weight: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>?,
                              gradWeight: UnsafeMutablePointer<Float>?, accumulate: Bool, _ buffers: TileBuffers,
                              _ scratch: UnsafeMutablePointer<Float>) {
        let gathered = scratch, cols = scratch + buffers.channelMajor, gradCols = cols + buffers.columns
        let ld = tile.count * (tile.oh1 - tile.oh0) * wo
        let gy: UnsafePointer<Float>, ldg: Int
        if tile.count == 1 {
            (gy, ldg) = (g + tile.n0 * o * ohw + tile.oh0 * wo, ohw)
        } else {
            gatherChannelMajor(g + tile.n0 * o * ohw, images: tile.count, channels: o, plane: ohw, into: gathered)
            (gy, ldg) = (UnsafePointer(gathered), ld)
        }
        if let gradWeight {
            let xc: UnsafePointer<Float>
            if buffers.direct { xc = x + tile.n0 * c * hw } else {
                im2col(x + tile.n0 * c * hw, tile: tile, into: cols)
                xc = UnsafePointer(cols)
            }
            for gi in 0..<groups {
                sgemm(transB: true, m: og, n: kg, k: ld, gy + gi * og * ldg, lda: ldg, xc + gi * kg * ld, ldb: ld,
                      beta: accumulate ? 1 : 0, gradWeight + gi * og * kg, ldc: kg)
            }
        }
        if let gradInput {
            let target = buffers.direct ? gradInput + tile.n0 * c * hw : gradCols
            for gi in 0..<groups {
                sgemm(transA: true, m: kg, n: ld, k: og, weight + gi * og * kg, lda: kg, gy + gi * og * ldg, ldb: ldg,
                      target + gi * kg * ld, ldc: ld)
            }
            if !buffers.direct { col2im(gradCols, tile: tile, into: gradInput + tile.n0 * c * hw) }
        }
    }

    /// The backward of `forwardInParallel`: each thread takes its run of tiles, writes their input
    /// gradients and sums their weight gradients into its own buffer; the runs' sums are then added
    /// in run order, so the weight gradient depends on the thread count only.
    private func backwardInParallel(_ tiles: [Tile], _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                    _ weight: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>?,
                                    gradWeight: UnsafeMutablePointer<Float>?) {
        KernelCounters.convTilesInParallel += 1
        let buffers = TileBuffers(self, tiles, forward: false, weightGradient: gradWeight != nil,
                                  inputGradient: gradInput != nil)
        let parts = Threads.count, weightFloats = o * kg
        ScratchPool.shared.withBuffer(gradWeight == nil ? 0 : (parts - 1) * weightFloats) { partials in
            Threads.run(parts) { part in
                let sums = part == 0 ? gradWeight : gradWeight.map { _ in partials + (part - 1) * weightFloats }
                ScratchPool.shared.withBuffer(buffers.floats) { scratch in
                    for (index, tile) in tiles[partRange(part, of: parts, tiles.count)].enumerated() {
                        backwardTile(tile, g, x, weight, gradInput: gradInput, gradWeight: sums, accumulate: index > 0,
                                     buffers, scratch)
                    }
                }
            }
            guard let gradWeight else { return }
            addBlocksInOrder(partials, count: parts - 1, floats: weightFloats, into: gradWeight)
        }
    }

    private func biasGradient(_ g: UnsafePointer<Float>, into gb: UnsafeMutablePointer<Float>) {
        let plane = ohw, images = n, channels = o
        Threads.parallelFor(channels, costPerItem: images * plane) { range in
            for ch in range {
                var total: Double = 0
                for img in 0..<images {
                    total += Double(vectorSum(g + (img * channels + ch) * plane, plane))
                }
                gb[ch] = Float(total)
            }
        }
    }

    // MARK: Lowering

    /// Valid outputs `lo..<hi` for kernel offset `offset` (input index = out*stride + offset).
    @inline(__always)
    private func validRange(offset: Int, stride: Int, inputSize: Int, outputSize: Int) -> (Int, Int) {
        let lo = offset >= 0 ? 0 : min(outputSize, (-offset + stride - 1) / stride)
        let last = inputSize - 1 - offset
        let hi = last < 0 ? 0 : min(outputSize, last / stride + 1)
        return (lo, max(lo, hi))
    }

    /// Unfolds a tile (images from `x`, output rows `tile.oh0..<tile.oh1`) into `cols`
    /// `[C*kh*kw, count*rows*Wo]`.
    func im2col(_ x: UnsafePointer<Float>, tile: Tile, into cols: UnsafeMutablePointer<Float>) {
        let images = tile.count, oh0 = tile.oh0, oh1 = tile.oh1
        let tileOhw = (oh1 - oh0) * wo
        let ld = images * tileOhw
        let (c, h, w, kh, kw, wo, sh, sw, ph, pw, dh, dw) = (c, h, w, kh, kw, wo, sh, sw, ph, pw, dh, dw)
        let hw = self.hw
        let shifted = sh == 1 && sw == 1 && wo == w
        // Work items are rows of `cols` (one kernel tap of one channel): the tap's geometry is
        // worked out once per row, then applied to every image of the tile.
        Threads.parallelFor(kAll, costPerItem: images * tileOhw) { range in
            for row in range {
                let ch = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw
                let offH = ki * dh - ph, offW = kj * dw - pw
                let (owLo, owHi) = validRange(offset: offW, stride: sw, inputSize: w, outputSize: wo)
                let rowBase = cols + row * ld
                if shifted {
                    // Output row oh reads input row oh + offH at the same width: the whole valid
                    // block is one shifted copy; only the columns that fall into padding need zeros.
                    let (vLo, vHi) = validRange(offset: offH, stride: 1, inputSize: h, outputSize: ho)
                    let lo = max(vLo, oh0), hi = min(vHi, oh1)
                    if lo >= hi || owLo == owHi { rowBase.update(repeating: 0, count: images * tileOhw); continue }
                    let j0 = (lo - oh0) * wo + owLo, j1 = (hi - 1 - oh0) * wo + owHi
                    let srcOffset = (lo + offH) * w + owLo + offW
                    for img in 0..<images {
                        let dst = rowBase + img * tileOhw
                        if j0 > 0 { dst.update(repeating: 0, count: j0) }
                        if j1 < tileOhw { (dst + j1).update(repeating: 0, count: tileOhw - j1) }
                        (dst + j0).update(from: x + (img * c + ch) * hw + srcOffset, count: j1 - j0)
                        if owLo > 0 || owHi < wo {
                            for oh in lo..<hi {
                                let d = dst + (oh - oh0) * wo
                                for ow in 0..<owLo { d[ow] = 0 }
                                for ow in owHi..<wo { d[ow] = 0 }
                            }
                        }
                    }
                    continue
                }
                for img in 0..<images {
                    let src = x + (img * c + ch) * hw
                    let dst = rowBase + img * tileOhw
                    for oh in oh0..<oh1 {
                        let ih = oh * sh + offH
                        let d = dst + (oh - oh0) * wo
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
    }

    /// Folds a tile's column gradients back onto its input planes at `gx`. The first tile of an
    /// image overwrites the planes, later row bands add to them; each plane is owned by one work
    /// item, so the accumulation order is fixed. The rows of `cols` are used as scratch.
    func col2im(_ cols: UnsafeMutablePointer<Float>, tile: Tile, into gx: UnsafeMutablePointer<Float>) {
        let images = tile.count, oh0 = tile.oh0, oh1 = tile.oh1
        let tileOhw = (oh1 - oh0) * wo
        let ld = images * tileOhw
        let (c, h, w, kh, kw, wo, sh, sw, ph, pw, dh, dw) = (c, h, w, kh, kw, wo, sh, sw, ph, pw, dh, dw)
        let hw = self.hw
        let shifted = sh == 1 && sw == 1 && wo == w
        Threads.parallelFor(images * c, costPerItem: kh * kw * tileOhw) { range in
            for item in range {
                let img = item / c, ch = item % c
                let plane = gx + item * hw
                if oh0 == 0 { plane.update(repeating: 0, count: hw) }
                for ki in 0..<kh {
                    let offH = ki * dh - ph
                    for kj in 0..<kw {
                        let offW = kj * dw - pw
                        let (owLo, owHi) = validRange(offset: offW, stride: sw, inputSize: w, outputSize: wo)
                        if owLo == owHi { continue }
                        let src = cols + ((ch * kh + ki) * kw + kj) * ld + img * tileOhw
                        if shifted {
                            // Mirror of im2col's shifted copy: one contiguous accumulation once
                            // the entries that belong to padding are zeroed.
                            let (vLo, vHi) = validRange(offset: offH, stride: 1, inputSize: h, outputSize: ho)
                            let lo = max(vLo, oh0), hi = min(vHi, oh1)
                            if lo >= hi { continue }
                            if owLo > 0 || owHi < wo {
                                for oh in lo..<hi {
                                    let d = src + (oh - oh0) * wo
                                    for ow in 0..<owLo { d[ow] = 0 }
                                    for ow in owHi..<wo { d[ow] = 0 }
                                }
                            }
                            let j0 = (lo - oh0) * wo + owLo, j1 = (hi - 1 - oh0) * wo + owHi
                            let target = plane + ((lo + offH) * w + owLo + offW), from = src + j0
                            for j in 0..<(j1 - j0) { target[j] += from[j] }
                            continue
                        }
                        for oh in oh0..<oh1 {
                            let ih = oh * sh + offH
                            if ih < 0 || ih >= h { continue }
                            let d = plane + ih * w + offW
                            let s = src + (oh - oh0) * wo
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
