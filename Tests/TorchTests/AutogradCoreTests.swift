import XCTest
@testable import Torch

final class AutogradCoreTests: XCTestCase {
    func testBroadcastAddMulBackward() {
        let a = Tensor([[1, 2, 3], [4, 5, 6]]).requiringGrad()
        let b = Tensor([10, 20, 30]).requiringGrad()
        let y = (a * b + a) / Tensor(2)
        XCTAssertEqual(y.shape, [2, 3])
        XCTAssertEqual(y.scalars, [5.5, 21, 46.5, 22, 52.5, 93])
        // d(sum y)/da = (b + 1) / 2 ; d/db = sum over rows of a / 2
        let s = Tensor.make(shape: [2, 3]) { o in for i in 0..<6 { o[i] = 1 } }
        y.backward(s)
        XCTAssertEqual(a.grad?.scalars, [5.5, 10.5, 15.5, 5.5, 10.5, 15.5])
        XCTAssertEqual(b.grad?.scalars, [2.5, 3.5, 4.5])
    }

    func testNoGradRecordsNothing() {
        let a = Tensor([1, 2]).requiringGrad()
        let y = withNoGrad { a * a }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradFn)
    }

    func testOpenBLASUsesAVX512KernelsWhenAvailable() {
        if Threads.openBLASCoreType.isEmpty { return }
        XCTAssertTrue(Threads.openBLASConfig.contains("SkylakeX") || Threads.openBLASCoreType != "SkylakeX",
                      Threads.openBLASConfig)
    }
}

final class AutogradMemoryTests: XCTestCase {
    private final class Probe { weak var tensor: Tensor? }

    /// x -> u = check(x) -> a = u * 2 -> loss. By the time u's backward runs, a's backward has run
    /// and nothing may keep `a` (an activation) alive any more.
    func testIntermediateTensorsAreFreedDuringBackward() {
        let x = Tensor([1, 2, 3]).requiringGrad()
        let probe = Probe()
        var aliveWhenChecked: Bool?
        func buildLoss() -> Tensor {
            let u = Tensor.record(x.map { $0 }, "check", [x]) { g, _ in
                aliveWhenChecked = probe.tensor != nil
                return [g]
            }
            let a = u * 2
            probe.tensor = a
            return a.sum()
        }
        let loss = buildLoss()
        XCTAssertNotNil(probe.tensor, "the graph holds `a` until backward")
        loss.backward()
        XCTAssertEqual(aliveWhenChecked, false)
        XCTAssertEqual(x.grad?.scalars, [2, 2, 2])
    }

    /// Gradients meeting at one intermediate tensor are summed (in place when the partial sum is
    /// not shared); a gradient object handed to several inputs must not be modified.
    func testGradientsAccumulateWithoutCorruptingSharedObjects() {
        let x = Tensor([1, -2, 3]).requiringGrad()
        let u = x * 2
        // add hands one object to both slots; addReLU one masked object to both; then three more paths.
        let y = (u + u) + addReLU(u, u) + u * 3 + u.relu()
        y.backward(Tensor([1, 1, 1]))
        // dy/du = 2 + 2 * [u > 0] + 3 + [u > 0]; dx = 2 * dy/du
        XCTAssertEqual(x.grad?.scalars, [16, 10, 16])
        let shared = Tensor([1, 2]).requiringGrad()
        let v = shared * 1
        let z = v + v
        z.backward(Tensor([5, 7]), retainGraph: true)
        z.backward(Tensor([5, 7]))
        XCTAssertEqual(shared.grad?.scalars, [20, 28])
    }
}
