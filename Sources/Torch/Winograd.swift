import CEngineSupport
import Foundation

// Winograd F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 undilated convolutions (kernels in
// CEngineSupport/winograd.c): 16 multiplies per 2x2 outputs, or 36 per 4x4, instead of 9 per output.
// - forward: per chunk of images, groups of tile rows are transformed, multiplied (16 or 36 products
//   [O, C] x [C, tiles] on the flat-plane kernel) and transformed back while they are in cache;
// - input gradient: the same on dY with the kernels rotated and transposed (padding 2 - p);
// - weight gradient (2x2 tiles, or 4x4 for outer products on narrow images): dU = Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B), then dW = Gᵀ dU G; for
//   wide layers or large images 16 sgemm calls per slice of tile rows (one slice for the whole batch
//   unless it is large), for the others outer products per group of images while it is in L2.
// Every result is computed in a fixed order for a fixed thread count (fixed chunks of images or tile rows).

extension ConvGeometry {
    // Which passes take Winograd, and with which tiles, is `plan`'s decision (ConvPlan.swift); these
    // views of it name the cases the kernels below branch on.
    var usesWinograd: Bool { if case .winograd = plan.forward { return true } else { return false } }
    var usesWinogradWeightGradient: Bool { usesWinogradOuterProductWeightGradient || usesWinogradGEMMWeightGradient }
    var usesWinogradOuterProductWeightGradient: Bool {
        if case .winogradOuterProduct = plan.weightGradient { return true } else { return false }
    }
    var usesWinogradGEMMWeightGradient: Bool { plan.weightGradient == .winogradGEMM }

    /// One image's transformed inputs and output gradients in the outer-product weight gradient.
    func winogradImageTileFloats(tile: Int) -> Int {
        (tile + 2) * (tile + 2) * (c + (o + 15) / 16 * 16) * ((ho + tile - 1) / tile) * ((wo + tile - 1) / tile)
    }

    /// `ConvPlan.winogradTile` for this geometry under its policy and thread count.
    func winogradTile(channels: Int, outputHeight: Int, outputWidth: Int) -> Int {
        ConvPlan.winogradTile(self, channels: channels, outputHeight: outputHeight, outputWidth: outputWidth,
                              policy: policy, threads: threads)
    }

    /// The forward pass's tile, and the input gradient's.
    private var forwardTile: Int { if case .winograd(let tile) = plan.forward { return tile } else { return 2 } }
    private var inputGradientTile: Int {
        if case .winograd(let tile, _) = plan.inputGradient { return tile } else { return 2 }
    }

    /// `transformed`: `weight` already packed by `cachedWinogradWeights` for this geometry.
    func winogradForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue, transformed: UnsafePointer<Float>? = nil) {
        let tile = forwardTile
        let convolve = { (u: UnsafePointer<Float>) in
            winogradConvolve(x, channels: c, height: h, width: w, padding: (ph, pw), u, outputs: o, outputHeight: ho,
                             outputWidth: wo, epilogue: epilogue, shift: bias, tile: tile, into: y)
        }
        if let transformed { return convolve(transformed) }
        winogradWeights(weight, outputs: o, outputStride: kg, inputs: c, inputStride: 9, flip: false, tile: tile, convolve)
    }

    /// The transformed weights the forward pass of `weight` uses, with their tile: the cached ones
    /// (`cachedWinogradWeights`) or, while the weight is being trained, a fresh pack that the
    /// recorded backward keeps. With 2x2 tiles in both directions the input gradient reads that pack
    /// again (`winogradBackward`), where it used to gather and transform the rotated kernels anew: for
    /// ResNet-18's layer4 that second pack cost as much as the layer's input-gradient products.
    func forwardWinogradWeights(_ weight: Tensor) -> (values: [Float], tile: Int)? {
        guard usesWinograd else { return nil }
        let tile = forwardTile
        if let cached = cachedWinogradWeights(weight) { return (cached, tile) }
        guard reusesForwardWinogradWeights else { return nil }
        return (packedWinogradWeights(weight, tile: tile), tile)
    }

    /// The input gradient reads the forward pass's transformed weights (2x2 tiles both ways).
    var reusesForwardWinogradWeights: Bool {
        if case .winograd(_, true) = plan.inputGradient { return true } else { return false }
    }

    /// The forward pass's transformed weights for `weight`, kept on the tensor and recomputed only
    /// after its values change (its storage `version`): for weights that stay fixed between calls
    /// (evaluation, frozen backbones), where packing cost up to a third of a ResNet-18 layer4
    /// forward. Costs 16/9 (or 36/9) of the weight's memory per tile size in use. Nil when this
    /// convolution does not take the Winograd path, or when a gradient is recorded for the weight
    /// (training changes it every step: a cache would only hold memory).
    func cachedWinogradWeights(_ weight: Tensor) -> [Float]? {
        guard plan.cachesWinogradWeights, !(GradMode.isEnabled && weight.requiresGrad) else { return nil }
        let tile = forwardTile
        if let cached = weight.winogradWeights[tile], cached.version == weight.version { return cached.values }
        let values = packedWinogradWeights(weight, tile: tile)
        weight.winogradWeights[tile] = (weight.version, values)
        return values
    }

    /// The forward pass's U = G g Gᵀ of `weight` as a new array.
    private func packedWinogradWeights(_ weight: Tensor, tile: Int) -> [Float] {
        let count = winogradWeightFloats(outputs: o, inputs: c, tile: tile)
        let matrix = (o + 3) / 4 * 4 * c, stride = engine_winograd_weight_stride(Int32(o), Int32(c))
        return weight.storage.withUnsafeBufferPointer { pw in
            [Float](unsafeUninitializedCapacity: count) { u, initialized in
                packWinogradWeights(pw.baseAddress!, outputs: o, outputStride: kg, inputs: c, inputStride: 9,
                                    flip: false, tile: tile, into: u.baseAddress!)
                // The pack writes every matrix whole; the gaps between them are read only past the
                // last lane (engine_flat_conv_forward_transposed) and are zeroed so the array is defined.
                for start in Swift.stride(from: matrix, to: count, by: stride) {
                    (u.baseAddress! + start).initialize(repeating: 0, count: min(stride - matrix, count - start))
                }
                initialized = count
            }
        }
    }
    /// `forwardWeights`: what `forwardWinogradWeights` gave the forward pass, when it had 2x2 tiles.
    func winogradBackward(gradOutput g: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                          weight: UnsafePointer<Float>, forwardWeights: UnsafePointer<Float>? = nil,
                          gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?) {
        if let gradInput {
            // dX is dY convolved with the rotated kernels, channels swapped, padding 2 - p.
            let tile = inputGradientTile
            if let forwardWeights, tile == 2 {
                winogradConvolve(g, channels: o, height: ho, width: wo, padding: (2 - ph, 2 - pw), forwardWeights,
                                 outputs: c, outputHeight: h, outputWidth: w, epilogue: ConvEpilogue(), shift: nil,
                                 tile: tile, transposed: true, into: gradInput)
            } else {
                winogradWeights(weight, outputs: c, outputStride: 9, inputs: o, inputStride: kg, flip: true, tile: tile) { u in
                    winogradConvolve(g, channels: o, height: ho, width: wo, padding: (2 - ph, 2 - pw), u, outputs: c,
                                     outputHeight: h, outputWidth: w, epilogue: ConvEpilogue(), shift: nil, tile: tile,
                                     into: gradInput)
                }
            }
        }
        if let gradWeight { winogradWeightGradient(g, x, into: gradWeight) }
    }

    /// Packs U = G g Gᵀ (`winogradWeightFloats` floats) into `u`, output channels split across threads.
    private func packWinogradWeights(_ weight: UnsafePointer<Float>, outputs: Int, outputStride: Int, inputs: Int,
                                     inputStride: Int, flip: Bool, tile: Int, into u: UnsafeMutablePointer<Float>) {
        Threads.parallelFor((outputs + 3) / 4, costPerItem: inputs * 64) { range in
            engine_winograd_pack_weights(weight, Int32(outputs), outputStride, Int32(inputs), inputStride,
                                         flip ? 1 : 0, Int32(tile), Int32(range.lowerBound), Int32(range.upperBound), u)
        }
    }

    private func winogradWeightFloats(outputs: Int, inputs: Int, tile: Int) -> Int {
        (tile + 2) * (tile + 2) * engine_winograd_weight_stride(Int32(outputs), Int32(inputs))
    }

    /// `packWinogradWeights` into scratch, for `body`.
    private func winogradWeights<R>(_ weight: UnsafePointer<Float>, outputs: Int, outputStride: Int, inputs: Int,
                                    inputStride: Int, flip: Bool, tile: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        ScratchPool.shared.withBuffer(winogradWeightFloats(outputs: outputs, inputs: inputs, tile: tile)) { u in
            packWinogradWeights(weight, outputs: outputs, outputStride: outputStride, inputs: inputs,
                                inputStride: inputStride, flip: flip, tile: tile, into: u)
            return body(UnsafePointer(u))
        }
    }

    private func winogradConvolve(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                                  padding: (Int, Int), _ u: UnsafePointer<Float>, outputs: Int, outputHeight: Int,
                                  outputWidth: Int, epilogue: ConvEpilogue, shift: UnsafePointer<Float>?, tile: Int,
                                  transposed: Bool = false, into y: UnsafeMutablePointer<Float>) {
        // Tile rows per group: transformed tiles and products of a group near 768 KB (in L2), and at
        // least 96 tiles (64 for 4x4 tiles) so the products fill the kernel's register tile.
        let tilesPerRow = (outputWidth + tile - 1) / tile, points = (tile + 2) * (tile + 2)
        let tiles = max(tile == 2 ? 96 : 64, 196_608 / (points * (channels + outputs)))
        let groupRows = max(1, (tiles + tilesPerRow - 1) / tilesPerRow)
        let scratchFloats = engine_winograd_scratch_floats(Int32(channels), Int32(outputs), Int32(outputHeight),
                                                           Int32(outputWidth), Int32(tile), Int32(groupRows))
        let inImage = channels * height * width, outImage = outputs * outputHeight * outputWidth
        forEachImageChunk { _, images in
            ScratchPool.shared.withBuffer(scratchFloats) { scratch in
                engine_winograd_forward(x + images.lowerBound * inImage, Int32(images.count), Int32(channels),
                                        Int32(height), Int32(width), Int32(padding.0), Int32(padding.1), u,
                                        Int32(outputs), Int32(outputHeight), Int32(outputWidth), epilogue.scale,
                                        shift, epilogue.from(image: images.lowerBound, imageFloats: outImage).residual,
                                        epilogue.reLU ? 1 : 0, y + images.lowerBound * outImage, Int32(tile),
                                        Int32(groupRows), transposed ? 1 : 0, scratch)
            }
        }
    }

    private func winogradWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                        into gradWeight: UnsafeMutablePointer<Float>) {
        if case .winogradOuterProduct(let tile) = plan.weightGradient {
            return winogradOuterProductWeightGradient(g, x, tile: tile, into: gradWeight)
        }
        // Transformed tiles in slices of tile rows of at most `winogradGradientSliceFloats` floats,
        // each adding its products to dU.
        let tilesPerRow = (wo + 1) / 2, totalRows = n * ((ho + 1) / 2)
        let sliceRows = max(1, min(totalRows, policy.winogradGradientSliceFloats / (16 * (c + o) * tilesPerRow)))
        let sliceTiles = sliceRows * tilesPerRow
        let vs = engine_winograd_matrix_stride(c * sliceTiles), gs = engine_winograd_matrix_stride(o * sliceTiles)
        let us = engine_winograd_matrix_stride(o * c)
        ScratchPool.shared.withBuffer(16 * (vs + gs + us)) { scratch in
            let v = scratch, gh = v + 16 * vs, du = gh + 16 * gs
            var first = 0
            while first < totalRows {
                let rows = min(sliceRows, totalRows - first), tiles = rows * tilesPerRow
                let parts = max(1, min(Threads.count, rows))
                Threads.run(parts) { part in
                    let lo = first + rows * part / parts, hi = first + rows * (part + 1) / parts
                    let t0 = (lo - first) * tilesPerRow
                    engine_winograd_input_tiles(x, Int32(c), Int32(h), Int32(w), Int32(ph), Int32(pw), Int32(ho),
                                                Int32(wo), lo, hi - lo, v + t0, vs, tiles)
                    engine_winograd_gradient_tiles(g, Int32(o), Int32(ho), Int32(wo), lo, hi - lo, gh + t0, gs, tiles)
                }
                for xi in 0..<16 {
                    sgemm(transB: true, m: o, n: c, k: tiles, gh + xi * gs, lda: tiles, v + xi * vs, ldb: tiles,
                          beta: first == 0 ? 0 : 1, du + xi * us, ldc: c)
                }
                first += rows
            }
            Threads.parallelFor(o, costPerItem: c * 64) { range in
                engine_winograd_weight_grad_finish(du, us, Int32(o), Int32(c), Int32(range.lowerBound),
                                                   Int32(range.upperBound), gradWeight)
            }
        }
    }

    /// dU = Σ_tiles (A dY Aᵀ) ⊗ (Bᵀ d B) per fixed chunk of images, each group of images transformed
    /// and multiplied while it is in L2; the chunks' sums are added in chunk order, then dW = Gᵀ dU G.
    private func winogradOuterProductWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, tile: Int,
                                                    into gradWeight: UnsafeMutablePointer<Float>) {
        let sumFloats = (tile + 2) * (tile + 2) * ((o + 15) / 16 * 16) * c
        // Images per group: the group's transformed tiles near 512 KB (256 KB and 1 MB within noise).
        let group = max(1, min(n, 131_072 / winogradImageTileFloats(tile: tile)))
        let scratchFloats = engine_winograd_weight_grad_scratch_floats(Int32(c), Int32(o), Int32(ho), Int32(wo),
                                                                       Int32(group), Int32(tile))
        let chunks = imageChunks
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: sumFloats * chunks)
        defer { sums.deallocate() }
        sums.initialize(repeating: 0, count: sumFloats * chunks)
        let inImage = c * hw, outImage = o * ohw
        forEachImageChunk { chunk, images in
            ScratchPool.shared.withBuffer(scratchFloats) { scratch in
                engine_winograd_weight_grad_images(x + images.lowerBound * inImage, g + images.lowerBound * outImage,
                                                   Int32(images.count), Int32(c), Int32(h), Int32(w), Int32(ph),
                                                   Int32(pw), Int32(o), Int32(ho), Int32(wo), Int32(group),
                                                   Int32(tile), sums + chunk * sumFloats, scratch)
            }
        }
        addBlocksInOrder(sums + sumFloats, count: chunks - 1, floats: sumFloats, into: sums)
        engine_winograd_weight_grad_finish_blocked(sums, Int32(o), Int32(c), Int32(tile), gradWeight)
    }
}
