import XCTest
@testable import Torch

/// batchNormReLU and addReLU: equal to the unfused ops, correct gradients, and the SIMD paths
/// (planes of 16+ elements with a scalar tail) checked against a Double reference.
final class FusedOpTests: XCTestCase {
    /// Double-precision batch norm (training statistics) of [N, C, S].
    private func referenceBatchNorm(_ x: [Float], n: Int, c: Int, s: Int, weight: [Float], bias: [Float], eps: Double) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for ch in 0..<c {
            var values: [Double] = []
            for img in 0..<n { for i in 0..<s { values.append(Double(x[(img * c + ch) * s + i])) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            for img in 0..<n {
                for i in 0..<s {
                    let k = (img * c + ch) * s + i
                    y[k] = (Double(x[k]) - mean) / (variance + eps).squareRoot() * Double(weight[ch]) + Double(bias[ch])
                }
            }
        }
        return y
    }

    func testBatchNormMatchesDoubleReferenceOnVectorPaths() {
        // Planes of 5 x 7 = 35 values: two 16-wide SIMD steps and a 3-element tail; values offset
        // far from 0 so a one-pass variance would lose digits without the shift.
        let x = randomTensor([3, 4, 5, 7], seed: 21).map { $0 * 0.5 + 100 }
        let w = randomTensor([4], seed: 22), b = randomTensor([4], seed: 23)
        let rm = Tensor.zeros([4]), rv = Tensor.ones([4])
        let y = batchNorm(x, runningMean: rm, runningVar: rv, weight: w, bias: b, training: true, momentum: 1)
        let expected = referenceBatchNorm(x.scalars, n: 3, c: 4, s: 35, weight: w.scalars, bias: b.scalars, eps: 1e-5)
        assertClose(y.scalars, expected.map(Float.init), tolerance: 2e-3)
        // momentum 1: the running stats are the batch mean and unbiased variance.
        for ch in 0..<4 {
            let values = (0..<3).flatMap { img in (0..<35).map { Double(x.scalars[(img * 4 + ch) * 35 + $0]) } }
            let mean = values.reduce(0, +) / 105
            let unbiased = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 104
            XCTAssertEqual(Double(rm.scalars[ch]), mean, accuracy: 1e-4)
            XCTAssertEqual(Double(rv.scalars[ch]), unbiased, accuracy: 1e-3 * unbiased)
        }
    }

    func testBatchNormReLUEqualsReLUOfBatchNorm() {
        for training in [true, false] {
            let x = randomTensor([4, 3, 5, 7], seed: 1)
            let w = randomTensor([3], seed: 2), b = randomTensor([3], seed: 3)
            let rm1 = Tensor([0.1, -0.2, 0.3]), rv1 = Tensor([0.5, 1.5, 2.0])
            let rm2 = Tensor([0.1, -0.2, 0.3]), rv2 = Tensor([0.5, 1.5, 2.0])
            for t in [x, w, b] { t.requiresGrad = true }
            let fused = batchNormReLU(x, runningMean: rm1, runningVar: rv1, weight: w, bias: b, training: training)
            let fusedOut = fused.scalars
            let projection = randomTensor(x.shape, seed: 4)
            (fused * projection).sum().backward()
            let fusedGrads = [x, w, b].map { $0.grad!.scalars }
            for t in [x, w, b] { t.grad = nil }

            let plain = relu(batchNorm(x, runningMean: rm2, runningVar: rv2, weight: w, bias: b, training: training))
            XCTAssertEqual(fusedOut, plain.scalars, "training \(training)")
            XCTAssertEqual(rm1.scalars, rm2.scalars)
            XCTAssertEqual(rv1.scalars, rv2.scalars)
            XCTAssertTrue(fusedOut.contains(0) && fusedOut.contains { $0 > 0 }, "the test needs both sides of the ReLU")
            (plain * projection).sum().backward()
            for (k, t) in [x, w, b].enumerated() {
                assertClose(fusedGrads[k], t.grad!.scalars, tolerance: 1e-5)
            }
            XCTAssertEqual(fused.gradFn?.name, "batchNormReLU")
        }
    }

    func testBatchNormAddReLUEqualsReLUOfBatchNormPlusResidual() {
        for training in [true, false] {
            let x = randomTensor([4, 3, 5, 7], seed: 31), r = randomTensor([4, 3, 5, 7], seed: 32)
            let w = randomTensor([3], seed: 33), b = randomTensor([3], seed: 34)
            let rm1 = Tensor([0.1, -0.2, 0.3]), rv1 = Tensor([0.5, 1.5, 2.0])
            let rm2 = Tensor([0.1, -0.2, 0.3]), rv2 = Tensor([0.5, 1.5, 2.0])
            for t in [x, r, w, b] { t.requiresGrad = true }
            let fused = batchNormAddReLU(x, adding: r, runningMean: rm1, runningVar: rv1, weight: w, bias: b,
                                         training: training)
            let fusedOut = fused.scalars
            let projection = randomTensor(x.shape, seed: 35)
            (fused * projection).sum().backward()
            let fusedGrads = [x, r, w, b].map { $0.grad!.scalars }
            for t in [x, r, w, b] { t.grad = nil }

            let plain = relu(batchNorm(x, runningMean: rm2, runningVar: rv2, weight: w, bias: b, training: training) + r)
            XCTAssertEqual(fusedOut, plain.scalars, "training \(training)")
            XCTAssertEqual(rm1.scalars, rm2.scalars)
            XCTAssertEqual(rv1.scalars, rv2.scalars)
            // The residual must change the mask somewhere: places where the batch norm alone is
            // positive but the sum is not, and the other way round.
            let normalized = batchNorm(x.detach(), runningMean: rm2, runningVar: rv2, weight: w.detach(), bias: b.detach(),
                                       training: false).scalars
            XCTAssertTrue(zip(normalized, fusedOut).contains { $0 > 0 && $1 == 0 })
            XCTAssertTrue(zip(normalized, fusedOut).contains { $0 <= 0 && $1 > 0 })
            (plain * projection).sum().backward()
            for (k, t) in [x, r, w, b].enumerated() {
                assertClose(fusedGrads[k], t.grad!.scalars, tolerance: 1e-5)
            }
            XCTAssertEqual(fused.gradFn?.name, "batchNormAddReLU")
        }
    }

    func testBatchNormAddReLUGradients() {
        let x = randomTensor([4, 3, 2, 3], seed: 36), r = randomTensor([4, 3, 2, 3], seed: 37)
        let w = randomTensor([3], seed: 38), b = randomTensor([3], seed: 39)
        assertGradientsMatch([x, r, w, b], eps: 1e-3, tolerance: 3e-2) {
            batchNormAddReLU($0[0], adding: $0[1], runningMean: nil, runningVar: nil, weight: $0[2], bias: $0[3],
                             training: true)
        }
        let rm = Tensor([0.3, -0.1, 0.2]), rv = Tensor([0.5, 2.0, 1.0])
        assertGradientsMatch([x, r, w, b], eps: 1e-3, tolerance: 3e-2) {
            batchNormAddReLU($0[0], adding: $0[1], runningMean: rm, runningVar: rv, weight: $0[2], bias: $0[3],
                             training: false)
        }
        // Planes of 20 go through the vector loops with a tail; only some inputs want a gradient
        // (the weight alone still needs the residual in its mask).
        let big = randomTensor([2, 2, 4, 5], seed: 40), bigR = randomTensor([2, 2, 4, 5], seed: 41)
        let w2 = randomTensor([2], seed: 42)
        assertGradientsMatch([w2], eps: 1e-3, tolerance: 3e-2) {
            batchNormAddReLU(big, adding: bigR, runningMean: nil, runningVar: nil, weight: $0[0], bias: nil, training: true)
        }
        assertGradientsMatch([bigR], eps: 1e-3, tolerance: 3e-2) {
            batchNormAddReLU(big, adding: $0[0], runningMean: nil, runningVar: nil, weight: w2, bias: nil, training: true)
        }
    }

    func testBatchNormReLUGradients() {
        let x = randomTensor([4, 3, 2, 3], seed: 5), w = randomTensor([3], seed: 6), b = randomTensor([3], seed: 7)
        assertGradientsMatch([x, w, b], eps: 1e-3, tolerance: 3e-2) {
            batchNormReLU($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        let rm = Tensor([0.3, -0.1, 0.2]), rv = Tensor([0.5, 2.0, 1.0])
        assertGradientsMatch([x, w, b], eps: 1e-3, tolerance: 3e-2) {
            batchNormReLU($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
        }
        // Larger planes go through the SIMD loops.
        let big = randomTensor([2, 2, 4, 5], seed: 8)
        assertGradientsMatch([big], eps: 1e-3, tolerance: 3e-2) {
            batchNormReLU($0[0], runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
        }
    }

    func testFrozenBatchNormComputesOnlyTheInputGradient() {
        let x = randomTensor([3, 2, 4, 5], seed: 9), w = randomTensor([2], seed: 10), b = randomTensor([2], seed: 11)
        let rm = Tensor([0.3, -0.1]), rv = Tensor([0.5, 2.0])
        assertGradientsMatch([x], eps: 1e-3, tolerance: 3e-2) {
            batchNormReLU($0[0], runningMean: rm, runningVar: rv, weight: w, bias: b, training: false)
        }
        XCTAssertNil(w.grad)
        XCTAssertNil(b.grad)
        // Only the weight wants a gradient: dx is skipped, dw is still right.
        let w2 = w.detach().requiringGrad()
        let constant = x.detach()
        let y = batchNorm(constant, runningMean: nil, runningVar: nil, weight: w2, bias: b, training: true)
        y.sum().backward()
        XCTAssertNil(constant.grad)
        assertClose(w2.grad!.scalars, [0, 0], tolerance: 1e-4)  // sum(xhat) is 0 per channel
    }

    func testBatchNormIsDeterministic() {
        let x = randomTensor([8, 6, 9, 9], seed: 12).requiringGrad()
        func run() -> ([Float], [Float]) {
            x.grad = nil
            let y = batchNormReLU(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
            (y * y).sum().backward()
            return (y.scalars, x.grad!.scalars)
        }
        let first = run(), second = run()
        XCTAssertEqual(first.0, second.0)
        XCTAssertEqual(first.1, second.1)
    }

    func testAddReLUEqualsReLUOfSum() {
        let a = randomTensor([3, 4, 5, 7], seed: 13).requiringGrad(), b = randomTensor([3, 4, 5, 7], seed: 14).requiringGrad()
        let fused = addReLU(a, b)
        XCTAssertEqual(fused.scalars, relu(a + b).scalars)
        XCTAssertEqual(fused.gradFn?.name, "addReLU")
        let projection = randomTensor(a.shape, seed: 15)
        (fused * projection).sum().backward()
        let ga = a.grad!.scalars, gb = b.grad!.scalars
        a.grad = nil; b.grad = nil
        (relu(a + b) * projection).sum().backward()
        XCTAssertEqual(ga, a.grad!.scalars)
        XCTAssertEqual(gb, b.grad!.scalars)
    }

    func testAddReLUGradientsAndBroadcastFallback() {
        let a = randomTensor([2, 3, 19], seed: 16), b = randomTensor([2, 3, 19], seed: 17)
        assertGradientsMatch([a, b], eps: 1e-3) { addReLU($0[0], $0[1]) }
        // The same tensor twice: both slots' gradients accumulate.
        assertGradientsMatch([a], eps: 1e-3) { addReLU($0[0], $0[0]) }
        let row = randomTensor([19], seed: 18)
        assertGradientsMatch([a, row], eps: 1e-3) { addReLU($0[0], $0[1]) }
        XCTAssertEqual(addReLU(a, row).scalars, relu(a + row).scalars)
    }

    func testReLUVectorPathAndGradient() {
        let x = Tensor([-2, -0.5, 0, 0.5, 2, -1, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, 0, -1], shape: [19])
        XCTAssertEqual(relu(x).scalars, x.scalars.map { $0 > 0 ? $0 : 0 })
        let nan = Tensor([Float.nan, 1, -1, 2, -2, 3, -3, 4, Float.nan])
        XCTAssertEqual(relu(nan).scalars, [0, 1, 0, 2, 0, 3, 0, 4, 0])
        x.requiresGrad = true
        (relu(x) * Tensor((0..<19).map { Float($0) })).sum().backward()
        XCTAssertEqual(x.grad!.scalars, (0..<19).map { x.scalars[$0] > 0 ? Float($0) : 0 })
    }
}
