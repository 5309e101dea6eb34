import XCTest
@testable import Torch

final class DropoutTests: XCTestCase {
    func testIdentityWhenNotTrainingOrPZero() {
        let x = randomTensor([10], seed: 1)
        XCTAssertTrue(dropout(x, p: 0.5, training: false) === x)
        XCTAssertTrue(dropout(x, p: 0) === x)
    }

    func testPOneGivesZerosAndZeroGradient() {
        let x = randomTensor([10], seed: 2).requiringGrad()
        let y = dropout(x, p: 1)
        XCTAssertEqual(y.scalars, [Float](repeating: 0, count: 10))
        y.backward(Tensor.ones([10]))
        XCTAssertEqual(x.grad?.scalars, [Float](repeating: 0, count: 10))
    }

    func testKeepsAboutOneMinusPScaled() {
        let x = Tensor.ones([20_000])
        let y = dropout(x, p: 0.3, generator: Generator(seed: 3)).scalars
        let kept = y.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 20_000, 0.7, accuracy: 0.02)
        for v in kept { XCTAssertEqual(v, 1 / 0.7, accuracy: 1e-6) }
    }

    func testSeededMaskIsReproducibleAndGradientIsTheMask() {
        let x = randomTensor([50], seed: 4).requiringGrad()
        let a = dropout(x, p: 0.5, generator: Generator(seed: 9))
        let b = dropout(x, p: 0.5, generator: Generator(seed: 9))
        XCTAssertEqual(a.scalars, b.scalars)
        a.backward(Tensor.ones([50]))
        let grad = x.grad!.scalars
        for i in 0..<50 { XCTAssertEqual(grad[i], a.scalars[i] == 0 ? 0 : 2, accuracy: 1e-6) }
        assertGradientsMatch([randomTensor([3, 4], seed: 5)]) { dropout($0[0], p: 0.4, generator: Generator(seed: 11)) }
    }

    func testUsesDefaultGenerator() {
        manualSeed(42)
        let a = dropout(Tensor.ones([100])).scalars
        manualSeed(42)
        XCTAssertEqual(dropout(Tensor.ones([100])).scalars, a)
    }
}
