import XCTest
@testable import Torch

final class ReductionTests: XCTestCase {
    let g = Generator(seed: 41)
    let m = Tensor([[1, 2, 3], [4, 5, 6]])

    func testSumAndMeanValuesAndShapes() {
        XCTAssertEqual(m.sum().item(), 21)
        XCTAssertEqual(m.sum().shape, [])
        XCTAssertEqual(m.sum(dim: 0).scalars, [5, 7, 9])
        XCTAssertEqual(m.sum(dim: -1).scalars, [6, 15])
        XCTAssertEqual(m.sum(dim: 1, keepDim: true).shape, [2, 1])
        XCTAssertEqual(m.sum(dims: [0, 1]).shape, [])
        XCTAssertEqual(m.sum(dims: [0, 1], keepDim: true).shape, [1, 1])
        XCTAssertEqual(m.mean().item(), 3.5)
        XCTAssertEqual(m.mean(dim: 0).scalars, [2.5, 3.5, 4.5])
        XCTAssertEqual(m.mean(dim: 1, keepDim: true).scalars, [2, 5])
        let x = Tensor.arange(0, 24).reshape(2, 3, 2, 2)
        // Per-channel sums over N, H, W as batch norm needs them.
        XCTAssertEqual(x.sum(dims: [0, 2, 3]).scalars, [60, 92, 124])  // e.g. 0+1+2+3+12+13+14+15
        XCTAssertEqual(x.sum(dims: [0, 2, 3], keepDim: true).shape, [1, 3, 1, 1])
        XCTAssertEqual(x.sum(dims: [-1, 1]).shape, [2, 2])
        XCTAssertEqual(x.sum(dims: [1, 3]).scalars, [27, 39, 99, 111])  // e.g. 0+1+4+5+8+9
        XCTAssertEqual(Tensor(4).sum().item(), 4)
        XCTAssertEqual(Tensor.zeros(0).sum().item(), 0)
    }

    func testSumsAgreeWithDoubleReferenceOnLargeTensors() {
        let x = Tensor.randn([8, 16, 33, 35], generator: g)
        let values = x.scalars
        var reference = 0.0
        for v in values { reference += Double(v) }
        XCTAssertEqual(Double(x.sum().item()), reference, accuracy: 1e-3)
        // Per channel.
        let perChannel = x.sum(dims: [0, 2, 3]).scalars
        for c in [0, 7, 15] {
            var s = 0.0
            for n in 0..<8 { for i in 0..<(33 * 35) { s += Double(values[(n * 16 + c) * 33 * 35 + i]) } }
            XCTAssertEqual(Double(perChannel[c]), s, accuracy: 1e-3)
        }
        // A constant offset is not lost to Float accumulation error (1M elements of 0.1).
        XCTAssertEqual(Tensor.full([1 << 20], 0.1).sum().item(), 104_857.6, accuracy: 0.01)
    }

    func testSumIsIndependentOfThreadCount() {
        let x = Tensor.randn([2, 100_000], generator: g)
        let before = Threads.count
        defer { Threads.count = before }
        Threads.count = 1
        let one = (x.sum().item(), x.sum(dim: 1).scalars, x.sum(dim: 0).scalars)
        Threads.count = 2
        let two = (x.sum().item(), x.sum(dim: 1).scalars, x.sum(dim: 0).scalars)
        XCTAssertEqual(one.0, two.0)
        XCTAssertEqual(one.1, two.1)
        XCTAssertEqual(one.2, two.2)
    }

    func testInt64AndBoolSums() {
        let labels = Tensor([3, 1, 4, 1, 5], dtype: .int64)
        XCTAssertEqual(labels.sum().dtype, .int64)
        XCTAssertEqual(labels.sum().intItem(), 14)
        let grid = Tensor(shape: [2, 2], int64Scalars: [1, 2, 3, 4])
        XCTAssertEqual(grid.sum(dim: 0).int64Scalars, [4, 6])
        XCTAssertEqual(Tensor([1, 0, 1], dtype: .bool).sum().intItem(), 2)
    }

    func testVarAndStd() {
        let x = Tensor([2, 4, 4, 4, 5, 5, 7, 9])
        XCTAssertEqual(x.var(unbiased: false).item(), 4, accuracy: 1e-6)
        XCTAssertEqual(x.std(unbiased: false).item(), 2, accuracy: 1e-6)
        XCTAssertEqual(x.var().item(), 32.0 / 7, accuracy: 1e-5)
        XCTAssertEqual(m.var(dim: 1).scalars, [1, 1])
        XCTAssertEqual(m.var(dim: 0, unbiased: false).scalars, [2.25, 2.25, 2.25])
        XCTAssertEqual(m.std(dim: 0, keepDim: true).shape, [1, 3])
        XCTAssertEqual(m.std(dim: 0).scalars[0], Float(4.5).squareRoot(), accuracy: 1e-6)
        // Large offset: two-pass variance stays accurate.
        XCTAssertEqual((Tensor([1, 2, 3, 4]) + 10_000).var().item(), 5.0 / 3, accuracy: 1e-3)
    }

    func testMaxMinArgmax() {
        let x = Tensor([[3, 7, 7], [9, -1, 2]])
        let (values, indices) = x.max(dim: 1)
        XCTAssertEqual(values.scalars, [7, 9])
        XCTAssertEqual(indices.int64Scalars, [1, 0])  // first of tied maxima
        XCTAssertEqual(indices.dtype, .int64)
        XCTAssertEqual(x.max(dim: 0, keepDim: true).values.shape, [1, 3])
        XCTAssertEqual(x.min(dim: 0).values.scalars, [3, -1, 2])
        XCTAssertEqual(x.min(dim: -1).indices.int64Scalars, [0, 1])
        XCTAssertEqual(x.argmax(dim: 1).int64Scalars, [1, 0])
        XCTAssertEqual(x.argmin(dim: 0).int64Scalars, [0, 1, 1])
        XCTAssertEqual(x.argmax(dim: 1, keepDim: true).shape, [2, 1])
        XCTAssertEqual(x.argmax().intItem(), 3)
        XCTAssertEqual(x.argmin().intItem(), 4)
        XCTAssertEqual(x.max().item(), 9)
        XCTAssertEqual(x.min().item(), -1)
        XCTAssertTrue(Tensor([1, .nan, 3]).max().item().isNaN)
        XCTAssertEqual(Tensor([5, 9, 2], dtype: .int64).max().intItem(), 9)
        XCTAssertEqual(Tensor([5, 9, 2], dtype: .int64).max().dtype, .int64)
    }

    func testReductionValidationMessages() {
        XCTAssertEqual(ReductionValidation.dims([0, -2], shape: [2, 3], op: "sum").failureMessage,
                       "sum: dim [0, -2] appears multiple times in the list of dims for shape [2, 3]")
        XCTAssertEqual(ReductionValidation.dims([2], shape: [2, 3], op: "mean").failureMessage,
                       "mean: dimension 2 out of range for shape [2, 3] (expected to be in range [-2, 1])")
    }

    func testGradients() {
        let x = Tensor.randn([2, 3, 4], generator: g)
        assertGradientsMatch([x]) { $0[0].sum() }
        assertGradientsMatch([x]) { $0[0].sum(dim: 1) }
        assertGradientsMatch([x]) { $0[0].sum(dim: -1, keepDim: true) }
        assertGradientsMatch([x]) { $0[0].sum(dims: [0, 2]) }
        assertGradientsMatch([x]) { $0[0].mean() }
        assertGradientsMatch([x]) { $0[0].mean(dim: 0, keepDim: true) }
        assertGradientsMatch([x]) { $0[0].mean(dims: [-1, 0]) }
        assertGradientsMatch([x]) { $0[0].var() }
        assertGradientsMatch([x]) { $0[0].var(dim: 1, unbiased: false) }
        assertGradientsMatch([x]) { $0[0].var(dims: [0, 2], keepDim: true) }
        assertGradientsMatch([x]) { $0[0].std() }
        assertGradientsMatch([x]) { $0[0].std(dim: -1, keepDim: true) }
        // Distinct values at least 0.1 apart, so finite differences never swap the extreme.
        let distinct = Tensor.randperm(24, generator: g).float().reshape(2, 3, 4) * 0.1
        assertGradientsMatch([distinct]) { $0[0].max(dim: 1).values }
        assertGradientsMatch([distinct]) { $0[0].min(dim: 2, keepDim: true).values }
        assertGradientsMatch([distinct]) { $0[0].max() }
        assertGradientsMatch([distinct]) { $0[0].min() }
        // Broadcast: normalising by a keepDim mean.
        assertGradientsMatch([x]) { $0[0] - $0[0].mean(dim: 1, keepDim: true) }
    }

    func testMaxGradientIsSharedAmongTies() {
        let x = Tensor([1, 5, 5, 2]).requiringGrad()
        x.max().backward()
        XCTAssertEqual(x.grad?.scalars, [0, 0.5, 0.5, 0])
        let y = Tensor([[1, 5, 5]]).requiringGrad()
        y.max(dim: 1).values.sum().backward()
        XCTAssertEqual(y.grad?.scalars, [0, 1, 0])
    }
}
