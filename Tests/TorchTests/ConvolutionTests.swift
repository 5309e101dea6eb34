import XCTest
@testable import Torch

final class ConvolutionTests: XCTestCase {
    struct Config {
        var input: [Int]; var outChannels: Int; var kernel: (Int, Int)
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1, bias = true
    }

    /// Convolution by its definition, one output element at a time.
    private func referenceConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ c: Config) -> (shape: [Int], values: [Float]) {
        let (n, ci, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let cg = ci / c.groups, og = o / c.groups
        let ho = (h + 2 * c.padding.0 - c.dilation.0 * (kh - 1) - 1) / c.stride.0 + 1
        let wo = (wd + 2 * c.padding.1 - c.dilation.1 * (kw - 1) - 1) / c.stride.1 + 1
        let xv = x.scalars, wv = w.scalars, bv = b?.scalars
        var out: [Float] = []
        for img in 0..<n {
            for oc in 0..<o {
                let g = oc / og
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var s: Float = bv?[oc] ?? 0
                        for icg in 0..<cg {
                            let ic = g * cg + icg
                            for ki in 0..<kh {
                                for kj in 0..<kw {
                                    let ih = oh * c.stride.0 - c.padding.0 + ki * c.dilation.0
                                    let iw = ow * c.stride.1 - c.padding.1 + kj * c.dilation.1
                                    if ih < 0 || ih >= h || iw < 0 || iw >= wd { continue }
                                    s += xv[((img * ci + ic) * h + ih) * wd + iw] * wv[((oc * cg + icg) * kh + ki) * kw + kj]
                                }
                            }
                        }
                        out.append(s)
                    }
                }
            }
        }
        return ([n, o, ho, wo], out)
    }

    private let configs: [Config] = [
        Config(input: [2, 3, 7, 6], outChannels: 4, kernel: (3, 3)),
        Config(input: [3, 4, 8, 8], outChannels: 6, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        Config(input: [2, 2, 9, 7], outChannels: 3, kernel: (3, 2), stride: (1, 2), padding: (2, 1), dilation: (2, 1), bias: false),
        Config(input: [2, 4, 6, 6], outChannels: 6, kernel: (3, 3), padding: (1, 1), groups: 2),
        Config(input: [3, 4, 5, 5], outChannels: 4, kernel: (3, 3), stride: (2, 1), padding: (1, 1), groups: 4),  // depthwise
        Config(input: [4, 5, 4, 4], outChannels: 3, kernel: (1, 1)),  // pointwise, batched lowering
        Config(input: [1, 5, 4, 4], outChannels: 3, kernel: (1, 1), bias: false),  // pointwise, read in place
        Config(input: [2, 4, 7, 7], outChannels: 6, kernel: (1, 1), stride: (2, 2)),  // strided 1x1 projection
        Config(input: [2, 2, 9, 9], outChannels: 2, kernel: (7, 7), stride: (2, 2), padding: (3, 3)),
        Config(input: [1, 2, 5, 5], outChannels: 2, kernel: (5, 5), padding: (0, 0)),
        // Same-size outputs take the shifted-copy lowering, also with dilation and uneven kernels.
        Config(input: [2, 3, 6, 7], outChannels: 2, kernel: (3, 5), padding: (1, 2)),
        Config(input: [2, 2, 7, 7], outChannels: 3, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
        Config(input: [1, 2, 4, 4], outChannels: 2, kernel: (5, 5), padding: (2, 2)),
        // Stride 1 but padding wider than the kernel reach: input gradient through col2im.
        Config(input: [2, 3, 5, 6], outChannels: 2, kernel: (1, 3), padding: (1, 1)),
    ]

    private func run(_ c: Config, seed: UInt64) -> (Tensor, Tensor, Tensor?) {
        let x = randomTensor(c.input, seed: seed)
        let w = randomTensor([c.outChannels, c.input[1] / c.groups, c.kernel.0, c.kernel.1], seed: seed + 1)
        let b = c.bias ? randomTensor([c.outChannels], seed: seed + 2) : nil
        return (x, w, b)
    }

    private func conv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ c: Config) -> Tensor {
        conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
    }

    func testForwardMatchesReference() {
        for (i, c) in configs.enumerated() {
            let (x, w, b) = run(c, seed: UInt64(i * 10))
            let y = conv(x, w, b, c)
            let ref = referenceConv(x, w, b, c)
            XCTAssertEqual(y.shape, ref.shape, "config \(i)")
            assertClose(y.scalars, ref.values, tolerance: 1e-4)
        }
    }

    /// Small chunk budgets split the batch into several lowered chunks; wide-image thresholds
    /// force the one-image path. Results must not depend on either.
    func testChunkingDoesNotChangeResults() {
        let savedThreads = Threads.count
        defer { Threads.count = savedThreads }
        Threads.count = 1  // the budget is per thread; one thread makes the tile counts below exact
        for (i, c) in configs.enumerated() {
            let (x, w, b) = run(c, seed: UInt64(i * 10 + 3))
            let expected = referenceConv(x, w, b, c).values
            // 1500 floats split config 1's three images into chunks of 2 and 1.
            for (budget, wide) in [(1, 3136), (200, 3136), (1500, 3136), (1 << 22, 1)] {
                withConvPolicy({ $0.columnBudgetFloats = budget; $0.wideImagePixels = wide }) {
                    assertClose(conv(x, w, b, c).scalars, expected, tolerance: 1e-4)
                    // Gradients through row bands (budget 1) and uneven image chunks (1500).
                    if i % 3 == 0 && (budget == 1 || budget == 1500) {
                        assertGradientsMatch([x, w] + (b.map { [$0] } ?? [])) { t in
                            self.conv(t[0], t[1], t.count > 2 ? t[2] : nil, c)
                        }
                    }
                }
            }
        }
    }

    func testGradientsForAllConfigs() {
        for (i, c) in configs.enumerated() {
            let (x, w, b) = run(c, seed: UInt64(i * 10 + 5))
            let inputs = [x, w] + (b.map { [$0] } ?? [])
            if let problem = gradientMismatch(inputs, { t in self.conv(t[0], t[1], t.count > 2 ? t[2] : nil, c) }) {
                XCTFail("config \(i): \(problem)")
            }
        }
    }

    func testFrozenWeightComputesNoWeightGradient() {
        let c = configs[1]
        let (x, w, b) = run(c, seed: 77)
        let before = KernelCounters.conv2dWeightGradients
        // Only the input requires grad: its gradient is still checked against finite differences.
        assertGradientsMatch([x]) { t in self.conv(t[0], w, b, c) }
        XCTAssertEqual(KernelCounters.conv2dWeightGradients, before, "weight gradient path ran for a frozen weight")
        XCTAssertNil(w.grad)
        XCTAssertNil(b!.grad)
    }

    func testInputWithoutGradComputesNoInputGradient() {
        let c = configs[0]
        let (x, w, b) = run(c, seed: 88)
        let before = KernelCounters.conv2dInputGradients
        assertGradientsMatch([w, b!]) { t in self.conv(x, t[0], t[1], c) }
        XCTAssertEqual(KernelCounters.conv2dInputGradients, before, "input gradient path ran for an input without grad")
        XCTAssertNil(x.grad)
    }

    /// Parallel im2col/col2im own disjoint outputs, so repeated runs agree bit for bit.
    func testBackwardIsDeterministicWithTwoThreads() {
        let saved = Threads.count
        defer { Threads.count = saved }
        Threads.count = 2
        let x = randomTensor([4, 8, 16, 16], seed: 21), w = randomTensor([8, 8, 3, 3], seed: 22)
        let g = randomTensor([4, 8, 16, 16], seed: 23)
        func grads() -> ([Float], [Float]) {
            let xi = x.detach().requiringGrad(), wi = w.detach().requiringGrad()
            conv2d(xi, weight: wi, bias: nil, padding: (1, 1)).backward(g)
            return (xi.grad!.scalars, wi.grad!.scalars)
        }
        let first = grads(), second = grads()
        XCTAssertEqual(first.0, second.0)
        XCTAssertEqual(first.1, second.1)
    }

    func testUnbatchedInput() {
        let x = randomTensor([3, 6, 6], seed: 1), w = randomTensor([2, 3, 3, 3], seed: 2)
        let y = conv2d(x, weight: w, bias: nil, padding: (1, 1))
        XCTAssertEqual(y.shape, [2, 6, 6])
        let batched = conv2d(Tensor(shape: [1, 3, 6, 6], scalars: x.scalars), weight: w, bias: nil, padding: (1, 1))
        XCTAssertEqual(y.scalars, batched.scalars)
    }

    /// GEMM-path convolutions with at least one whole-image tile per thread run a run of tiles per
    /// thread, with the bias or epilogue applied per image: 1x1 stride-1 layers read in place
    /// (groups included, an odd batch split unevenly), strided 1x1 layers lowered two images per
    /// tile, grouped 3x3 layers lowered an image per tile. Same values as the definition, the same
    /// bits on one and two threads (the same single OpenBLAS call per tile either way); the backward
    /// deterministic for a thread count and close to one thread's.
    func testTilesInParallel() {
        let savedThreads = Threads.count
        defer { Threads.count = savedThreads }
        // Column budgets (floats per thread) that give the tiles above.
        let configs: [(Config, Int)] = [
            (Config(input: [3, 6, 5, 7], outChannels: 4, kernel: (1, 1)), 64),
            (Config(input: [4, 6, 4, 4], outChannels: 4, kernel: (1, 1), groups: 2, bias: false), 64),
            (Config(input: [4, 96, 8, 8], outChannels: 96, kernel: (1, 1), stride: (2, 2)), 3500),
            (Config(input: [3, 8, 6, 6], outChannels: 12, kernel: (3, 3), padding: (1, 1), groups: 4), 3000),
        ]
        for (i, (c, budget)) in configs.enumerated() {
          withConvPolicy({ $0.columnBudgetFloats = budget }) {
            let (x, w, b) = run(c, seed: UInt64(300 + 10 * i))
            let expected = referenceConv(x, w, b, c).values
            var outputs: [[Float]] = [], gradients: [[[Float]]] = []
            for threads in [1, 2] {
                Threads.count = threads
                let before = KernelCounters.convTilesInParallel
                let y = conv(x, w, b, c)
                XCTAssertEqual(KernelCounters.convTilesInParallel - before, threads == 2 ? 1 : 0, "config \(i)")
                assertClose(y.scalars, expected, tolerance: 1e-4)
                outputs.append(y.scalars)
                // The folded epilogue (scale, shift, shortcut, ReLU) on the same path.
                let scale = randomTensor([c.outChannels], seed: 40), shift = randomTensor([c.outChannels], seed: 41)
                let residual = randomTensor(y.shape, seed: 42)
                let fused = withNoGrad {
                    conv2dAffine(x, weight: w, scale: scale, shift: shift, residual: residual, reLU: true,
                                 stride: c.stride, padding: c.padding, groups: c.groups)
                }
                let plain = conv2d(x, weight: w, bias: nil, stride: c.stride, padding: c.padding, groups: c.groups)
                let reference = (plain * scale.reshape([1, c.outChannels, 1, 1]) + shift.reshape([1, c.outChannels, 1, 1])
                    + residual).relu()
                assertClose(fused.scalars, reference.scalars, tolerance: 1e-5)
                if x.count <= 1_000 {  // finite differences of the wide layer would take seconds
                    assertGradientsMatch([x, w] + (b.map { [$0] } ?? [])) { t in
                        self.conv(t[0], t[1], t.count > 2 ? t[2] : nil, c)
                    }
                }
                // Backward: each thread's images, weight-gradient sums added in part order.
                let dy = randomTensor(y.shape, seed: 43)
                func grads() -> [[Float]] {
                    let xi = x.detach().requiringGrad(), wi = w.detach().requiringGrad()
                    conv2d(xi, weight: wi, bias: nil, stride: c.stride, padding: c.padding, groups: c.groups).backward(dy)
                    return [xi.grad!.scalars, wi.grad!.scalars]
                }
                let beforeBackward = KernelCounters.convTilesInParallel
                let first = grads()
                XCTAssertEqual(KernelCounters.convTilesInParallel - beforeBackward, threads == 2 ? 2 : 0, "config \(i)")
                XCTAssertEqual(first, grads(), "config \(i): backward not deterministic on \(threads) threads")
                gradients.append(first)
            }
            XCTAssertEqual(outputs[0], outputs[1], "config \(i): one and two threads differ")
            for (one, two) in zip(gradients[0], gradients[1]) { assertClose(two, one, tolerance: 1e-5) }
          }
        }
    }

    func testOneByOneStrideOneMatchesMatmul() {
        // A 1x1 convolution is W [O, C] times each image's [C, H*W].
        let x = randomTensor([1, 4, 3, 5], seed: 3), w = randomTensor([2, 4, 1, 1], seed: 4)
        let y = conv2d(x, weight: w, bias: nil)
        let expected = matmul(Tensor(shape: [2, 4], scalars: w.scalars), Tensor(shape: [4, 15], scalars: x.scalars))
        assertClose(y.scalars, expected.scalars)
    }
}
