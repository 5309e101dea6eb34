import XCTest
@testable import Torch

/// Expected values come from PyTorch 2.15 via make_kernel_expectations.py on closed-form logits.
final class LossesTests: XCTestCase {
    private let logits = closedForm([4, 5])
    private let target = Tensor([1, 0, 4, 2], dtype: .int64)
    private let withIgnored = Tensor([1, -100, 4, 2], dtype: .int64)
    private let classWeight = Tensor([0.5, 1.0, 2.0, 1.5, 0.8])

    func testCrossEntropyMatchesPyTorch() {
        assertClose(crossEntropy(logits, target).scalars, [1.913855])
        assertClose(crossEntropy(logits, target, reduction: .sum).scalars, [7.65542])
        assertClose(crossEntropy(logits, target, reduction: .none).scalars, [0.5910684, 0.82537, 2.330758, 3.908224])
        assertClose(crossEntropy(logits, target, weight: classWeight).scalars, [2.484839])
        assertClose(crossEntropy(logits, withIgnored).scalars, [2.276683])
        assertClose(crossEntropy(logits, target, weight: classWeight, ignoreIndex: 2).scalars, [1.247113])
    }

    func testLabelSmoothingMatchesPyTorch() {
        assertClose(crossEntropy(logits, target, labelSmoothing: 0.1).scalars, [1.962121])
        assertClose(crossEntropy(logits, withIgnored, weight: classWeight, labelSmoothing: 0.2).scalars, [2.689099])
        assertClose(crossEntropy(logits, withIgnored, weight: classWeight, reduction: .sum, labelSmoothing: 0.2).scalars, [10.21858])
        let none = crossEntropy(logits, withIgnored, weight: classWeight, reduction: .none, labelSmoothing: 0.2)
        XCTAssertEqual(none.shape, [4])
        assertClose(none.scalars, [1.101794, 0, 2.167479, 6.949303])
    }

    func testCrossEntropyGradientMatchesPyTorch() {
        let x = closedForm([4, 5]).requiringGrad()
        crossEntropy(x, withIgnored, weight: classWeight, labelSmoothing: 0.2).backward()
        assertClose(x.grad!.scalars, [0.08323884, -0.07066975, -0.003254409, -0.01244534, 0.003130695, 0, 0, 0, 0, 0,
                                      0.1182187, 0.06352518, -0.01444595, -0.01276573, -0.1545322, 0.2843568, 0.09513159,
                                      -0.4324265, -0.008404003, 0.06134207], tolerance: 1e-5)
    }

    func testSpatialCrossEntropyMatchesPyTorch() {
        let x = closedForm([2, 3, 2, 2], 0.9, 0.3)
        let t = Tensor(shape: [2, 2, 2], int64Scalars: [0, 2, 1, 1, 2, 0, -100, 1])
        assertClose(crossEntropy(x, t, weight: Tensor([1.0, 0.5, 2.0]), labelSmoothing: 0.1).scalars, [1.993567])
        let none = crossEntropy(x, t, reduction: .none)
        XCTAssertEqual(none.shape, [2, 2, 2])
        assertClose(none.scalars, [1.559083, 0.7849075, 3.080374, 0.6116394, 2.822316, 2.345552, 0, 4.47598])
        assertGradientsMatch([x], eps: 1e-3) { crossEntropy($0[0], t, weight: Tensor([1.0, 0.5, 2.0]), labelSmoothing: 0.1) }
    }

    func testUnbatchedCrossEntropy() {
        let x = Tensor([1, 2, 3])
        let l = crossEntropy(x, Tensor(shape: [], int64Scalars: [2]))
        XCTAssertEqual(l.shape, [])
        assertClose(l.scalars, [-logSoftmax(x, dim: 0).scalars[2]])
    }

    func testNLLLossMatchesPyTorch() {
        let logp = logSoftmax(logits, dim: 1)
        assertClose(nllLoss(logp, target, weight: classWeight).scalars, [2.484839])
        assertClose(nllLoss(logp, withIgnored, reduction: .none).scalars, [0.5910684, 0, 2.330758, 3.908224])
        assertClose(nllLoss(logp, withIgnored, weight: classWeight, reduction: .sum).scalars, [10.27212])
    }

    func testAllIgnoredMeanIsNaNLikePyTorch() {
        XCTAssertTrue(crossEntropy(logits, Tensor([-100, -100, -100, -100], dtype: .int64)).item().isNaN)
    }

    func testMSELossMatchesPyTorch() {
        let a = closedForm([3, 4]), b = closedForm([3, 4], 0.4, 1.1)
        assertClose(mseLoss(a, b).scalars, [4.280258])
        assertClose(mseLoss(a, b, reduction: .sum).scalars, [51.3631])
        let none = mseLoss(a, b, reduction: .none)
        XCTAssertEqual(none.shape, [3, 4])
        assertClose(none.scalars, zip(a.scalars, b.scalars).map { ($0 - $1) * ($0 - $1) })
    }

    func testGradients() {
        let x = randomTensor([4, 5], seed: 1)
        for reduction in [Reduction.mean, .sum, .none] {
            assertGradientsMatch([x], eps: 1e-3) { crossEntropy($0[0], self.target, reduction: reduction) }
            assertGradientsMatch([x], eps: 1e-3) {
                crossEntropy($0[0], self.withIgnored, weight: self.classWeight, reduction: reduction, labelSmoothing: 0.3)
            }
            assertGradientsMatch([x], eps: 1e-3) {
                nllLoss($0[0], self.withIgnored, weight: self.classWeight, reduction: reduction)
            }
            let y = randomTensor([4, 5], seed: 2)
            assertGradientsMatch([x, y], eps: 1e-3) { mseLoss($0[0], $0[1], reduction: reduction) }
        }
        // Through logSoftmax + nllLoss the gradient equals the fused cross-entropy's.
        let a = randomTensor([3, 4], seed: 3).requiringGrad(), b = a.detach().requiringGrad()
        let t = Tensor([3, 0, 2], dtype: .int64)
        crossEntropy(a, t).backward()
        nllLoss(logSoftmax(b, dim: 1), t).backward()
        assertClose(a.grad!.scalars, b.grad!.scalars, tolerance: 1e-6)
    }
}
