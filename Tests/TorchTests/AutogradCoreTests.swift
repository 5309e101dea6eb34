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
