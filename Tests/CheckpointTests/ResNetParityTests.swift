import XCTest
import Checkpoint
import Models
import NN
import Optim
import Torch

/// The engine against PyTorch on a torchvision-structured ResNet (BasicBlock, one block per stage,
/// widths 8-16-32-64): loading torch.save and safetensors files, eval logits, batch-norm running
/// statistics after a training-mode forward, and parameters after one SGD-momentum and one Adam
/// step. Fixtures: Fixtures/make_resnet_parity.py.
final class ResNetParityTests: XCTestCase {
    private static let expected = try! Checkpoint.load(fixture("parity/expected.safetensors"))

    private func makeLoadedModel(from file: String = "parity/weights.pth") throws -> ResNet {
        let model = ResNet(block: .basic, layers: [1, 1, 1, 1], numClasses: 10, inChannels: 3,
                           stageWidths: [8, 16, 32, 64])
        let result = try model.loadStateDict(try Checkpoint.load(fixture(file)), strict: true)
        XCTAssertTrue(result.missingKeys.isEmpty && result.unexpectedKeys.isEmpty)
        return model
    }

    private func expected(_ key: String) -> Tensor {
        guard let t = Self.expected[key] else { fatalError("fixture has no \(key)") }
        return t
    }

    private func assertClose(_ actual: Tensor, _ reference: Tensor, _ what: String,
                             relative: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.shape, reference.shape, what, file: file, line: line)
        let a = actual.scalars, r = reference.scalars
        let scale = max(r.map(abs).max() ?? 0, 1e-6)
        for i in 0..<min(a.count, r.count) where abs(a[i] - r[i]) > relative * max(abs(r[i]), scale) {
            XCTFail("\(what)[\(i)]: engine \(a[i]) vs PyTorch \(r[i])", file: file, line: line)
            return
        }
    }

    func testBothFileFormatsLoadTheSameWeights() throws {
        let fromPth = try makeLoadedModel(from: "parity/weights.pth").stateDict()
        let fromSafetensors = try makeLoadedModel(from: "parity/weights.safetensors").stateDict()
        XCTAssertEqual(fromPth.keys, fromSafetensors.keys)
        for (key, value) in fromPth {
            XCTAssertEqual(value.scalars, fromSafetensors[key]!.scalars, key)
        }
    }

    func testEvalLogitsMatchPyTorch() throws {
        let model = try makeLoadedModel()
        model.eval()
        let logits = withNoGrad { model(expected("input")) }
        assertClose(logits, expected("logits_eval"), "eval logits")
    }

    func testRunningStatisticsAfterTrainingForwardMatchPyTorch() throws {
        let model = try makeLoadedModel()
        model.train()
        _ = withNoGrad { model(expected("input")) }
        var compared = 0
        for (key, value) in model.stateDict() where key.contains("running_") || key.contains("num_batches_tracked") {
            assertClose(value.float(), expected("after_train_forward." + key).float(), key)
            compared += 1
        }
        XCTAssertEqual(compared, 3 * 12)  // 12 batch norms: stem, 2 in each of 4 blocks, 3 downsample projections
    }

    private func assertOneStepMatches(_ prefix: String, _ makeOptimizer: ([Tensor]) -> Optimizer) throws {
        let model = try makeLoadedModel()
        model.train()
        let optimizer = makeOptimizer(model.parameters())
        optimizer.zeroGrad()
        let loss = crossEntropy(model(expected("input")), expected("target"))
        loss.backward()
        optimizer.step()
        assertClose(loss.reshape([1]), expected(prefix + ".loss"), "\(prefix) loss")
        for (name, parameter) in model.namedParameters() {
            assertClose(parameter, expected(prefix + "." + name), "\(prefix) \(name)")
        }
    }

    func testOneSGDMomentumStepMatchesPyTorch() throws {
        try assertOneStepMatches("sgd") { SGD($0, lr: 0.1, momentum: 0.9, weightDecay: 5e-4) }
    }

    func testOneAdamStepMatchesPyTorch() throws {
        try assertOneStepMatches("adam") { Adam($0, lr: 1e-3, weightDecay: 5e-4) }
    }
}
