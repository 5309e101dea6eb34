import XCTest
@testable import Torch

/// The Winograd F(2x2, 3x3) path must agree with the im2col path (the one checked against PyTorch
/// fixtures and gradient checks) on every shape it takes: odd and even sizes, padding 0-2, bias.
final class WinogradTests: XCTestCase {
    func testMatchesIm2colPath() {
        let saved = ConvGeometry.winogradEnabled
        defer { ConvGeometry.winogradEnabled = saved }
        let cases: [(n: Int, c: Int, o: Int, h: Int, w: Int, pad: Int, bias: Bool)] = [
            (2, 32, 32, 7, 7, 1, false), (1, 32, 48, 6, 9, 0, true), (3, 40, 32, 5, 4, 2, true),
            (2, 64, 32, 14, 14, 1, false), (1, 32, 32, 4, 5, 0, false),
        ]
        for (i, t) in cases.enumerated() {
            let g = Generator(seed: UInt64(40 + i))
            let x = Tensor.randn([t.n, t.c, t.h, t.w], generator: g)
            let weight = Tensor.randn([t.o, t.c, 3, 3], generator: g)
            let bias = t.bias ? Tensor.randn([t.o], generator: g) : nil
            let geometry = ConvGeometry(input: x, weight: weight, bias: bias, stride: (1, 1), padding: (t.pad, t.pad),
                                        dilation: (1, 1), groups: 1, file: #fileID, line: #line)
            ConvGeometry.winogradEnabled = true
            XCTAssertTrue(geometry.usesWinograd, "case \(i)")
            let fast = conv2d(x, weight: weight, bias: bias, padding: (t.pad, t.pad))
            ConvGeometry.winogradEnabled = false
            let reference = conv2d(x, weight: weight, bias: bias, padding: (t.pad, t.pad))
            XCTAssertEqual(fast.shape, reference.shape)
            let scale = reference.scalars.map(abs).max() ?? 1
            let worst = zip(fast.scalars, reference.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-5 * max(scale, 1), "case \(i): max difference \(worst)")
        }
    }

    func testGradientsThroughWinogradForward() {
        // Input gradients of a stride-1 3x3 layer go through the dual convolution, itself Winograd.
        let saved = ConvGeometry.winogradEnabled
        defer { ConvGeometry.winogradEnabled = saved }
        let g = Generator(seed: 7)
        let x = Tensor.randn([2, 32, 6, 6], generator: g).requiringGrad()
        let weight = Tensor.randn([32, 32, 3, 3], generator: g).requiringGrad()
        var grads: [[Float]] = []
        for enabled in [true, false] {
            ConvGeometry.winogradEnabled = enabled
            x.zeroGrad(); weight.zeroGrad()
            conv2d(x, weight: weight, bias: nil, padding: (1, 1)).square().sum().backward()
            grads.append(x.grad!.scalars + weight.grad!.scalars)
        }
        let scale = grads[1].map(abs).max() ?? 1
        let worst = zip(grads[0], grads[1]).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5 * scale)
    }
}
