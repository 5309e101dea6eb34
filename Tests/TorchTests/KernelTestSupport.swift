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
