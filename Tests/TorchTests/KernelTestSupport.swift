import Foundation
import XCTest
@testable import Torch

/// `2 * sin(i * a + b)` for the i-th element: the closed-form inputs make_kernel_expectations.py
/// gives PyTorch, so expected values can be pasted from its output.
func closedForm(_ shape: [Int], _ a: Double = 1.3, _ b: Double = 0.7) -> Tensor {
    let n = Shape.count(shape)
    return Tensor(shape: shape, scalars: (0..<n).map { Float(2 * sin(Double($0) * a + b)) })
}

/// A reproducible standard-normal tensor.
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor.randn(shape, generator: Generator(seed: seed))
}

/// Element-wise comparison with a relative-and-absolute tolerance.
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("got \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    for i in 0..<actual.count {
        let scale = max(1, abs(expected[i]))
        if !(abs(actual[i] - expected[i]) <= tolerance * scale) {
            XCTFail("element \(i): \(actual[i]) vs expected \(expected[i])", file: file, line: line)
            return
        }
    }
}

final class EmptyTensorKernelTests: XCTestCase {
    /// A batch of zero images flows through every kernel without touching missing buffers.
    func testEmptyBatches() {
        let x = Tensor.zeros([0, 3, 8, 8]).requiringGrad()
        let w = randomTensor([4, 3, 3, 3], seed: 1).requiringGrad()
        let y = conv2d(x, weight: w, bias: nil, padding: (1, 1))
        XCTAssertEqual(y.shape, [0, 4, 8, 8])
        XCTAssertEqual(maxPool2d(y, kernelSize: (2, 2)).shape, [0, 4, 4, 4])
        XCTAssertEqual(avgPool2d(y, kernelSize: (2, 2)).shape, [0, 4, 4, 4])
        let pooled = adaptiveAvgPool2d(y, outputSize: (1, 1))
        XCTAssertEqual(pooled.shape, [0, 4, 1, 1])
        let logits = matmul(Tensor.zeros([0, 4]), randomTensor([4, 5], seed: 2))
        XCTAssertEqual(logits.shape, [0, 5])
        XCTAssertEqual(softmax(logits, dim: 1).shape, [0, 5])
        XCTAssertEqual(crossEntropy(logits, Tensor.zerosInt64([0]), reduction: .sum).item(), 0)
        XCTAssertEqual(crossEntropy(logits, Tensor.zerosInt64([0]), reduction: .none).shape, [0])
        XCTAssertEqual(linear(Tensor.zeros([0, 4]), weight: randomTensor([2, 4], seed: 3), bias: nil).shape, [0, 2])
        y.backward(Tensor.zeros([0, 4, 8, 8]))
        XCTAssertEqual(w.grad?.scalars, [Float](repeating: 0, count: 108))
    }
}

/// Runs `body` under the convolution policy that `change` makes of the current one, scoped to
/// `body` (and to the backward passes it runs): tests choose kernels without flipping globals.
func withConvPolicy<R>(_ change: (inout ConvPolicy) -> Void, _ body: () throws -> R) rethrows -> R {
    var policy = ConvPolicy.current.get()
    change(&policy)
    return try ConvPolicy.current.withValue(policy, operation: body)
}

/// Winograd runs on this machine: AVX-512, and not turned off by `WORKBOOK_WINOGRAD=0`.
var winogradRuns: Bool { ConvPlan.winogradAvailable && ConvPolicy.environment.winograd }
