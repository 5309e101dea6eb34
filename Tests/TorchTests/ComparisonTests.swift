import XCTest
@testable import Torch

final class ComparisonTests: XCTestCase {
    func testTensorTensorComparisonsBroadcast() {
        let a = Tensor([[1, 2, 3], [4, 5, 6]])
        let b = Tensor([2, 2, 7])
        XCTAssertEqual((a .== b).scalars, [0, 1, 0, 0, 0, 0])
        XCTAssertEqual((a .!= b).scalars, [1, 0, 1, 1, 1, 1])
        XCTAssertEqual((a .< b).scalars, [1, 0, 1, 0, 0, 1])
        XCTAssertEqual((a .<= b).scalars, [1, 1, 1, 0, 0, 1])
        XCTAssertEqual((a .> b).scalars, [0, 0, 0, 1, 1, 0])
        XCTAssertEqual((a .>= b).scalars, [0, 1, 0, 1, 1, 0])
        XCTAssertEqual((a .> b).dtype, .bool)
        XCTAssertEqual((a .> b).shape, [2, 3])
        XCTAssertEqual(a.eq(b).scalars, (a .== b).scalars)
    }

    func testScalarComparisons() {
        let a = Tensor([1, 2, 3])
        XCTAssertEqual((a .> 2).scalars, [0, 0, 1])
        XCTAssertEqual((a .<= 2).scalars, [1, 1, 0])
        XCTAssertEqual((2 .< a).scalars, [0, 0, 1])
        XCTAssertEqual((2 .>= a).scalars, [1, 1, 0])
        XCTAssertEqual((a .== 2).scalars, [0, 1, 0])
        XCTAssertEqual(a.ne(2).scalars, [1, 0, 1])
    }

    func testInt64ComparisonsAndCountingCorrectPredictions() {
        let logits = Tensor([[0.1, 0.9, 0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
        let predictions = logits.argmax(dim: 1)
        let labels = Tensor([1, 0, 1, 0], dtype: .int64)
        let correct = (predictions .== labels).sum()
        XCTAssertEqual(correct.dtype, .int64)
        XCTAssertEqual(correct.intItem(), 3)
        XCTAssertEqual(correct.item(), 3)
        // Exact for integers beyond Float precision.
        let big = Tensor(shape: [2], int64Scalars: [16_777_217, 16_777_216])
        XCTAssertEqual((big .== Tensor(shape: [1], int64Scalars: [16_777_217])).scalars, [1, 0])
        XCTAssertEqual((big .> 16_777_216).scalars, [1, 0])
        // Mixed Int64 / Float compares as numbers.
        XCTAssertEqual((labels .== Tensor([1, 1, 1, 0])).scalars, [1, 0, 1, 1])
    }

    func testLogicalOpsAndWholeTensorTests() {
        let p = Tensor([1, 1, 0, 0], dtype: .bool), q = Tensor([1, 0, 1, 0], dtype: .bool)
        XCTAssertEqual((p .& q).scalars, [1, 0, 0, 0])
        XCTAssertEqual((p .| q).scalars, [1, 1, 1, 0])
        XCTAssertEqual((p .^ q).scalars, [0, 1, 1, 0])
        XCTAssertEqual((.!p).scalars, [0, 0, 1, 1])
        XCTAssertEqual((.!p).dtype, .bool)
        XCTAssertTrue((Tensor([1, 2]) .> 0).all())
        XCTAssertFalse((Tensor([1, -2]) .> 0).all())
        XCTAssertTrue((Tensor([1, -2]) .< 0).any())
        XCTAssertFalse(Tensor.zeros(3).any())
        XCTAssertTrue(Tensor([1, 2]).equal(Tensor([1, 2])))
        XCTAssertFalse(Tensor([1, 2]).equal(Tensor([[1, 2]])))
        XCTAssertTrue(Tensor([1, 2]).allClose(Tensor([1.000001, 2])))
        XCTAssertFalse(Tensor([1, 2]).allClose(Tensor([1.01, 2])))
        XCTAssertTrue(Tensor([1, 2]).allClose(Tensor([1.01, 2]), atol: 0.02))
        XCTAssertFalse(Tensor([.nan]).allClose(Tensor([.nan])))
        XCTAssertTrue(Tensor([.nan]).allClose(Tensor([.nan]), equalNaN: true))
        XCTAssertEqual(Tensor([.nan, 1, .infinity]).isNaN().scalars, [1, 0, 0])
        XCTAssertEqual(Tensor([.nan, 1, .infinity]).isFinite().scalars, [0, 1, 0])
    }
}
