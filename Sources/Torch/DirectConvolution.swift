import CEngineSupport
import Foundation

// Direct convolution on flat planes, for every convolution with a kernel larger than 1x1 that
// Winograd.swift does not take (3x3 stride-1 layers of 16+ channels go there), and for strided 1x1
// convolutions, whose plane is just the pixels they read.
//
// im2col + sgemm spends most of its time copying when channels are few (the column matrix is 9x the
// input and its GEMM has only 16-64 rows) and a good part of it even for ResNet-18's layers. Here each image's zero-padded input is laid out row after
// row (for stride s, split into s*s phase planes so every tap becomes a unit-stride shift), and the
// AVX-512 kernels in CEngineSupport/flat_conv.c compute outputs on rows of the plane's width: output
// q reads tap t at q + offset[t]. The few extra columns past the true output width are dropped.
// - forward: one kernel call per image, 4 output channels x 96 pixels per register tile;
// - weight gradient: dW[o][c][t] = sum_q dY[o][q] * X[c][q + offset[t]], over groups of images
//   (3x3 kernels: as outer products of 16 outputs' dY and the taps' inputs, pixel by pixel);
// - input gradient: per phase plane, the same forward kernel run on dY (shifted by the largest
//   offset) with channels swapped and offsets mirrored, then scattered back to dX.
// Images are split across threads in fixed contiguous chunks; per-chunk weight gradients are summed
// in chunk order, so a fixed thread count gives bit-identical results.

extension ConvGeometry {
    // Which passes take the flat kernels is `plan`'s decision (ConvPlan.swift); these views of it
    // name the cases the kernels below branch on.
    var usesFlatKernels: Bool { plan.forward == .flat || plan.inputGradient == .flat || usesFlatWeightGradient }
    var usesFlatWeightGradient: Bool { plan.weightGradient == .flat || usesOuterProductWeightGradient }
    var usesOuterProductWeightGradient: Bool { plan.weightGradient == .flatOuterProduct }

    /// A 1x1 convolution with a stride and no padding (ResNets' downsampling projections) and at most
    /// `subsampledPointwiseMaximumWeights` weights: its plane holds only the pixels it reads.
    var isSubsampledPointwise: Bool {
        kh == 1 && kw == 1 && (sh > 1 || sw > 1) && ph == 0 && pw == 0 && c * o <= policy.subsampledPointwiseMaximumWeights
    }

    /// Where the taps of this convolution land on one image's flat phase planes.
    struct FlatPlanes {
        let phaseRows: Int, phaseWidth: Int
        var phaseFloats: Int { phaseRows * phaseWidth }
        /// Floats per input channel: all `sh*sw` phase planes.
        let channelFloats: Int
        /// Per tap (weight order `ki*kw + kj`): its phase plane and its offset within that plane.
        let phase: [Int], local: [Int]
        /// Per tap: where it reads, from the start of a channel's planes.
        let offsets: [Int]
        /// Output pixels computed per channel: `ho` rows of `phaseWidth` (the last columns are dropped).
        let q: Int
        /// One image's planes plus the slack the last vector reads may touch.
        let imageFloats: Int
        /// Only the pixels a strided 1x1 convolution reads, `[C][Ho][Wo]`: one phase, one tap.
        var subsampled = false
        var phaseCount: Int { subsampled ? 1 : channelFloats / phaseFloats }
    }

    var flatPlanes: FlatPlanes {
        if isSubsampledPointwise {
            return FlatPlanes(phaseRows: ho, phaseWidth: wo, channelFloats: ohw, phase: [0], local: [0], offsets: [0],
                              q: ohw, imageFloats: c * ohw + 32, subsampled: true)
        }
        let hp = h + 2 * ph, wp = w + 2 * pw
        let rows = (hp + sh - 1) / sh, width = (wp + sw - 1) / sw
        var phase: [Int] = [], local: [Int] = []
        for ki in 0..<kh {
            for kj in 0..<kw {
                let ry = ki * dh, rx = kj * dw
                phase.append((ry % sh) * sw + rx % sw)
                local.append((ry / sh) * width + rx / sw)
            }
        }
        let channelFloats = sh * sw * rows * width
        let offsets = zip(phase, local).map { $0 * rows * width + $1 }
        return FlatPlanes(phaseRows: rows, phaseWidth: width, channelFloats: channelFloats, phase: phase, local: local,
                          offsets: offsets, q: ho * width, imageFloats: c * channelFloats + (offsets.max() ?? 0) + 32)
    }

    /// Writes one image `x` `[C, H, W]` as zero-padded phase planes `[C][sh*sw][rows][width]`.
    func packPlanes(_ x: UnsafePointer<Float>, _ planes: FlatPlanes, into dst: UnsafeMutablePointer<Float>) {
        if planes.subsampled {
            engine_flat_pack_subsampled(x, Int32(c), Int32(h), Int32(w), Int32(sh), Int32(sw), Int32(ho), Int32(wo),
                                        dst)
            return
        }
        engine_flat_pack_input(x, Int32(c), Int32(h), Int32(w), Int32(sh), Int32(sw), Int32(ph), Int32(pw),
                               Int32(planes.phaseRows), Int32(planes.phaseWidth), dst, planes.imageFloats)
    }

    /// `dY` of one image `[O, Ho, Wo]` on rows of the plane width, after `lead` zeros per channel;
    /// each channel takes `stride` floats, zero past the data.
    func packGradient(_ g: UnsafePointer<Float>, _ planes: FlatPlanes, lead: Int, stride: Int,
                      into dst: UnsafeMutablePointer<Float>) {
        engine_flat_pack_gradient(g, Int32(o), Int32(ho), Int32(wo), Int32(planes.phaseWidth), lead, stride, dst)
    }

    /// `weight[oc * outputStride + ic * inputStride + taps[t]]` as `[(outputs+3)/4][inputs][taps][4]`.
    static func packWeights(_ weight: UnsafePointer<Float>, outputs: Int, outputStride: Int, inputs: Int,
                            inputStride: Int, taps: [Int]) -> [Float] {
        let blocks = (outputs + 3) / 4, t = taps.count
        return [Float](unsafeUninitializedCapacity: blocks * inputs * t * 4) { buffer, count in
            let packed = buffer.baseAddress!
            packed.initialize(repeating: 0, count: buffer.count)
            taps.withUnsafeBufferPointer { taps in
                func pack(block: Int, input ic: Int) {
                    let dst = packed + (block * inputs + ic) * t * 4
                    for j in 0..<min(4, outputs - 4 * block) {
                        let src = weight + (4 * block + j) * outputStride + ic * inputStride
                        for k in 0..<t { dst[k * 4 + j] = src[taps[k]] }
                    }
                }
                // Along the weight's rows. The input gradient's weights (inputs a row apart) read
                // down the columns took 11 ms per ResNet-18 training step: rows 9 KB apart share a
                // few cache sets, so every line was fetched again for each block of outputs.
                if inputStride > outputStride {
                    for ic in 0..<inputs { for block in 0..<blocks { pack(block: block, input: ic) } }
                } else {
                    for block in 0..<blocks { for ic in 0..<inputs { pack(block: block, input: ic) } }
                }
            }
            count = buffer.count
        }
    }

    /// How many contiguous chunks of the batch `forEachImageChunk` runs in parallel: one per thread,
    /// or four per thread when each still gets 2+ images, so that a thread slowed down (the VM's
    /// other tenants) hands its last chunks to the other (measured: the caller waited for the
    /// other thread in 4% of a small-ResNet step's samples with one chunk per thread).
    var imageChunks: Int {
        let threads = Threads.count
        return max(1, threads > 1 && n >= 8 * threads ? 4 * threads : min(threads, n))
    }

    /// Runs `body(chunk, images)` over `imageChunks` fixed contiguous chunks of the batch, in parallel.
    func forEachImageChunk(_ body: (Int, Range<Int>) -> Void) {
        let chunks = imageChunks
        if chunks == 1 {
            body(0, 0..<n)
            return
        }
        Threads.run(chunks) { k in body(k, (n * k / chunks)..<(n * (k + 1) / chunks)) }
    }

    // MARK: Forward

    func flatForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                     _ y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        let planes = flatPlanes
        let taps = kh * kw, kg = self.kg
        let packed = ConvGeometry.packWeights(weight, outputs: o, outputStride: kg, inputs: c, inputStride: taps,
                                              taps: Array(0..<taps))
        let offsets = planes.offsets
        let straight = planes.phaseWidth == wo
        let extFloats = straight ? 0 : o * planes.q
        forEachImageChunk { _, images in
            ScratchPool.shared.withBuffer(planes.imageFloats + extFloats) { scratch in
                let ext = scratch + planes.imageFloats
                for img in images {
                    packPlanes(x + img * c * hw, planes, into: scratch)
                    let yImg = y + img * o * ohw
                    let target = straight ? yImg : ext
                    packed.withUnsafeBufferPointer { pw in
                        offsets.withUnsafeBufferPointer { po in
                            engine_flat_conv_forward(scratch, planes.channelFloats, Int32(c), Int32(taps), po.baseAddress!,
                                                     pw.baseAddress!, Int32(o), target, planes.q, planes.q, 0)
                        }
                    }
                    let residual = epilogue.from(image: img, imageFloats: o * ohw).residual
                    if !straight {
                        engine_flat_unpack_output(ext, Int32(o), Int32(ho), Int32(wo), Int32(planes.phaseWidth),
                                                  epilogue.scale, bias, residual, epilogue.reLU ? 1 : 0, yImg)
                    } else if bias != nil || !epilogue.isIdentity {
                        engine_channel_affine(yImg, Int32(o), ohw, epilogue.scale, bias, residual, epilogue.reLU ? 1 : 0)
                    }
                }
            }
        }
    }

    // MARK: Backward

    func flatBackward(gradOutput g: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                      gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?) {
        let planes = flatPlanes
        let taps = kh * kw, kg = self.kg
        let offsets = planes.offsets
        // dY is stored after `lead` zeros so the mirrored offsets of the input gradient stay >= 0.
        let lead = planes.local.max() ?? 0
        let gStride = lead + max(planes.q, planes.phaseFloats) + 32
        // Per phase plane: its taps, mirrored offsets into dY, and weights packed for C outputs.
        struct Phase { let offsets: [Int]; let packed: [Float] }
        var phases: [Phase] = []
        if gradInput != nil {
            for p in 0..<planes.phaseCount {
                let tapList = (0..<taps).filter { planes.phase[$0] == p }
                let packed = ConvGeometry.packWeights(weight, outputs: c, outputStride: taps, inputs: o, inputStride: kg,
                                                      taps: tapList)
                phases.append(Phase(offsets: tapList.map { lead - planes.local[$0] }, packed: packed))
            }
        }
        // dY per image for the outer-product kernel: [(O+15)/16][Ho*Wo][16].
        let outerProduct = gradWeight != nil && usesOuterProductWeightGradient
        let transposedFloats = outerProduct ? (o + 15) / 16 * 16 * ohw : 0
        // dY per image as padded rows, for the input gradient and the other weight-gradient kernel. A
        // subsampled plane's rows are dY's own (Wo wide, no lead), so those kernels read dY in place.
        let inPlace = planes.subsampled
        let paddedFloats = !inPlace && (gradInput != nil || !outerProduct) ? o * gStride : 0
        let (gImageStride, gChannelStride) = inPlace ? (o * ohw, ohw) : (o * gStride, gStride)
        // Images per weight-gradient call: enough that the planes and dY of a group stay near 1 MB (L2);
        // a quarter of that for the outer-product kernel, which reads a group's dY once per three input
        // channels (measured on one 16-channel 28x28 layer: two processes at once kept 100-105 GFLOP/s
        // each with groups of 2 images, fell to 60 with groups of 4 or 9).
        let perImage = planes.imageFloats + paddedFloats + transposedFloats
        let group = max(1, min(n, (outerProduct ? 1 << 16 : 1 << 18) / perImage))
        // The outer-product kernel's sums per chunk, [(O+15)/16][C][9][16], moved to dW at the end.
        let vectorSumFloats = outerProduct ? (o + 15) / 16 * 16 * kg : 0
        let partialFloats = gradWeight != nil ? o * kg : 0
        let chunkCount = imageChunks
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: max(1, partialFloats * chunkCount))
        defer { partials.deallocate() }
        partials.update(repeating: 0, count: partialFloats * chunkCount)
        let planeBatch = gradWeight != nil ? group : 1
        // The input gradient's phase planes of one image and row phase (`scatterPhases` interleaves them).
        let phaseStride = c * planes.phaseFloats
        let (rowPhases, columnPhases) = planes.subsampled ? (1, 1) : (sh, sw)
        let dpFloats = gradInput != nil ? phaseStride * columnPhases : 0
        forEachImageChunk { chunk, images in
            let scratchFloats = planeBatch * planes.imageFloats + group * (paddedFloats + transposedFloats) + dpFloats
                + vectorSumFloats
            ScratchPool.shared.withBuffer(scratchFloats) { scratch in
                let planeBuffer = scratch, gBuffer = scratch + planeBatch * planes.imageFloats
                let transposed = gBuffer + group * paddedFloats
                let dp = transposed + group * transposedFloats
                let vectorSums = dp + dpFloats
                vectorSums.update(repeating: 0, count: vectorSumFloats)
                var start = images.lowerBound
                while start < images.upperBound {
                    let count = min(group, images.upperBound - start)
                    // The flat kernels read dY as padded rows; the outer-product kernel, as [pixel][16 outputs].
                    let gRows = inPlace ? g + start * o * ohw : UnsafePointer(gBuffer)
                    if paddedFloats > 0 {
                        for i in 0..<count {
                            packGradient(g + (start + i) * o * ohw, planes, lead: lead, stride: gStride,
                                         into: gBuffer + i * o * gStride)
                        }
                    }
                    if gradWeight != nil {
                        for i in 0..<count {
                            packPlanes(x + (start + i) * c * hw, planes, into: planeBuffer + i * planes.imageFloats)
                        }
                        offsets.withUnsafeBufferPointer { po in
                            if outerProduct {
                                for i in 0..<count {
                                    engine_flat_pack_gradient_outputs(g + (start + i) * o * ohw, Int32(o), ohw,
                                                                      transposed + i * transposedFloats)
                                }
                                engine_flat_conv_weight_grad9(planeBuffer, planes.imageFloats, planes.channelFloats,
                                                              Int32(c), po.baseAddress!, planes.phaseWidth, transposed,
                                                              transposedFloats, Int32(o), Int32(ho), Int32(wo),
                                                              Int32(count), vectorSums)
                            } else {
                                engine_flat_conv_weight_grad(planeBuffer, planes.imageFloats, planes.channelFloats,
                                                             Int32(c), Int32(taps), po.baseAddress!, gRows + lead,
                                                             gImageStride, gChannelStride, Int32(o), planes.q,
                                                             Int32(count),
                                                             partials + chunk * partialFloats)
                            }
                        }
                    }
                    if let gradInput {
                        for i in 0..<count {
                            let gi = gRows + i * gImageStride
                            let dx = gradInput + (start + i) * c * hw
                            for a in 0..<rowPhases {
                                for b in 0..<columnPhases {
                                    let phase = phases[a * columnPhases + b], target = dp + b * phaseStride
                                    if phase.offsets.isEmpty {
                                        target.update(repeating: 0, count: phaseStride)
                                        continue
                                    }
                                    phase.packed.withUnsafeBufferPointer { pw in
                                        phase.offsets.withUnsafeBufferPointer { po in
                                            engine_flat_conv_forward(gi, gChannelStride, Int32(o), Int32(po.count),
                                                                     po.baseAddress!, pw.baseAddress!, Int32(c), target,
                                                                     planes.phaseFloats, planes.phaseFloats, 0)
                                        }
                                    }
                                }
                                scatterPhases(dp, planes, rowPhase: a, into: dx)
                            }
                        }
                    }
                    start += count
                }
                if outerProduct {
                    engine_flat_conv_weight_grad9_finish(vectorSums, Int32(o), Int32(c), partials + chunk * partialFloats)
                }
            }
        }
        if let gradWeight {
            gradWeight.update(from: partials, count: partialFloats)
            addBlocksInOrder(partials + partialFloats, count: chunkCount - 1, floats: partialFloats, into: gradWeight)
        }
    }

    /// Copies the column phase planes `[sw][C][rows][width]` of one row phase of the padded input
    /// gradient back to their rows of `dx` `[C, H, W]`.
    private func scatterPhases(_ dp: UnsafePointer<Float>, _ planes: FlatPlanes, rowPhase: Int,
                               into dx: UnsafeMutablePointer<Float>) {
        if planes.subsampled {
            engine_flat_scatter_subsampled(dp, Int32(c), Int32(h), Int32(w), Int32(sh), Int32(sw), Int32(ho),
                                           Int32(wo), dx)
            return
        }
        engine_flat_scatter_phases(dp, c * planes.phaseFloats, Int32(c), Int32(h), Int32(w), Int32(sh), Int32(sw),
                                   Int32(ph), Int32(pw), Int32(planes.phaseRows), Int32(planes.phaseWidth),
                                   Int32(rowPhase), dx)
    }
}
