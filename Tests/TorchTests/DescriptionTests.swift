import XCTest
@testable import Torch

/// Expected strings are what PyTorch 2.x prints (`repr`) for the same values.
final class DescriptionTests: XCTestCase {
    func testFloatStyles() {
        XCTAssertEqual(Tensor([[1, 2], [3, 4]]).description, "tensor([[1., 2.],\n        [3., 4.]])")
        XCTAssertEqual(Tensor([[1.5, 2], [3, 4]]).requiringGrad().description,
                       "tensor([[1.5000, 2.0000],\n        [3.0000, 4.0000]], requires_grad=True)")
        XCTAssertEqual(Tensor([-1.5, 0.25, 10]).description, "tensor([-1.5000,  0.2500, 10.0000])")
        XCTAssertEqual(Tensor.zeros(3).description, "tensor([0., 0., 0.])")
        XCTAssertEqual(Tensor([1e-5, 1, 123456]).description, "tensor([1.0000e-05, 1.0000e+00, 1.2346e+05])")
        XCTAssertEqual(Tensor([1, 5000]).description, "tensor([1.0000e+00, 5.0000e+03])")
        XCTAssertEqual(Tensor([.nan, .infinity, -.infinity, 0, 1.25]).description,
                       "tensor([   nan,    inf,   -inf, 0.0000, 1.2500])")
    }

    func testScalarsIntegersAndBools() {
        XCTAssertEqual(Tensor(3.5).description, "tensor(3.5000)")
        XCTAssertEqual(Tensor(3).description, "tensor(3.)")
        XCTAssertEqual(Tensor([3, -10, 7], dtype: .int64).description, "tensor([  3, -10,   7])")
        XCTAssertEqual(Tensor([1, 0, 1], dtype: .bool).description, "tensor([ True, False,  True])")
        XCTAssertEqual(Tensor([1, 2, 3], dtype: .int64).sum().description, "tensor(6)")
    }

    func testEmptyTensors() {
        XCTAssertEqual(Tensor.zeros(0).description, "tensor([])")
        XCTAssertEqual(Tensor.zeros([0, 3]).description, "tensor([], size=(0, 3))")
        XCTAssertEqual(Tensor.zerosInt64([0]).description, "tensor([], dtype=torch.int64)")
    }

    func testLineWrappingAndNesting() {
        XCTAssertEqual((Tensor.arange(0, 30) / 7).description,
                       "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n        3.8571, 4.0000, 4.1429])")
        XCTAssertEqual((Tensor.arange(0, 12).reshape(2, 3, 2) - 5.5).description,
                       "tensor([[[-5.5000, -4.5000],\n         [-3.5000, -2.5000],\n         [-1.5000, -0.5000]],\n\n        [[ 0.5000,  1.5000],\n         [ 2.5000,  3.5000],\n         [ 4.5000,  5.5000]]])")
    }

    func testSummarisation() {
        XCTAssertEqual(Tensor.arange(0, 2000).description,
                       "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])")
        XCTAssertEqual((Tensor.arange(0, 1200).reshape(2, 3, 200) / 4).description,
                       "tensor([[[0.0000e+00, 2.5000e-01, 5.0000e-01,  ..., 4.9250e+01,\n          4.9500e+01, 4.9750e+01],\n         [5.0000e+01, 5.0250e+01, 5.0500e+01,  ..., 9.9250e+01,\n          9.9500e+01, 9.9750e+01],\n         [1.0000e+02, 1.0025e+02, 1.0050e+02,  ..., 1.4925e+02,\n          1.4950e+02, 1.4975e+02]],\n\n        [[1.5000e+02, 1.5025e+02, 1.5050e+02,  ..., 1.9925e+02,\n          1.9950e+02, 1.9975e+02],\n         [2.0000e+02, 2.0025e+02, 2.0050e+02,  ..., 2.4925e+02,\n          2.4950e+02, 2.4975e+02],\n         [2.5000e+02, 2.5025e+02, 2.5050e+02,  ..., 2.9925e+02,\n          2.9950e+02, 2.9975e+02]]])")
        XCTAssertEqual(Tensor.arange(1600).reshape(40, 40).description,
                       "tensor([[   0,    1,    2,  ...,   37,   38,   39],\n        [  40,   41,   42,  ...,   77,   78,   79],\n        [  80,   81,   82,  ...,  117,  118,  119],\n        ...,\n        [1480, 1481, 1482,  ..., 1517, 1518, 1519],\n        [1520, 1521, 1522,  ..., 1557, 1558, 1559],\n        [1560, 1561, 1562,  ..., 1597, 1598, 1599]])")
    }

    func testGradFnSuffix() {
        let a = Tensor([1.5, 2]).requiringGrad()
        XCTAssertEqual((a * 2).description, "tensor([3., 4.], grad_fn=<MulBackward0>)")
        let b = (Tensor.arange(0, 20) / 3).requiringGrad()
        XCTAssertEqual((b + 1).description,
                       "tensor([1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667, 3.0000, 3.3333, 3.6667,\n        4.0000, 4.3333, 4.6667, 5.0000, 5.3333, 5.6667, 6.0000, 6.3333, 6.6667,\n        7.0000, 7.3333], grad_fn=<AddBackward0>)")
        XCTAssertEqual(Tensor([[1.5, 2], [3, 4]]).requiringGrad().sum().description, "tensor(10.5000, grad_fn=<SumBackward0>)")
    }
}
