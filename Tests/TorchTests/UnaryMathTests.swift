import XCTest
@testable import Torch

final class UnaryMathTests: XCTestCase {
    let g = Generator(seed: 31)

    private func assertClose(_ a: [Float], _ b: [Float], _ tol: Float = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tol * Swift.max(1, Swift.abs(y)), file: file, line: line) }
    }

    func testValues() {
        let x = Tensor([-2, -0.5, 0, 1, 4])
        XCTAssertEqual(x.relu().scalars, [0, 0, 0, 1, 4])
        XCTAssertEqual(relu(x).scalars, [0, 0, 0, 1, 4])
        XCTAssertEqual(x.abs().scalars, [2, 0.5, 0, 1, 4])
        XCTAssertEqual(x.square().scalars, [4, 0.25, 0, 1, 16])
        XCTAssertEqual(x.clamp(min: -1, max: 2).scalars, [-1, -0.5, 0, 1, 2])
        XCTAssertEqual(x.clamp(min: 0).scalars, [0, 0, 0, 1, 4])
        XCTAssertEqual(x.clamp(max: 0).scalars, [-2, -0.5, 0, 0, 0])
        assertClose(x.exp().scalars, [0.13533528, 0.60653066, 1, 2.7182817, 54.59815])
        assertClose(x.sigmoid().scalars, [0.11920292, 0.37754067, 0.5, 0.7310586, 0.98201376])
        assertClose(x.tanh().scalars, [-0.9640276, -0.46211717, 0, 0.7615942, 0.9993293])
        let p = Tensor([0.25, 1, 4])
        assertClose(p.log().scalars, [-1.3862944, 0, 1.3862944])
        assertClose(p.sqrt().scalars, [0.5, 1, 2])
        assertClose(p.rsqrt().scalars, [2, 1, 0.5])
        assertClose(p.pow(1.5).scalars, [0.125, 1, 8])
        assertClose(p.pow(-1).scalars, [4, 1, 0.25])
        // Saturation: no overflow to NaN for large magnitudes.
        let saturated = Tensor([-100, 100]).sigmoid().scalars
        XCTAssertLessThan(Double(saturated[0]), 1e-40)
        XCTAssertFalse(saturated[0].isNaN)
        XCTAssertEqual(saturated[1], 1)
        XCTAssertTrue(Tensor([-1]).log().scalars[0].isNaN)
        XCTAssertEqual(Tensor([0]).log().scalars, [-.infinity])
        // Int64 inputs are converted to Float32, as PyTorch does for exp/log.
        XCTAssertEqual(Tensor([1, 4], dtype: .int64).sqrt().dtype, .float32)
    }

    func testReluOnLargeTensorUsesAllElements() {
        let x = Tensor.randn([300, 301], generator: g)
        let y = x.relu()
        XCTAssertEqual(y.scalars, x.scalars.map { $0 > 0 ? $0 : 0 })
    }

    func testGradients() {
        let x = Tensor.randn([3, 4], generator: g)
        let positive = x.map { Swift.abs($0) + 0.5 }
        // Keep elements away from kinks so finite differences are meaningful.
        let awayFromZero = x.map { $0 >= 0 ? $0 + 0.2 : $0 - 0.2 }
        assertGradientsMatch([awayFromZero]) { $0[0].relu() }
        assertGradientsMatch([awayFromZero]) { $0[0].abs() }
        assertGradientsMatch([x]) { $0[0].sigmoid() }
        assertGradientsMatch([x]) { $0[0].tanh() }
        assertGradientsMatch([x]) { $0[0].exp() }
        assertGradientsMatch([x]) { $0[0].square() }
        assertGradientsMatch([positive]) { $0[0].log() }
        assertGradientsMatch([positive]) { $0[0].sqrt() }
        assertGradientsMatch([positive]) { $0[0].rsqrt() }
        assertGradientsMatch([positive]) { $0[0].pow(2.5) }
        assertGradientsMatch([positive]) { $0[0].pow(-1.5) }
        let spread = Tensor([-3, -1.5, -0.7, 0.3, 1.2, 2.6])
        assertGradientsMatch([spread]) { $0[0].clamp(min: -1, max: 1) }
        // Composite with broadcasting: the grad of a unary op feeding a broadcast multiply.
        assertGradientsMatch([x, Tensor.randn([4], generator: g)]) { ($0[0] * $0[1]).tanh().exp() }
    }

    func testReluBackwardMasksGradient() {
        let x = Tensor([-1, 2, 0, 3]).requiringGrad()
        (x.relu() * Tensor([5, 6, 7, 8])).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [0, 6, 0, 8])
        XCTAssertEqual(x.relu().gradFn?.name, "relu")
    }
}
