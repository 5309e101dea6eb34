import XCTest
@testable import Torch

/// The AVX-512 flat-plane kernels must agree with the im2col + sgemm path (the one checked against
/// PyTorch fixtures) for the forward pass and both gradients, on the shapes the course uses and on
/// awkward ones: channel counts that are not multiples of four, strides, dilation, wide kernels,
/// outputs whose rows are narrower than the padded plane, and batches split across threads. Kernels
/// of nine taps are checked through both weight-gradient kernels (lane sums and outer products),
/// with output counts that leave partial blocks of 16 and taps on and off the plain 3x3 grid;
/// strided 1x1 kernels through their own packing of the pixels they read.
final class FlatConvolutionTests: XCTestCase {
    struct Case {
        var input: [Int]; var out: Int; var kernel: (Int, Int)
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), bias = false
    }

    let cases: [Case] = [
        Case(input: [5, 16, 28, 28], out: 16, kernel: (3, 3), padding: (1, 1)),
        Case(input: [3, 16, 28, 28], out: 32, kernel: (3, 3), stride: (2, 2), padding: (1, 1), bias: true),
        Case(input: [4, 32, 7, 7], out: 64, kernel: (3, 3), padding: (1, 1)),
        Case(input: [2, 3, 30, 30], out: 8, kernel: (7, 7), stride: (2, 2), padding: (3, 3)),
        Case(input: [3, 5, 9, 11], out: 7, kernel: (3, 3), bias: true),
        Case(input: [2, 6, 10, 9], out: 5, kernel: (3, 2), stride: (2, 3), padding: (2, 1), dilation: (2, 1)),
        Case(input: [2, 4, 8, 8], out: 6, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
        Case(input: [1, 9, 13, 5], out: 3, kernel: (5, 1), stride: (1, 2), padding: (2, 0), bias: true),
        Case(input: [2, 3, 5, 6], out: 2, kernel: (1, 3), padding: (1, 1)),
        Case(input: [1, 1, 3, 3], out: 4, kernel: (3, 3), padding: (1, 1)),
        Case(input: [3, 5, 9, 7], out: 40, kernel: (3, 3), padding: (1, 1), bias: true),
        Case(input: [2, 4, 11, 10], out: 33, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        Case(input: [2, 3, 6, 14], out: 5, kernel: (1, 9), padding: (0, 4)),
        Case(input: [2, 2, 14, 6], out: 18, kernel: (9, 1), padding: (4, 0)),
        // Stride 2 both ways (its own input packing): odd widths, no padding, rows of several vectors.
        Case(input: [2, 3, 9, 37], out: 6, kernel: (3, 3), stride: (2, 2)),
        Case(input: [1, 2, 7, 41], out: 4, kernel: (5, 5), stride: (2, 2), padding: (2, 2), bias: true),
        // Stride 1 (row masks worked out once per layer): rows of several vectors, uneven padding.
        Case(input: [2, 3, 6, 37], out: 5, kernel: (3, 3), padding: (2, 1)),
        // Rows of more than 64 vectors take the general packing loops.
        Case(input: [1, 2, 3, 1030], out: 3, kernel: (3, 3), padding: (1, 1)),
        Case(input: [1, 2, 5, 2100], out: 2, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        // Strided 1x1 (planes of only the pixels read): the small ResNet's projection, odd sizes,
        // output rows of two vectors, and strides other than 2 along a row.
        Case(input: [3, 16, 28, 28], out: 32, kernel: (1, 1), stride: (2, 2)),
        Case(input: [2, 5, 7, 9], out: 6, kernel: (1, 1), stride: (2, 2), bias: true),
        Case(input: [2, 3, 6, 37], out: 4, kernel: (1, 1), stride: (2, 2)),
        Case(input: [1, 4, 10, 11], out: 3, kernel: (1, 1), stride: (3, 1)),
        Case(input: [1, 3, 9, 10], out: 5, kernel: (1, 1), stride: (1, 3), bias: true),
        // Stride 2 with input-gradient phase planes over 256 KB (a ResNet-18-sized row phase).
        Case(input: [1, 16, 64, 63], out: 4, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
    ]

    /// Winograd is off in both runs: it would otherwise take the 3x3 stride-1 cases of 16+ channels.
    private func results(_ t: Case, flat: Bool, seed: UInt64) -> [[Float]] {
        withConvPolicy({ $0.flatKernels = flat; $0.winograd = false }) {
        let g = Generator(seed: seed)
        let x = Tensor.randn(t.input, generator: g).requiringGrad()
        let w = Tensor.randn([t.out, t.input[1], t.kernel.0, t.kernel.1], generator: g).requiringGrad()
        let b = t.bias ? Tensor.randn([t.out], generator: g).requiringGrad() : nil
        let y = conv2d(x, weight: w, bias: b, stride: t.stride, padding: t.padding, dilation: t.dilation)
        // A weighted sum makes every output position's gradient different.
        let r = Tensor.randn(y.shape, generator: g)
        (y * r).sum().backward()
        return [y.scalars, x.grad!.scalars, w.grad!.scalars] + (b.map { [$0.grad!.scalars] } ?? [])
        }
    }

    func testMatchesGemmPath() throws {
        // Every case through the lane-sum weight gradient, however small its output.
        try compareWithGemmPath(weightGradientLimit: 40_000, minimumPixels: 0, outerProduct: false) { _ in true }
    }

    /// Nine-tap kernels through the outer-product weight gradient, the others through GEMM.
    func testOuterProductWeightGradientMatchesGemmPath() throws {
        try compareWithGemmPath(weightGradientLimit: 0, minimumPixels: 0, outerProduct: true) {
            $0.kernel.0 * $0.kernel.1 == 9
        }
    }

    /// Large layers take the flat kernels for the forward pass and the input gradient only.
    func testWeightGradientThroughGemmWithFlatInputGradient() throws {
        try compareWithGemmPath(weightGradientLimit: 0, minimumPixels: 0, outerProduct: false) { _ in false }
    }

    private func compareWithGemmPath(weightGradientLimit: Int, minimumPixels: Int, outerProduct: Bool,
                                     flatWeightGradient: (Case) -> Bool) throws {
        try XCTSkipUnless(engine_flat_conv_available_for_tests, "no AVX-512 on this CPU")
        // Winograd off, as in `results`: it would take the 3x3 stride-1 cases of 16+ channels.
        try withConvPolicy({
            $0.winograd = false
            $0.flatWeightGradientLimit = weightGradientLimit
            $0.flatWeightGradientMinimumPixels = minimumPixels
            $0.outerProductWeightGradient = outerProduct
        }) {
            try compareWithGemmPath(flatWeightGradient: flatWeightGradient)
        }
    }

    private func compareWithGemmPath(flatWeightGradient: (Case) -> Bool) throws {
        for (i, t) in cases.enumerated() {
            let x = Tensor.zeros(t.input), w = Tensor.zeros([t.out, t.input[1], t.kernel.0, t.kernel.1])
            let geometry = ConvGeometry(input: x, weight: w, bias: nil, stride: t.stride, padding: t.padding,
                                        dilation: t.dilation, groups: 1, file: #fileID, line: #line)
            XCTAssertTrue(geometry.usesFlatKernels, "case \(i) should take the flat kernels")
            XCTAssertEqual(geometry.usesFlatWeightGradient, flatWeightGradient(t), "case \(i)")
            let fast = results(t, flat: true, seed: UInt64(100 + i))
            let reference = results(t, flat: false, seed: UInt64(100 + i))
            for (k, name) in ["output", "input gradient", "weight gradient", "bias gradient"].prefix(fast.count).enumerated() {
                XCTAssertEqual(fast[k].count, reference[k].count, "case \(i) \(name)")
                let scale = max(1, reference[k].map(abs).max() ?? 1)
                let worst = zip(fast[k], reference[k]).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 2e-5 * scale, "case \(i) \(name): max difference \(worst)")
            }
        }
    }

    func testBitIdenticalAcrossRunsWithTwoThreads() throws {
        try XCTSkipUnless(engine_flat_conv_available_for_tests, "no AVX-512 on this CPU")
        let saved = Threads.count
        defer { Threads.count = saved }
        Threads.count = 2
        let t = cases[0]
        XCTAssertEqual(results(t, flat: true, seed: 9), results(t, flat: true, seed: 9))
    }
}

private let engine_flat_conv_available_for_tests = ConvPlan.flatKernelsAvailable && ConvPolicy.environment.flatKernels
