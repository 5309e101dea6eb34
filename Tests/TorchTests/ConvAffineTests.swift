import XCTest
@testable import Torch

/// `conv2dAffine` (a batch norm, a shortcut and a ReLU folded into the convolution's output) equals
/// the separate ops on every convolution path: Winograd, the flat kernels (stride 2, 7x7, few
/// channels) and sgemm (1x1, groups), with and without residual and ReLU, and keeps autograd when
/// gradients are wanted.
final class ConvAffineTests: XCTestCase {
    private struct Case {
        let n: Int, c: Int, o: Int, size: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    }

    private let cases: [Case] = [
        Case(n: 2, c: 32, o: 40, size: 9, kernel: 3, stride: 1, padding: 1, groups: 1),   // Winograd F(2x2)
        // Winograd F(4x4) (128+ tiles per thread): rows of 7 tiles, of 4 and of 2 (written out by transposes).
        Case(n: 6, c: 128, o: 128, size: 28, kernel: 3, stride: 1, padding: 1, groups: 1),
        Case(n: 32, c: 16, o: 16, size: 14, kernel: 3, stride: 1, padding: 1, groups: 1),
        Case(n: 128, c: 16, o: 24, size: 7, kernel: 3, stride: 1, padding: 1, groups: 1),
        Case(n: 3, c: 16, o: 16, size: 13, kernel: 3, stride: 1, padding: 1, groups: 1),  // flat kernels
        Case(n: 2, c: 16, o: 32, size: 14, kernel: 3, stride: 2, padding: 1, groups: 1),  // flat, stride 2
        Case(n: 1, c: 3, o: 24, size: 23, kernel: 7, stride: 2, padding: 3, groups: 1),   // ResNet stem
        Case(n: 2, c: 24, o: 36, size: 7, kernel: 1, stride: 1, padding: 0, groups: 1),   // 1x1: sgemm
        Case(n: 2, c: 8, o: 12, size: 6, kernel: 3, stride: 1, padding: 1, groups: 4),    // groups: sgemm
    ]

    private func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 1, 1)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5 * scale, "\(what): max difference \(worst)", file: file, line: line)
    }

    func testFusedOutputEqualsSeparateOps() {
        for (i, t) in cases.enumerated() {
            let g = Generator(seed: UInt64(70 + i))
            let x = Tensor.randn([t.n, t.c, t.size, t.size], generator: g)
            let weight = Tensor.randn([t.o, t.c / t.groups, t.kernel, t.kernel], generator: g)
            let scale = Tensor.randn([t.o], generator: g), shift = Tensor.randn([t.o], generator: g)
            let y = conv2d(x, weight: weight, bias: nil, stride: (t.stride, t.stride), padding: (t.padding, t.padding),
                           groups: t.groups)
            let shortcut = Tensor.randn(y.shape, generator: g)
            for reLU in [false, true] {
                for residual in [nil, shortcut] {
                    let fused = withNoGrad {
                        conv2dAffine(x, weight: weight, scale: scale, shift: shift, residual: residual, reLU: reLU,
                                     stride: (t.stride, t.stride), padding: (t.padding, t.padding), groups: t.groups)
                    }
                    var expected = y * scale.reshape([1, t.o, 1, 1]) + shift.reshape([1, t.o, 1, 1])
                    if let residual { expected = expected + residual }
                    if reLU { expected = expected.relu() }
                    XCTAssertEqual(fused.shape, expected.shape)
                    XCTAssertNil(fused.gradFn)
                    assertClose(fused.scalars, expected.scalars, "case \(i) relu \(reLU) residual \(residual != nil)")
                }
            }
        }
    }

    /// A NaN reaching a fused ReLU becomes 0 on every path, as the engine's `relu` makes it, so a
    /// folded layer gives what the separate layers give (the epilogue used to keep the NaN).
    func testNaNThroughTheFusedReLUAsRelu() {
        for (i, t) in cases.enumerated() {
            let g = Generator(seed: UInt64(90 + i))
            var values = Tensor.randn([t.n, t.c, t.size, t.size], generator: g).scalars
            values[values.count / 2] = .nan
            let x = Tensor(shape: [t.n, t.c, t.size, t.size], scalars: values)
            let weight = Tensor.randn([t.o, t.c / t.groups, t.kernel, t.kernel], generator: g)
            let scale = Tensor.randn([t.o], generator: g), shift = Tensor.randn([t.o], generator: g)
            let fused = withNoGrad {
                conv2dAffine(x, weight: weight, scale: scale, shift: shift, reLU: true, stride: (t.stride, t.stride),
                             padding: (t.padding, t.padding), groups: t.groups)
            }
            let y = conv2d(x, weight: weight, bias: nil, stride: (t.stride, t.stride), padding: (t.padding, t.padding),
                           groups: t.groups)
            let expected = (y * scale.reshape([1, t.o, 1, 1]) + shift.reshape([1, t.o, 1, 1])).relu()
            XCTAssertTrue(y.scalars.contains(where: \.isNaN), "case \(i): the NaN should reach the output")
            XCTAssertFalse(fused.scalars.contains(where: \.isNaN), "case \(i): a NaN passed the fused ReLU")
            assertClose(fused.scalars, expected.scalars, "case \(i)")
        }
    }

    func testGradientsWhenWanted() {
        let g = Generator(seed: 81)
        let x = Tensor.randn([2, 32, 6, 6], generator: g).requiringGrad()
        let weight = Tensor.randn([32, 32, 3, 3], generator: g).requiringGrad()
        let scale = Tensor.randn([32], generator: g).requiringGrad(), shift = Tensor.randn([32], generator: g).requiringGrad()
        let residual = Tensor.randn([2, 32, 6, 6], generator: g).requiringGrad()
        let all = [x, weight, scale, shift, residual]
        let y = conv2dAffine(x, weight: weight, scale: scale, shift: shift, residual: residual, reLU: true, padding: (1, 1))
        XCTAssertNotNil(y.gradFn)
        y.sum().backward()
        let fusedGrads = all.map { $0.grad!.scalars }
        for t in all { t.zeroGrad() }
        let reference = (conv2d(x, weight: weight, bias: nil, padding: (1, 1)) * scale.reshape([1, 32, 1, 1])
            + shift.reshape([1, 32, 1, 1]) + residual).relu()
        reference.sum().backward()
        for (k, t) in all.enumerated() { assertClose(fusedGrads[k], t.grad!.scalars, "gradient \(k)") }
    }

    /// A frozen weight keeps its Winograd transform in the fused call too.
    func testFusedCallUsesTheTransformCache() throws {
        try XCTSkipUnless(winogradRuns, "no AVX-512 here: the Winograd path is off")
        let weight = Tensor.randn([32, 32, 3, 3], generator: Generator(seed: 82))
        _ = conv2dAffine(Tensor.randn([1, 32, 8, 8]), weight: weight, scale: Tensor.ones([32]), shift: Tensor.zeros([32]),
                         padding: (1, 1))
        XCTAssertEqual(weight.winogradWeights.count, 1)
    }
}
