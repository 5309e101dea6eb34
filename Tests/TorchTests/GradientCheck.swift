import XCTest
@testable import Torch

/// Compares autograd's gradients of `f` with central finite differences; returns a description of
/// the first mismatch, or nil when every element agrees.
///
/// The scalar checked is `sum(f(inputs) * projection)` with a fixed random projection, so every
/// output element contributes with a different weight (a plain sum can hide sign errors).
/// Differences are accumulated in Double; `eps` is the step on each input element.
func gradientMismatch(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 7,
                      _ f: ([Tensor]) -> Tensor) -> String? {
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let out = f(inputs)
    let projection = Tensor.randn(out.shape, generator: Generator(seed: seed))
    (out * projection).backward(Tensor.ones(out.shape))

    func loss() -> Double {
        let y = withNoGrad { f(inputs) }
        var s = 0.0
        let ys = y.scalars, ps = projection.scalars
        for i in 0..<ys.count { s += Double(ys[i]) * Double(ps[i]) }
        return s
    }
    for (k, t) in inputs.enumerated() {
        guard let analytic = t.grad?.scalars else { return "input \(k) got no gradient" }
        if analytic.count != t.count { return "input \(k) gradient has \(analytic.count) elements, expected \(t.count)" }
        for i in 0..<t.count {
            let original = t.storage[i]
            t.storage[i] = original + eps
            let plus = loss()
            t.storage[i] = original - eps
            let minus = loss()
            t.storage[i] = original
            let numeric = Float((plus - minus) / Double(2 * eps))
            let scale = max(1, abs(numeric), abs(analytic[i]))
            if abs(numeric - analytic[i]) > tolerance * scale {
                return "input \(k) element \(i): autograd \(analytic[i]) vs finite difference \(numeric)"
            }
        }
    }
    return nil
}

/// XCTest assertion form of `gradientMismatch`.
func assertGradientsMatch(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 2e-2,
                          file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    if let problem = gradientMismatch(inputs, eps: eps, tolerance: tolerance, f) {
        XCTFail(problem, file: file, line: line)
    }
}

final class GradientCheckSelfTests: XCTestCase {
    /// The checker must catch a wrong backward, or it proves nothing.
    func testCheckerDetectsAWrongGradient() {
        let x = Tensor.randn([3], generator: Generator(seed: 1))
        let problem = gradientMismatch([x]) { xs in
            let y = xs[0].map { $0 * $0 }
            return Tensor.record(y, "wrongSquare", [xs[0]]) { g, _ in [g] }  // true gradient is 2x*g
        }
        XCTAssertNotNil(problem)
    }

    func testElementwiseBroadcastOps() {
        let a = Tensor.randn([2, 3], generator: Generator(seed: 2))
        let b = Tensor.randn([3], generator: Generator(seed: 3)).map { $0 + 3 }  // away from 0 for div
        assertGradientsMatch([a, b]) { t in (t[0] * t[1] - t[0] / t[1] + t[1]) * t[0] }
    }
}
