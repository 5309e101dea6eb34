import Torch
import XCTest

/// The PyTorch spellings of `Torch`: devices and element-wise `==`.
final class PyTorchSpellingTests: XCTestCase {
    func testDevicesParseAndOnlyTheCPUIsAvailable() {
        XCTAssertEqual(Device("cpu"), .cpu)
        XCTAssertEqual(Device("cuda:1"), .cuda(1))
        XCTAssertEqual(Device("CUDA").kind, .cuda)
        let literal: Device = "mps"
        XCTAssertEqual(literal, .mps)
        XCTAssertEqual(Device.default, .cpu)
        XCTAssertTrue(Device.cpu.isAvailable)
        XCTAssertFalse(Device.cuda.isAvailable)
        XCTAssertFalse(Device.mps.isAvailable)
        XCTAssertEqual(Device.available, [.cpu])
        XCTAssertEqual("\(Device.cuda(0))", "cuda:0")
        // The idiom of every PyTorch tutorial picks the CPU here.
        let device: Device = Device.cuda.isAvailable ? .cuda : .cpu
        XCTAssertEqual(device, .cpu)
    }

    func testTensorToCPUIsTheSameTensorAndToDTypeConverts() {
        let x = Tensor([1.5, 2, 3])
        XCTAssertTrue(x.to(.cpu) === x)
        XCTAssertTrue(x.cpu() === x)
        XCTAssertEqual(x.device, .cpu)
        XCTAssertEqual(x.to(.int64).dtype, .int64)
        XCTAssertEqual(x.to(.int64).scalars, [1, 2, 3])
        XCTAssertTrue(x.to(.float32) === x)
        XCTAssertEqual(Tensor([0, 2]).to(.bool).scalars, [0, 1])
    }

    func testEqualsIsElementWiseAsInPyTorch() {
        let predicted = Tensor([0, 1, 2, 3], dtype: .int64)
        let labels = Tensor([0, 1, 0, 3], dtype: .int64)
        let matches = predicted == labels
        XCTAssertEqual(matches.dtype, .bool)
        XCTAssertEqual(matches.scalars, [1, 1, 0, 1])
        XCTAssertEqual((predicted == labels).sum().intItem(), 3)
        XCTAssertEqual((predicted != labels).scalars, [0, 0, 1, 0])
        XCTAssertEqual((predicted == 3).scalars, [0, 0, 0, 1])
        XCTAssertEqual((predicted != 0).scalars, [0, 1, 1, 1])
        XCTAssertEqual(predicted.eq(labels).scalars, (predicted .== labels).scalars)
        // Broadcasting as in PyTorch.
        XCTAssertEqual((Tensor([[1, 2], [3, 1]]) == Tensor([1])).scalars, [1, 0, 0, 1])
    }
}
