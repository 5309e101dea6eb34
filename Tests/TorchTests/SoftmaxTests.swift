import Foundation
import XCTest
@testable import Torch

final class SoftmaxTests: XCTestCase {
    func testValuesByHand() {
        let y = softmax(Tensor([[1, 2, 3], [0, 0, 0]]), dim: 1)
        let e = [exp(Float(1)), exp(Float(2)), exp(Float(3))], s = e.reduce(0, +)
        assertClose(y.scalars, e.map { $0 / s } + [1.0 / 3, 1.0 / 3, 1.0 / 3], tolerance: 1e-6)
        let l = logSoftmax(Tensor([[1, 2, 3], [0, 0, 0]]), dim: -1)
        assertClose(l.scalars, e.map { log($0 / s) } + [Float](repeating: -log(3), count: 3), tolerance: 1e-6)
    }

    func testStableForLargeLogits() {
        let y = softmax(Tensor([1000, 1001, 1002]), dim: 0).scalars
        XCTAssertFalse(y.contains { $0.isNaN })
        assertClose(y, softmax(Tensor([0, 1, 2]), dim: 0).scalars, tolerance: 1e-6)
        let l = logSoftmax(Tensor([-1000, 0]), dim: 0).scalars
        assertClose(l, [-1000, 0])
    }

    func testEveryDimOfA3DTensorSumsToOne() {
        let x = randomTensor([2, 3, 4], seed: 1)
        for dim in [0, 1, 2, -1] {
            let y = softmax(x, dim: dim).scalars
            let d = dim < 0 ? dim + 3 : dim
            let shape = [2, 3, 4], strides = [12, 4, 1]
            for start in 0..<24 {
                // Positions whose index along dim is 0 begin one softmax slice.
                if (start / strides[d]) % shape[d] != 0 { continue }
                let total = (0..<shape[d]).reduce(Float(0)) { $0 + y[start + $1 * strides[d]] }
                XCTAssertEqual(total, 1, accuracy: 1e-5, "dim \(dim)")
            }
            let l = logSoftmax(x, dim: dim).scalars
            assertClose(l, y.map { log($0) }, tolerance: 1e-5)
        }
    }

    func testGradients() {
        let x = randomTensor([2, 3, 4], seed: 2)
        for dim in [0, 1, -1] {
            assertGradientsMatch([x], eps: 1e-3) { softmax($0[0], dim: dim) }
            assertGradientsMatch([x], eps: 1e-3) { logSoftmax($0[0], dim: dim) }
        }
    }
}
