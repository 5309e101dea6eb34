import XCTest
@testable import Torch

final class IndexingTests: XCTestCase {
    let g = Generator(seed: 21)
    let m = Tensor.arange(0, 12).reshape(3, 4)  // [[0,1,2,3],[4,5,6,7],[8,9,10,11]]

    func testNarrowSelectAndSubscripts() {
        XCTAssertEqual(m.narrow(dim: 1, start: 1, length: 2).scalars, [1, 2, 5, 6, 9, 10])
        XCTAssertEqual(m.narrow(dim: 0, start: -1, length: 1).scalars, [8, 9, 10, 11])
        XCTAssertEqual(m.select(dim: 1, index: -1).scalars, [3, 7, 11])
        XCTAssertEqual(m.select(dim: 1, index: 0).shape, [3])
        XCTAssertEqual(m[1].scalars, [4, 5, 6, 7])
        XCTAssertEqual(m[-1].scalars, [8, 9, 10, 11])
        XCTAssertEqual(m[2, 1].item(), 9)
        XCTAssertEqual(m[2, 1].shape, [])
        XCTAssertEqual(m[1..<3].shape, [2, 4])
        XCTAssertEqual(m[..<1].scalars, [0, 1, 2, 3])
        XCTAssertEqual(m[1...].scalars.first, 4)
        XCTAssertEqual(m[0...1].shape, [2, 4])
        XCTAssertEqual(m[dim: 1, 2..<4].scalars, [2, 3, 6, 7, 10, 11])
        XCTAssertEqual(m[dim: -1, 3].scalars, [3, 7, 11])
        XCTAssertEqual(m[dim: 1, 2..<2].shape, [3, 0])
        let labels = Tensor([5, 6, 7, 8], dtype: .int64)
        XCTAssertEqual(labels[1..<3].int64Scalars, [6, 7])
        XCTAssertEqual(labels[3].intItem(), 8)
    }

    func testIndexValidationMessages() {
        XCTAssertEqual(IndexValidation.narrow(shape: [3, 4], dim: 1, start: 3, length: 2).failureMessage,
                       "narrow: start 3 + length 2 exceeds dim 1 of size 4 (shape [3, 4])")
        XCTAssertEqual(IndexValidation.narrow(shape: [3, 4], dim: 2, start: 0, length: 1).failureMessage,
                       "narrow: dimension 2 out of range for shape [3, 4] (expected to be in range [-2, 1])")
        XCTAssertEqual(IndexValidation.select(shape: [3, 4], dim: 0, index: 3).failureMessage,
                       "select: index 3 is out of bounds for dimension 0 with size 3 (shape [3, 4])")
        XCTAssertEqual(IndexValidation.indices(Tensor([0, 4], dtype: .int64), size: 4, op: "indexSelect", dim: 1, shape: [3, 4])?.message,
                       "index 4 is out of bounds for dimension 1 with size 4 (shape [3, 4])")
        XCTAssertEqual(IndexValidation.indices(Tensor([0, 1]), size: 4, op: "indexSelect", dim: 1, shape: [3, 4])?.message,
                       "index must be an Int64 tensor, got torch.float32 with shape [2]")
    }

    func testIndexSelectGather() {
        let idx = Tensor([2, 0, 2], dtype: .int64)
        XCTAssertEqual(m.indexSelect(dim: 0, index: idx).scalars, [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11])
        XCTAssertEqual(m.indexSelect(dim: 1, index: idx).scalars, [2, 0, 2, 6, 4, 6, 10, 8, 10])
        XCTAssertEqual(Tensor([10, 20, 30], dtype: .int64).indexSelect(dim: 0, index: idx).int64Scalars, [30, 10, 30])
        let picks = Tensor(shape: [3, 1], int64Scalars: [3, 0, 2])
        XCTAssertEqual(m.gather(dim: 1, index: picks).scalars, [3, 4, 10])
        let rows = Tensor(shape: [1, 4], int64Scalars: [2, 1, 0, 2])
        XCTAssertEqual(m.gather(dim: 0, index: rows).scalars, [8, 5, 2, 11])
    }

    func testMaskedFillAndWhere() {
        let x = Tensor([[1, -2], [-3, 4]])
        XCTAssertEqual(x.maskedFill(x .< 0, 0).scalars, [1, 0, 0, 4])
        XCTAssertEqual(x.maskedFill(Tensor([1, 0], dtype: .bool), 9).scalars, [9, -2, 9, 4])
        XCTAssertEqual(Tensor.where(x .> 0, x, Tensor([10, 20])).scalars, [1, 20, 10, 4])
        XCTAssertEqual(Tensor.where(x .> 0, x, 0).scalars, [1, 0, 0, 4])
    }

    func testCatStackSplitChunk() {
        let a = Tensor([[1, 2], [3, 4]]), b = Tensor([[5, 6]])
        XCTAssertEqual(cat([a, b]).scalars, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Tensor.cat([a, Tensor([[7], [8]])], dim: -1).scalars, [1, 2, 7, 3, 4, 8])
        XCTAssertEqual(Tensor.cat([a, Tensor([[7], [8]])], dim: 1).shape, [2, 3])
        XCTAssertEqual(stack([a, a]).shape, [2, 2, 2])
        XCTAssertEqual(Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], dim: 1).scalars, [1, 3, 2, 4])
        XCTAssertEqual(Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], dim: -1).shape, [2, 2])
        let labels = cat([Tensor([1], dtype: .int64), Tensor([2, 3], dtype: .int64)])
        XCTAssertEqual(labels.int64Scalars, [1, 2, 3])
        XCTAssertEqual(JoinValidation.cat([[2, 2], [1, 3]], dtypes: [.float32, .float32], dim: 0).failureMessage,
                       "cat: sizes of tensors must match except in dimension 0: tensor 0 has shape [2, 2] but tensor 1 has shape [1, 3]")
        XCTAssertEqual(JoinValidation.cat([[2], [2]], dtypes: [.float32, .int64], dim: 0).failureMessage,
                       "cat: all tensors must have the same dtype, got [\"torch.float32\", \"torch.int64\"]")
        let x = Tensor.arange(0, 10)
        XCTAssertEqual(x.split(4).map(\.scalars), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(x.split(sizes: [1, 9]).map(\.count), [1, 9])
        XCTAssertEqual(x.chunk(3).map(\.count), [4, 4, 2])
        XCTAssertEqual(m.chunk(2, dim: 1).map(\.shape), [[3, 2], [3, 2]])
        XCTAssertEqual(m.unbind(dim: 1).map(\.scalars), [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]])
    }

    func testPadValuesAndCropping() {
        let x = Tensor([[1, 2], [3, 4]])
        XCTAssertEqual(pad(x, padding: [1, 0]).scalars, [0, 1, 2, 0, 3, 4])
        let p = x.pad([1, 1, 0, 1], value: -1)
        XCTAssertEqual(p.shape, [3, 4])
        XCTAssertEqual(p.scalars, [-1, 1, 2, -1, -1, 3, 4, -1, -1, -1, -1, -1])
        XCTAssertEqual(p.pad([-1, -1, 0, -1]).scalars, x.scalars)
        XCTAssertEqual(Tensor.zeros([2, 3, 4, 5]).pad([1, 1, 2, 2]).shape, [2, 3, 8, 7])
        XCTAssertEqual(PadValidation.pad(shape: [2, 2], padding: [1]).failureMessage,
                       "pad: padding length must be even (pairs of before/after), got 1: [1]")
        XCTAssertEqual(PadValidation.pad(shape: [2], padding: [1, 1, 1, 1]).failureMessage,
                       "pad: padding [1, 1, 1, 1] pads 2 dimensions but the input shape [2] has only 1")
    }

    func testGradients() {
        let x = Tensor.randn([3, 4, 2], generator: g)
        assertGradientsMatch([x]) { $0[0].narrow(dim: 1, start: 1, length: 2) }
        assertGradientsMatch([x]) { $0[0][1] }
        assertGradientsMatch([x]) { $0[0][dim: -1, 1] }
        assertGradientsMatch([x]) { $0[0][1..<3] }
        assertGradientsMatch([x]) { $0[0].indexSelect(dim: 1, index: Tensor([3, 0, 3], dtype: .int64)) }
        assertGradientsMatch([x]) { $0[0].gather(dim: 1, index: Tensor(shape: [3, 2, 1], int64Scalars: [0, 3, 1, 1, 2, 0])) }
        assertGradientsMatch([x]) { $0[0].maskedFill($0[0] .> 0.5, 2) }
        let y = Tensor.randn([4, 2], generator: g)
        assertGradientsMatch([x, y]) { Tensor.where($0[0] .> 0, $0[0], $0[1]) }
        assertGradientsMatch([x, Tensor.randn([3, 1, 2], generator: g)]) { cat([$0[0], $0[1]], dim: 1) }
        assertGradientsMatch([x, Tensor.randn([3, 4, 2], generator: g)]) { stack([$0[0], $0[1]], dim: -1) }
        assertGradientsMatch([x]) { $0[0].split(3, dim: 1)[1] * 3 }
        assertGradientsMatch([x]) { $0[0].pad([1, 2, 0, 1], value: 3) }
        assertGradientsMatch([x]) { $0[0].pad([-1, 0, 1, -1]) }
    }
}
