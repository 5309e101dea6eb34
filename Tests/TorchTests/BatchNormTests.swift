import CEngineSupport
import XCTest
@testable import Torch

final class BatchNormTests: XCTestCase {
    // From make_kernel_expectations.py: x = closedForm([3, 2, 2, 2], 0.8, 0.2) + 0.5.
    private func input() -> Tensor { closedForm([3, 2, 2, 2], 0.8, 0.2).map { $0 + 0.5 } }

    func testTrainingOutputAndRunningStatsMatchPyTorch() {
        let rm = Tensor([0.1, -0.2]), rv = Tensor([1.0, 2.0])
        let y = batchNorm(input(), runningMean: rm, runningVar: rv, weight: Tensor([1.5, 0.5]), bias: Tensor([0.1, -0.3]),
                          training: true, momentum: 0.1, eps: 1e-5)
        assertClose(y.scalars, [-2.183899, 1.158801, 1.847187, -0.5363074, 0.3693169, -0.7065507, -0.8590996, 0.004204337,
                                -1.596942, 1.456446, 1.674972, -1.07392, 0.1755704, -0.7959678, -0.7899479, 0.1899782,
                                -1.032066, 1.690391, 1.436077, -1.640743, -0.009452477, -0.8634189, -0.6989124, 0.3842795])
        assertClose(rm.scalars, [0.2675727, -0.2577575], tolerance: 1e-5)
        assertClose(rv.scalars, [0.9363059, 1.835766], tolerance: 1e-5)
    }

    func testRunningStatsUseUnbiasedVarianceByHand() {
        // One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
        let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 6])
        let rm = Tensor([0]), rv = Tensor([1])
        let y = batchNorm(x, runningMean: rm, runningVar: rv, weight: nil, bias: nil, training: true, momentum: 0.25, eps: 0)
        assertClose(rm.scalars, [0.75])
        assertClose(rv.scalars, [0.75 + 0.25 * 14 / 3])
        let sd = Float(3.5).squareRoot()
        assertClose(y.scalars, [-2 / sd, -1 / sd, 0, 3 / sd])
    }

    func testEvalUsesRunningStats() {
        let rm = Tensor([0.2675727, -0.2577575]), rv = Tensor([0.9363059, 1.835766])
        let y = batchNorm(input(), runningMean: rm, runningVar: rv, weight: Tensor([1.5, 0.5]), bias: Tensor([0.1, -0.3]),
                          training: false)
        assertClose(y.scalars, [1.076246, 3.069153, 3.479566, 2.058535, -0.2089697, -0.6636387, -0.728107, -0.3632688,
                                1.426188, 3.246608, 3.376892, 1.738012, -0.2908484, -0.701427, -0.698883, -0.2847595,
                                1.762965, 3.386085, 3.234464, 1.400074, -0.3690403, -0.7299323, -0.6604108, -0.2026465])
        XCTAssertEqual(rm.scalars, [0.2675727, -0.2577575], "eval must not touch running stats")
    }

    func testTrainingWithoutRunningStatsUsesBatchStats() {
        let x = randomTensor([5, 3], seed: 1)
        let y = batchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true).scalars
        for ch in 0..<3 {
            let col = (0..<5).map { y[$0 * 3 + ch] }
            let mean = col.reduce(0, +) / 5
            let variance = col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(variance, 1, accuracy: 1e-3)
        }
    }

    func testTrainingGradients() {
        let x = randomTensor([4, 3, 2, 3], seed: 2), w = randomTensor([3], seed: 3), b = randomTensor([3], seed: 4)
        assertGradientsMatch([x, w, b], eps: 1e-2, tolerance: 3e-2) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        let x2 = randomTensor([6, 4], seed: 5), w2 = randomTensor([4], seed: 6), b2 = randomTensor([4], seed: 7)
        assertGradientsMatch([x2, w2, b2], eps: 1e-2, tolerance: 3e-2) {
            batchNorm($0[0], runningMean: Tensor.zeros([4]), runningVar: Tensor.ones([4]), weight: $0[1], bias: $0[2], training: true)
        }
        assertGradientsMatch([x2], eps: 1e-2, tolerance: 3e-2) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
        }
    }

    func testEvalGradients() {
        let x = randomTensor([3, 2, 2, 2], seed: 8), w = randomTensor([2], seed: 9), b = randomTensor([2], seed: 10)
        let rm = Tensor([0.3, -0.1]), rv = Tensor([0.5, 2.0])
        assertGradientsMatch([x, w, b]) {
            batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
        }
    }

    /// The AVX-512 loops and the scalar ones (machines without AVX-512) give the same results, in
    /// both modes, with and without the fused ReLU (and residual), on runs that are not multiples of 16.
    func testVectorAndScalarLoopsAgree() {
        defer { engine_batch_norm_use_scalar_loops(0) }
        for training in [true, false] {
          for fusion in ["none", "relu", "residual"] {
            var results: [[[Float]]] = []
            for scalar in [0, 1] as [Int32] {
                engine_batch_norm_use_scalar_loops(scalar)
                let x = randomTensor([5, 3, 7, 9], seed: 21).requiringGrad()
                let w = randomTensor([3], seed: 22).requiringGrad(), b = randomTensor([3], seed: 23).requiringGrad()
                let r = randomTensor(x.shape, seed: 25).requiringGrad()
                let rm = Tensor([0.1, -0.2, 0.3]), rv = Tensor([0.5, 1.5, 2.0])
                let y = switch fusion {
                case "relu": batchNormReLU(x, runningMean: rm, runningVar: rv, weight: w, bias: b, training: training)
                case "residual":
                    batchNormAddReLU(x, adding: r, runningMean: rm, runningVar: rv, weight: w, bias: b, training: training)
                default: batchNorm(x, runningMean: rm, runningVar: rv, weight: w, bias: b, training: training)
                }
                (y * randomTensor(y.shape, seed: 24)).sum().backward()
                results.append([y.scalars, x.grad!.scalars, w.grad!.scalars, b.grad!.scalars, rm.scalars, rv.scalars,
                                r.grad?.scalars ?? []])
            }
            for (k, name) in ["output", "input gradient", "weight gradient", "bias gradient", "running mean",
                              "running variance", "residual gradient"].enumerated() {
                XCTAssertEqual(results[0][k].count, results[1][k].count)
                let worst = zip(results[0][k], results[1][k]).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4, "\(name), training \(training), \(fusion)")
            }
            XCTAssertEqual(results[0][6].isEmpty, fusion != "residual")
          }
        }
    }

    func testFrozenAffineParametersGetNoGradient() {
        let x = randomTensor([4, 2, 3, 3], seed: 11), w = randomTensor([2], seed: 12), b = randomTensor([2], seed: 13)
        assertGradientsMatch([x], eps: 1e-2, tolerance: 3e-2) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: w, bias: b, training: true)
        }
        XCTAssertNil(w.grad)
        XCTAssertNil(b.grad)
    }
}
