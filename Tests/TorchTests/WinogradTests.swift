import XCTest
@testable import Torch

/// The Winograd F(2x2, 3x3) path must agree with the im2col + GEMM path (the one checked against
/// PyTorch fixtures and gradient checks) in all three directions, on the shapes that stress its
/// edges: odd and even sizes, a single pixel, rows wider than one vector of tiles, padding 0-2,
/// channel counts that are not multiples of four, bias.
final class WinogradTests: XCTestCase {
    private struct Case {
        let n: Int, c: Int, o: Int, h: Int, w: Int, pad: Int, bias: Bool
    }

    private let cases: [Case] = [
        Case(n: 2, c: 16, o: 16, h: 7, w: 7, pad: 1, bias: false),
        Case(n: 1, c: 17, o: 18, h: 6, w: 9, pad: 0, bias: true),
        Case(n: 3, c: 20, o: 16, h: 5, w: 4, pad: 2, bias: true),
        Case(n: 2, c: 64, o: 32, h: 14, w: 14, pad: 1, bias: false),
        Case(n: 1, c: 5, o: 21, h: 4, w: 5, pad: 0, bias: false),
        Case(n: 2, c: 8, o: 8, h: 1, w: 1, pad: 1, bias: true),
        Case(n: 1, c: 6, o: 7, h: 3, w: 41, pad: 1, bias: false),
        Case(n: 2, c: 9, o: 12, h: 33, w: 35, pad: 1, bias: true),
        Case(n: 1, c: 80, o: 70, h: 6, w: 6, pad: 1, bias: false),  // more than 64 channels per product pass
        Case(n: 1, c: 4, o: 5, h: 9, w: 75, pad: 2, bias: true),  // rows of several blocks of 16 4x4 tiles
        // Staged rows of 9-16 2x2 tiles: output rows of 17-32 pixels (the small ResNet's 28x28).
        Case(n: 2, c: 16, o: 16, h: 28, w: 28, pad: 1, bias: false),
        Case(n: 1, c: 5, o: 6, h: 10, w: 31, pad: 1, bias: true),
        Case(n: 2, c: 3, o: 4, h: 7, w: 19, pad: 0, bias: false),
        // Narrow 4x4 tiles, staged 16 tile rows at a time: 28x28 images in two chunks of four (two
        // threads), tile rows split across stagings, groups and images; rows of 27 pixels, a last
        // tile row of 3.
        Case(n: 8, c: 16, o: 16, h: 28, w: 28, pad: 1, bias: false),
        Case(n: 3, c: 5, o: 6, h: 11, w: 27, pad: 1, bias: true),
        // Rows of 4 and 2 tiles of 4x4, phases gathered by transposes: a row filling the vector
        // (15 + 1 columns) with a last group of one tile row; padding 0 (the input gradient's 2).
        Case(n: 3, c: 8, o: 8, h: 10, w: 15, pad: 1, bias: true),
        Case(n: 2, c: 4, o: 4, h: 9, w: 8, pad: 0, bias: false),
        // Three tile rows of 2 tiles per image: vectors of two tile rows from different images, the
        // first with a last tile row of 3 output rows.
        Case(n: 3, c: 6, o: 5, h: 11, w: 6, pad: 1, bias: true),
    ]

    /// Runs `body` with the Winograd path on (every channel count; with `allSizes`, the weight
    /// gradient by whole-batch GEMMs at every size) or with only the GEMM path.
    private func withPath<R>(winograd: Bool, allSizes: Bool = true, _ body: () -> R) -> R {
        withConvPolicy({
            $0.winograd = winograd && $0.winograd
            $0.winogradMinimumChannels = 1
            $0.winogradGEMMWeightGradientForAllSizes = allSizes
            $0.flatKernels = false
        }, body)
    }

    private func assertClose(_ a: [Float], _ b: [Float], _ what: String, tolerance: Float = 2e-5,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 1, 1)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, tolerance * scale, "\(what): max difference \(worst) (scale \(scale))", file: file, line: line)
    }

    func testTakesThreeByThreeStrideOneOnly() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        func geometry(stride: Int = 1, dilation: Int = 1, kernel: Int = 3, padding: Int = 1) -> ConvGeometry {
            ConvGeometry(input: Tensor.zeros([1, 32, 8, 8]), weight: Tensor.zeros([32, 32, kernel, kernel]), bias: nil,
                         stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation),
                         groups: 1, file: #fileID, line: #line)
        }
        XCTAssertTrue(geometry().usesWinograd)
        XCTAssertFalse(geometry(stride: 2).usesWinograd)
        XCTAssertFalse(geometry(dilation: 2).usesWinograd)
        XCTAssertFalse(geometry(kernel: 5, padding: 2).usesWinograd)
        XCTAssertFalse(geometry(padding: 3).usesWinograd)
    }

    func testForwardAndGradientsMatchGEMMPath() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        // F(4x4, 3x3) multiplies by larger constants (up to 8 and 1/24), so it rounds a little more.
        for (tile, tolerance) in [(2, Float(2e-5)), (4, Float(1e-4))] {
          withConvPolicy({ $0.winogradTile = tile }) {
            for (i, t) in cases.enumerated() {
                let g = Generator(seed: UInt64(40 + i))
                let x = Tensor.randn([t.n, t.c, t.h, t.w], generator: g).requiringGrad()
                let weight = Tensor.randn([t.o, t.c, 3, 3], generator: g).requiringGrad()
                let bias = t.bias ? Tensor.randn([t.o], generator: g).requiringGrad() : nil
                let ho = t.h + 2 * t.pad - 2, wo = t.w + 2 * t.pad - 2
                let probe = Tensor.randn([t.n, t.o, ho, wo], generator: g)
                var results: [[[Float]]] = []
                for winograd in [true, false] {
                    results.append(withPath(winograd: winograd) {
                        let geometry = ConvGeometry(n: t.n, c: t.c, h: t.h, w: t.w, o: t.o, kh: 3, kw: 3,
                                                    padding: (t.pad, t.pad), dilation: (1, 1))
                        XCTAssertEqual(geometry.usesWinograd, winograd, "case \(i)")
                        XCTAssertEqual(geometry.usesWinogradWeightGradient, winograd, "case \(i)")
                        x.zeroGrad(); weight.zeroGrad(); bias?.zeroGrad()
                        let y = conv2d(x, weight: weight, bias: bias, padding: (t.pad, t.pad))
                        (y * probe).sum().backward()
                        return [y.scalars, x.grad!.scalars, weight.grad!.scalars, bias?.grad?.scalars ?? []]
                    })
                }
                for (k, name) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
                    assertClose(results[0][k], results[1][k], "tile \(tile) case \(i) \(name)", tolerance: tolerance)
                }
            }
          }
        }
    }

    /// With 2x2 tiles the input gradient reads the forward pass's transformed weights transposed,
    /// in the order of the rotated kernels' points, instead of transforming the rotated kernels again:
    /// the same products in the same order, so the same bits. Weights in training (a fresh pack kept
    /// by the graph) and frozen weights (the cached pack) both take that path.
    func testInputGradientFromTheForwardTransformIsBitIdentical() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        for (i, t) in cases.enumerated() {
            let g = Generator(seed: UInt64(90 + i))
            let x = Tensor.randn([t.n, t.c, t.h, t.w], generator: g).requiringGrad()
            let weight = Tensor.randn([t.o, t.c, 3, 3], generator: g)
            let ho = t.h + 2 * t.pad - 2, wo = t.w + 2 * t.pad - 2
            let probe = Tensor.randn([t.n, t.o, ho, wo], generator: g)
            for trained in [true, false] {
                let w = trained ? weight.detach().requiringGrad() : weight.detach()
                var gradients: [[Float]] = []
                for reuse in [true, false] {
                    w.winogradWeights = [:]
                    gradients.append(withConvPolicy({ $0.winogradTile = 2; $0.winogradReusesForwardWeights = reuse }) {
                      withPath(winograd: true) {
                        x.zeroGrad()
                        (conv2d(x, weight: w, bias: nil, padding: (t.pad, t.pad)) * probe).sum().backward()
                        return x.grad!.scalars
                      }
                    })
                }
                XCTAssertEqual(gradients[0], gradients[1], "case \(i), weight \(trained ? "in training" : "frozen")")
            }
        }
    }

    /// F(4x4) where it needs at most 3/4 of F(2x2)'s products and each thread has 128 tiles.
    func testTileSizeByImageAndBatch() throws {
        var policy = ConvPolicy.current.get()
        policy.winogradTile = nil
        func tile(n: Int, channels: Int, side: Int) -> Int {
            ConvGeometry(n: n, c: channels, h: side, w: side, o: channels, kh: 3, kw: 3, padding: (1, 1),
                         dilation: (1, 1), policy: policy, threads: 2).winogradTile(channels: channels, outputHeight: side, outputWidth: side)
        }
        XCTAssertEqual(tile(n: 128, channels: 16, side: 28), 4)
        XCTAssertEqual(tile(n: 128, channels: 64, side: 7), 4)
        XCTAssertEqual(tile(n: 128, channels: 32, side: 14), 4)  // 576 products per image against 784
        XCTAssertEqual(tile(n: 128, channels: 32, side: 6), 2)  // 144 against 144
        XCTAssertEqual(tile(n: 128, channels: 16, side: 30), 2)  // 8 tiles per row: not narrow, too few channels
        XCTAssertEqual(tile(n: 8, channels: 512, side: 7), 2)  // 16 tiles per thread
        XCTAssertEqual(tile(n: 8, channels: 128, side: 28), 4)
        XCTAssertEqual(tile(n: 8, channels: 64, side: 56), 2)
    }

    func testDeterministicForFixedThreadCount() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        let g = Generator(seed: 3)
        let x = Tensor.randn([5, 24, 12, 12], generator: g).requiringGrad()
        let weight = Tensor.randn([20, 24, 3, 3], generator: g).requiringGrad()
        var runs: [[Float]] = []
        for _ in 0..<2 {
            runs.append(withPath(winograd: true) {
                x.zeroGrad(); weight.zeroGrad()
                let y = conv2d(x, weight: weight, bias: nil, padding: (1, 1))
                y.square().sum().backward()
                return y.scalars + x.grad!.scalars + weight.grad!.scalars
            })
        }
        XCTAssertEqual(runs[0], runs[1])
    }

    /// Small layers' weight gradients by outer products of transformed tiles, per group of images:
    /// against the GEMM path on every case, plus batches whose chunks hold several groups of images
    /// and a short last group (64 channels at 7x7: groups of 4 images).
    func testOuterProductWeightGradientMatchesGEMMPath() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        withConvPolicy({ $0.winogradOuterProductWeightGradient = true }) {
        // Outputs under 4x4 keep the direct kernel (measured faster there); the kernel handles them.
        let tiny = ConvGeometry(n: 2, c: 16, h: 3, w: 3, o: 16, kh: 3, kw: 3, padding: (1, 1), dilation: (1, 1))
        XCTAssertTrue(tiny.usesWinograd)
        XCTAssertFalse(tiny.usesWinogradWeightGradient)
        // So do images whose transformed tiles would not stay near the cache (16 channels at 224x224).
        let large = ConvGeometry(n: 2, c: 16, h: 224, w: 224, o: 16, kh: 3, kw: 3, padding: (1, 1), dilation: (1, 1))
        XCTAssertFalse(large.usesWinogradWeightGradient)
        XCTAssertTrue(ConvGeometry(n: 2, c: 16, h: 112, w: 112, o: 16, kh: 3, kw: 3, padding: (1, 1),
                                   dilation: (1, 1)).usesWinogradOuterProductWeightGradient)
        let extra = [Case(n: 40, c: 64, o: 64, h: 7, w: 7, pad: 1, bias: false),
                     Case(n: 9, c: 16, o: 40, h: 12, w: 13, pad: 1, bias: false)]
        // With 4x4 tiles forced, outputs up to 28 wide take F(4x4) here too (36 sums per pair).
        for (tile, tolerance) in [(nil, Float(2e-5)), (4, Float(1e-4))] as [(Int?, Float)] {
        withConvPolicy({ $0.winogradOuterProductMinimumOutput = 1; $0.winogradTile = tile }) {
        for (i, t) in (cases + extra).enumerated() {
            let g = Generator(seed: UInt64(140 + i))
            let x = Tensor.randn([t.n, t.c, t.h, t.w], generator: g)
            let weight = Tensor.randn([t.o, t.c, 3, 3], generator: g).requiringGrad()
            let ho = t.h + 2 * t.pad - 2, wo = t.w + 2 * t.pad - 2
            let probe = Tensor.randn([t.n, t.o, ho, wo], generator: g)
            var results: [[Float]] = []
            for winograd in [true, false] {
                results.append(withPath(winograd: winograd, allSizes: false) {
                    let geometry = ConvGeometry(n: t.n, c: t.c, h: t.h, w: t.w, o: t.o, kh: 3, kw: 3,
                                                padding: (t.pad, t.pad), dilation: (1, 1))
                    if winograd {
                        XCTAssertTrue(geometry.usesWinogradWeightGradient, "case \(i)")
                        XCTAssertFalse(geometry.usesWinogradGEMMWeightGradient, "case \(i)")
                    }
                    weight.zeroGrad()
                    (conv2d(x, weight: weight, bias: nil, padding: (t.pad, t.pad)) * probe).sum().backward()
                    return weight.grad!.scalars
                })
            }
            assertClose(results[0], results[1],
                        "tile \(tile.map(String.init) ?? "by rule") case \(i) (\(t.n)x\(t.c)x\(t.h)x\(t.w) -> \(t.o)) weight gradient",
                        tolerance: tolerance)
        }
        }
        }
        }
    }

    func testWinogradInputGradientWithFlatWeightGradient() throws {
        // A small layer: Winograd forward and input gradient, the flat kernels' weight gradient.
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        withConvPolicy({ $0.winogradOuterProductWeightGradient = false }) {
        let g = Generator(seed: 11)
        let x = Tensor.randn([3, 32, 10, 10], generator: g).requiringGrad()
        let weight = Tensor.randn([32, 32, 3, 3], generator: g).requiringGrad()
        let geometry = ConvGeometry(input: x, weight: weight, bias: nil, stride: (1, 1), padding: (1, 1),
                                    dilation: (1, 1), groups: 1, file: #fileID, line: #line)
        XCTAssertTrue(geometry.usesWinograd)
        XCTAssertFalse(geometry.usesWinogradWeightGradient)
        let probe = Tensor.randn([3, 32, 10, 10], generator: g)
        func run() -> [[Float]] {
            x.zeroGrad(); weight.zeroGrad()
            let y = conv2d(x, weight: weight, bias: nil, padding: (1, 1))
            (y * probe).sum().backward()
            return [y.scalars, x.grad!.scalars, weight.grad!.scalars]
        }
        let mixed = run()
        let reference = withConvPolicy({ $0.winograd = false; $0.flatKernels = false }) { run() }
        for (k, name) in ["output", "input gradient", "weight gradient"].enumerated() {
            assertClose(mixed[k], reference[k], name)
        }
        }
    }

    func testWeightGradientInSlicesOfTileRows() throws {
        // A budget of a few tile rows forces many slices, one of them split across images.
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        let saved = ConvPolicy.current.get().winogradGradientSliceFloats
        let g = Generator(seed: 12)
        let x = Tensor.randn([3, 12, 9, 11], generator: g).requiringGrad()
        let weight = Tensor.randn([10, 12, 3, 3], generator: g).requiringGrad()
        let probe = Tensor.randn([3, 10, 9, 11], generator: g)
        var results: [[Float]] = []
        for (winograd, budget) in [(true, 16 * 22 * 6 * 3), (false, saved)] {
            results.append(withConvPolicy({ $0.winogradGradientSliceFloats = budget }) {
                withPath(winograd: winograd) {
                    x.zeroGrad(); weight.zeroGrad()
                    (conv2d(x, weight: weight, bias: nil, padding: (1, 1)) * probe).sum().backward()
                    return weight.grad!.scalars
                }
            })
        }
        assertClose(results[0], results[1], "weight gradient in slices of 3 tile rows")
    }

    /// Weights that cannot change between calls (no gradient recorded) keep their transform on the
    /// tensor; every way of writing new values into the weight invalidates it.
    func testTransformedWeightsCachedUntilTheWeightChanges() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        let g = Generator(seed: 61)
        let x = Tensor.randn([2, 32, 9, 9], generator: g)
        let weight = Tensor.randn([40, 32, 3, 3], generator: g).requiringGrad()
        func reference() -> [Float] {
            withPath(winograd: false) { withNoGrad { conv2d(x, weight: weight.detach(), bias: nil, padding: (1, 1)).scalars } }
        }
        func winograd() -> [Float] { withNoGrad { conv2d(x, weight: weight, bias: nil, padding: (1, 1)).scalars } }

        XCTAssertTrue(weight.winogradWeights.isEmpty)
        assertClose(winograd(), reference(), "first call")
        XCTAssertEqual(weight.winogradWeights.count, 1, "no gradient recorded: the transform is kept")
        let kept = weight.winogradWeights.first!.value.values
        assertClose(winograd(), reference(), "second call, from the cache")
        XCTAssertEqual(weight.winogradWeights.first!.value.values, kept)

        let edits: [(String, () -> Void)] = [
            ("withUnsafeMutableBufferPointer", { weight.withUnsafeMutableBufferPointer { $0[5] += 1 } }),
            ("copy_", { weight.copy_(from: Tensor.randn([40, 32, 3, 3], generator: g)) }),
            ("an optimizer's in-place update", { weight.grad = Tensor.ones([40, 32, 3, 3]); weight.addUnrecordedInPlace(weight.grad!) }),
        ]
        for (name, edit) in edits {
            let version = weight.version
            edit()
            XCTAssertNotEqual(weight.version, version, name)
            assertClose(winograd(), reference(), "after \(name)")
        }

        // Recording a gradient for the weight: no cache is consulted or filled.
        weight.winogradWeights = [:]
        _ = conv2d(x, weight: weight, bias: nil, padding: (1, 1))
        XCTAssertTrue(weight.winogradWeights.isEmpty)
    }
}
