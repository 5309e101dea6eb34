import XCTest
@testable import Torch

final class ShapeOpsTests: XCTestCase {
    let g = Generator(seed: 11)

    func testReshapeInfersMinusOneAndKeepsValues() {
        let x = Tensor.arange(0, 24)
        XCTAssertEqual(x.reshape(2, -1).shape, [2, 12])
        XCTAssertEqual(x.reshape([4, -1, 2]).shape, [4, 3, 2])
        XCTAssertEqual(x.view(-1, 4).shape, [6, 4])
        XCTAssertEqual(x.reshape(2, 3, 4).scalars, x.scalars)
        XCTAssertEqual(Tensor(5).reshape(1, 1).shape, [1, 1])
        XCTAssertEqual(Tensor.zeros([0, 3]).reshape(-1, 3).shape, [0, 3])
    }

    func testReshapeValidationMessages() {
        XCTAssertEqual(ShapeValidation.reshape([2, 3], to: [4, -1]).failureMessage,
                       "reshape: shape [4, -1] is invalid for input of size 6 (input shape [2, 3])")
        XCTAssertEqual(ShapeValidation.reshape([2, 3], to: [-1, -1]).failureMessage,
                       "reshape: only one dimension can be inferred (-1) in [-1, -1]")
        XCTAssertEqual(ShapeValidation.reshape([2, 3], to: [5]).failureMessage,
                       "reshape: shape [5] is invalid for input of size 6 (input shape [2, 3])")
        XCTAssertNil(ShapeValidation.reshape([2, 3], to: [3, 2]).failureMessage)
        XCTAssertEqual(ShapeValidation.permutation([0, 0], shape: [2, 3]).failureMessage,
                       "permute: repeated dim in [0, 0] for shape [2, 3]")
        XCTAssertEqual(ShapeValidation.permutation([0, 2], shape: [2, 3]).failureMessage,
                       "permute: dimension 2 out of range for shape [2, 3] (expected to be in range [-2, 1])")
        XCTAssertEqual(ShapeValidation.permutation([0], shape: [2, 3]).failureMessage,
                       "permute: number of dims 1 in [0] does not match the rank 2 of shape [2, 3]")
        XCTAssertEqual(ShapeValidation.expand([2, 3], to: [4, 3]).failureMessage,
                       "expand: shape [2, 3] cannot be expanded to [4, 3]: size 2 at dim 0 must be 1 or match 4")
    }

    func testFlattenSqueezeUnsqueeze() {
        let x = Tensor.zeros([2, 3, 4, 5])
        XCTAssertEqual(x.flatten().shape, [120])
        XCTAssertEqual(x.flatten(startDim: 1).shape, [2, 60])
        XCTAssertEqual(x.flatten(startDim: 1, endDim: 2).shape, [2, 12, 5])
        XCTAssertEqual(x.flatten(startDim: -2).shape, [2, 3, 20])
        XCTAssertEqual(Tensor(2).flatten().shape, [1])
        let y = Tensor.zeros([1, 3, 1, 2])
        XCTAssertEqual(y.squeeze().shape, [3, 2])
        XCTAssertEqual(y.squeeze(dim: 2).shape, [1, 3, 2])
        XCTAssertEqual(y.squeeze(dim: -1).shape, [1, 3, 1, 2])  // size 2: unchanged, as in PyTorch
        XCTAssertEqual(y.unsqueeze(dim: 0).shape, [1, 1, 3, 1, 2])
        XCTAssertEqual(y.unsqueeze(dim: -1).shape, [1, 3, 1, 2, 1])
        XCTAssertEqual(Tensor([1, 2]).unsqueeze(dim: 1).shape, [2, 1])
    }

    func testPermuteTransposeValues() {
        let x = Tensor.arange(0, 6).reshape(2, 3)
        XCTAssertEqual(x.T.shape, [3, 2])
        XCTAssertEqual(x.t().scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(x.transpose(0, -1).scalars, [0, 3, 1, 4, 2, 5])
        let y = Tensor.arange(0, 24).reshape(2, 3, 4)
        let p = y.permute(2, 0, 1)
        XCTAssertEqual(p.shape, [4, 2, 3])
        // p[k, i, j] == y[i, j, k]
        XCTAssertEqual(p[1, 1, 2].item(), y[1, 2, 1].item())
        XCTAssertEqual(p[3, 0, 1].item(), y[0, 1, 3].item())
        XCTAssertEqual(p.permute(1, 2, 0).scalars, y.scalars)
        let labels = Tensor([1, 2, 3, 4, 5, 6], dtype: .int64).reshape(2, 3)
        XCTAssertEqual(labels.t().int64Scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(labels.t().dtype, .int64)
        XCTAssertEqual(Tensor([1, 2]).t().shape, [2])
    }

    func testExpandAndRepeatValues() {
        let x = Tensor([1, 2, 3])
        XCTAssertEqual(x.expand(2, -1).scalars, [1, 2, 3, 1, 2, 3])
        let c = Tensor([[1], [2]])
        XCTAssertEqual(c.expand(to: [2, 3]).scalars, [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(c.expand(to: [2, 2, 2]).shape, [2, 2, 2])
        XCTAssertEqual(x.repeat(2).scalars, [1, 2, 3, 1, 2, 3])
        XCTAssertEqual(Tensor([[1, 2], [3, 4]]).repeat(2, 1).scalars, [1, 2, 3, 4, 1, 2, 3, 4])
        XCTAssertEqual(Tensor([[1, 2], [3, 4]]).repeat(1, 2).scalars, [1, 2, 1, 2, 3, 4, 3, 4])
        XCTAssertEqual(x.repeat(2, 1, 2).shape, [2, 1, 6])
    }

    func testCloneIsIndependent() {
        let x = Tensor([1, 2, 3])
        let y = x.clone()
        y.withUnsafeMutableBufferPointer { $0[0] = 9 }
        XCTAssertEqual(x.scalars, [1, 2, 3])
        XCTAssertEqual(y.scalars, [9, 2, 3])
    }

    func testGradients() {
        let x = Tensor.randn([2, 3, 4], generator: g)
        assertGradientsMatch([x]) { $0[0].reshape(4, -1) }
        assertGradientsMatch([x]) { $0[0].flatten(startDim: 1) }
        assertGradientsMatch([x]) { $0[0].unsqueeze(dim: 1).squeeze() }
        assertGradientsMatch([x]) { $0[0].permute(2, 0, 1) }
        assertGradientsMatch([x]) { $0[0].transpose(-1, 0) }
        assertGradientsMatch([Tensor.randn([3, 2], generator: g)]) { $0[0].T * Tensor([1, 2, 3]) }
        assertGradientsMatch([Tensor.randn([3, 1], generator: g)]) { $0[0].expand(2, 3, 4) }
        assertGradientsMatch([Tensor.randn([2, 3], generator: g)]) { $0[0].repeat(2, 1, 3) }
        assertGradientsMatch([x]) { $0[0].clone() * $0[0] }
    }

    func testGradientFlowsThroughViewToLeaf() {
        let x = Tensor([1, 2, 3, 4]).requiringGrad()
        let y = x.reshape(2, 2).t().flatten()
        XCTAssertEqual(y.scalars, [1, 3, 2, 4])
        (y * Tensor([1, 10, 100, 1000])).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [1, 100, 10, 1000])
    }
}
