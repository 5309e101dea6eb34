import CEngineSupport
import Foundation

// Winograd F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 undilated convolutions (kernels in
// CEngineSupport/winograd.c): 16 multiplies per 2x2 outputs, or 36 per 4x4, instead of 9 per output.
// - forward: per chunk of images, groups of tile rows are transformed, multiplied (16 or 36 products
//   [O, C] x [C, tiles] on the flat-plane kernel) and transformed back while they are in cache;
// - input gradient: the same on dY with the kernels rotated and transposed (padding 2 - p);
// - weight gradient (always 2x2 tiles): dU = Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B), then dW = Gᵀ dU G; for
//   wide layers or large images 16 sgemm calls per slice of tile rows (one slice for the whole batch
//   unless it is large), for the others outer products per group of images while it is in L2.
// Every result is computed in a fixed order for a fixed thread count (fixed chunks of images or tile rows).

extension ConvGeometry {
    /// Off with `WORKBOOK_WINOGRAD=0` (tests switch it to compare with the flat kernels).
    nonisolated(unsafe) static var winogradEnabled =
        engine_winograd_available() != 0 && ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD"] != "0"
    /// Fewest input and output channels for which the 16 small products beat the flat kernels
    /// (measured, one thread, CPU time: 16 channels at 28x28, forward 9.7 -> 8.8 ms, input gradient
    /// 10.6 -> 9.0 ms for a batch of 128; 32 at 14x14 1.2x faster; 8 channels not measured).
    nonisolated(unsafe) static var winogradMinimumChannels =
        ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD_MIN_CHANNELS"].flatMap(Int.init) ?? 16

    /// 3x3, stride 1, no dilation, one group, padding at most 2 (so the input gradient is one too).
    var usesWinograd: Bool {
        ConvGeometry.winogradEnabled && kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1
            && groups == 1 && n > 0 && ph <= 2 && pw <= 2 && ho >= 1 && wo >= 1
            && min(c, o) >= ConvGeometry.winogradMinimumChannels
    }

    /// Weight gradients of Winograd layers go through Winograd too: by outer products per group of
    /// images, or by whole-batch GEMMs.
    var usesWinogradWeightGradient: Bool {
        usesWinogradOuterProductWeightGradient || usesWinogradGEMMWeightGradient
    }

    /// The outer products of each group of images, for the layers the GEMMs do not take, with
    /// outputs of at least 4x4. Measured (ms, both threads, batch 128, direct outer-product kernel
    /// -> this): small-ResNet 16 ch 28x28 2.65-2.79 -> 1.80, 32 ch 14x14 2.27 -> 2.01, 64 ch 7x7 2.32
    /// -> 1.99, 64 ch 4x4 0.85-1.90 -> 0.72. Smaller outputs fill too few of each tile's four
    /// outputs (64 ch 3x3 0.56 -> 0.71, 128 ch 1x1 0.62 -> 0.84-0.99). Against the GEMMs (ResNet-18,
    /// batch 8): layer1 and layer2 within noise at the training step, layer4 4x slower (its 16 x C x
    /// O sums are streamed once per group of images). Groups are whole images, so images whose
    /// transformed tiles pass 2M floats (8 MB) keep the direct kernel too: 16 channels at 224x224
    /// (6.4M floats) measured 23.9-26.1 ms against 12.6-14.2 and 80 MB more memory (batch 8), while
    /// 112x112 (1.6M) was 2.41-3.23 against 2.78-4.92, 56x56 with 32 channels 3.34-3.40 against 4.81-8.53.
    var usesWinogradOuterProductWeightGradient: Bool {
        usesWinograd && ConvGeometry.winogradOuterProductWeightGradientEnabled && !usesWinogradGEMMWeightGradient
            && min(ho, wo) >= ConvGeometry.winogradOuterProductMinimumOutput
            && winogradImageTileFloats(tile: 2) <= 1 << 21
    }

    /// One image's transformed inputs and output gradients in the outer-product weight gradient.
    private func winogradImageTileFloats(tile: Int) -> Int {
        (tile + 2) * (tile + 2) * (c + (o + 15) / 16 * 16) * ((ho + tile - 1) / tile) * ((wo + tile - 1) / tile)
    }
    /// Tests lower it to take tiny outputs through the outer products too.
    nonisolated(unsafe) static var winogradOuterProductMinimumOutput = 4

    /// The weight gradient's 16 whole-batch GEMMs [O, tiles] x [tiles, C] pay off for wide layers or
    /// large images; for small ones the transformed batch is mostly memory traffic (measured: ResNet-18
    /// layers 1.2-1.6x faster than the flat kernels, small-ResNet 32-64 channel layers 1.3-1.4x slower).
    var usesWinogradGEMMWeightGradient: Bool {
        usesWinograd && (c * o >= 65_536 || (c * o >= 4_096 && ohw >= 400) || ConvGeometry.winogradForAllSizes)
    }
    /// Tests set this to take every Winograd-capable shape through all three Winograd passes (the
    /// weight gradient by whole-batch GEMMs).
    nonisolated(unsafe) static var winogradForAllSizes = false

    /// Off with `WORKBOOK_WINOGRAD_OUTER_DW=0`: the small layers' weight gradients then take the
    /// direct outer-product kernel (tests compare both).
    nonisolated(unsafe) static var winogradOuterProductWeightGradientEnabled =
        ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD_OUTER_DW"] != "0"

    /// Output tile of the forward pass and input gradient: F(4x4, 3x3) (36 products per 16 outputs,
    /// 2.25x fewer than F(2x2)) when each thread's images give at least 128 tiles of 4x4, and either
    /// the layer is wide (128+ channels, images at least 25 pixels wide) or the image is narrow (at
    /// most 7 tiles per row, whose transforms run on several tile rows at once) and needs at most 3/4
    /// of F(2x2)'s products, padding included (28x28 and 7x7: 56%, 14x14: 73%, 6x6: 100%); else
    /// F(2x2, 3x3). Measured (interleaved runs, ms forward F(2x2) -> F(4x4)): ResNet-18 layer2
    /// (128 ch, 28x28) 8.3 -> 6.2; layer1 (64 ch, 56x56) 6.7 -> 6.5; layer3 (14x14) 8.6 -> 11.7 and
    /// layer4 (7x7, batch 8) 9.8 -> 25.7, where the 36 weight matrices serve few tiles. Small ResNet,
    /// batch 128, forward / input gradient on Zen 4: 16 ch 28x28 2.28-3.16 / 2.29-3.18 -> 1.64-2.40 /
    /// 1.62-2.50; 64 ch 7x7 1.67-1.74 / 1.79-2.03 -> 1.31-1.46 / 1.49-1.52; 32 ch 14x14 (after the
    /// narrow transform stored several tile rows per vector) 1.85-2.14 / 1.75-1.95 -> 1.50-1.80 /
    /// 1.72-1.78. `WORKBOOK_WINOGRAD_TILE=2|4` forces one.
    func winogradTile(channels: Int, outputHeight: Int, outputWidth: Int) -> Int {
        if let forced = ConvGeometry.winogradForcedTile { return forced }
        let images = (n + Threads.count - 1) / Threads.count
        let tilesPerRow = (outputWidth + 3) / 4, tileRows = (outputHeight + 3) / 4
        guard images * tileRows * tilesPerRow >= 128 else { return 2 }
        if channels >= 128 && tilesPerRow >= 7 { return 4 }
        // Products per image: 36 per 4x4 tile against 16 per 2x2 tile, padding included.
        let products4 = 36 * tileRows * tilesPerRow, products2 = 16 * ((outputHeight + 1) / 2) * ((outputWidth + 1) / 2)
        let narrow = tilesPerRow <= Int(ENGINE_WINOGRAD_NARROW4_TILES)
        return narrow && 4 * products4 <= 3 * products2 ? 4 : 2
    }
    nonisolated(unsafe) static var winogradForcedTile: Int? =
        ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD_TILE"].flatMap(Int.init).flatMap { [2, 4].contains($0) ? $0 : nil }

    /// `transformed`: `weight` already packed by `cachedWinogradWeights` for this geometry.
    func winogradForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue, transformed: UnsafePointer<Float>? = nil) {
        let tile = winogradTile(channels: min(c, o), outputHeight: ho, outputWidth: wo)
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
        let tile = winogradTile(channels: min(c, o), outputHeight: ho, outputWidth: wo)
        if let cached = cachedWinogradWeights(weight) { return (cached, tile) }
        guard ConvGeometry.winogradReuseForInputGradient, tile == 2,
              winogradTile(channels: min(c, o), outputHeight: h, outputWidth: w) == 2 else { return nil }
        return (packedWinogradWeights(weight, tile: tile), tile)
    }
    /// Off with `WORKBOOK_WINOGRAD_REUSE=0` (tests compare both ways).
    nonisolated(unsafe) static var winogradReuseForInputGradient =
        ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD_REUSE"] != "0"

    /// The forward pass's transformed weights for `weight`, kept on the tensor and recomputed only
    /// after its values change (its storage `version`): for weights that stay fixed between calls
    /// (evaluation, frozen backbones), where packing cost up to a third of a ResNet-18 layer4
    /// forward. Costs 16/9 (or 36/9) of the weight's memory per tile size in use. Nil when this
    /// convolution does not take the Winograd path, or when a gradient is recorded for the weight
    /// (training changes it every step: a cache would only hold memory).
    func cachedWinogradWeights(_ weight: Tensor) -> [Float]? {
        guard usesWinograd, ConvGeometry.winogradWeightCacheEnabled,
              !(GradMode.isEnabled && weight.requiresGrad) else { return nil }
        let tile = winogradTile(channels: min(c, o), outputHeight: ho, outputWidth: wo)
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
    /// Off with `WORKBOOK_WINOGRAD_CACHE=0`.
    nonisolated(unsafe) static var winogradWeightCacheEnabled =
        ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD_CACHE"] != "0"

    /// `forwardWeights`: what `forwardWinogradWeights` gave the forward pass, when it had 2x2 tiles.
    func winogradBackward(gradOutput g: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                          weight: UnsafePointer<Float>, forwardWeights: UnsafePointer<Float>? = nil,
                          gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?) {
        if let gradInput {
            // dX is dY convolved with the rotated kernels, channels swapped, padding 2 - p.
            let tile = winogradTile(channels: min(c, o), outputHeight: h, outputWidth: w)
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

    /// Most floats of transformed tiles the weight gradient holds at once (64 MB): larger batches or
    /// images go through in slices of tile rows, each adding its products to dU.
    nonisolated(unsafe) static var winogradGradientSliceFloats = 1 << 24

    private func winogradWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                        into gradWeight: UnsafeMutablePointer<Float>) {
        if usesWinogradOuterProductWeightGradient { return winogradOuterProductWeightGradient(g, x, into: gradWeight) }
        let tilesPerRow = (wo + 1) / 2, totalRows = n * ((ho + 1) / 2)
        let sliceRows = max(1, min(totalRows, ConvGeometry.winogradGradientSliceFloats / (16 * (c + o) * tilesPerRow)))
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
    private func winogradOuterProductWeightGradient(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                                    into gradWeight: UnsafeMutablePointer<Float>) {
        // F(4x4) (36 products per 4x4 outputs instead of 64) where the forward pass takes it on a
        // narrow image (at most NARROW4_TILES tiles per row). Measured (ms, both threads, batch 128,
        // F(2x2) -> F(4x4)): 16 ch 28x28 2.00-2.27 -> 1.41-1.84; 64 ch 7x7 1.74-1.83 -> 1.22-1.38 and
        // 32 ch 14x14 1.37-1.42 -> 1.23-1.26 once the back-transform of the 36 sums ran vectorised
        // and rows of 2 and 4 tiles were transformed by transposes (before, 7x7 took 2.9-3.9).
        let tilesPerRow4 = (wo + 3) / 4
        let tile = winogradTile(channels: min(c, o), outputHeight: ho, outputWidth: wo) == 4
            && tilesPerRow4 <= Int(ENGINE_WINOGRAD_NARROW4_TILES) ? 4 : 2
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
