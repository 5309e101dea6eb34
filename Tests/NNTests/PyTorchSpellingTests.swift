import Models
@testable import NN
import Optim
import Torch
import XCTest

/// The PyTorch spellings of modules and optimizers, and the frozen-batch-norm warning.
final class PyTorchSpellingTests: XCTestCase {
    func testModuleToCPUReturnsTheModule() {
        let model = smallResNet(numClasses: 3)
        XCTAssertTrue(model.to(.cpu) === model)
        XCTAssertTrue(model.to(Device.default) === model)
        XCTAssertTrue(model.cpu() === model)
        let linear: Linear = Linear(2, 3).to("cpu")
        XCTAssertEqual(linear.outFeatures, 3)
        // model.requires_grad_(False)
        XCTAssertEqual(model.requiresGrad(false).trainableParameterCount, 0)
        XCTAssertEqual(model.requiresGrad().trainableParameterCount, model.parameterCount)
    }

    func testInFeaturesReadsThroughAModuleTypedHead() {
        let model = resnet18()
        XCTAssertEqual(model.fc.inFeatures, 512)
        XCTAssertEqual(model.fc.outFeatures, 1000)
        model.fc = Linear(model.fc.inFeatures, 10)
        XCTAssertEqual(model.fc.outFeatures, 10)
        // A head of several layers: the first Linear's input, the last Linear's output.
        model.fc = Sequential(Dropout(p: 0.2), Linear(512, 64), ReLU(), Linear(64, 7))
        XCTAssertEqual(model.fc.inFeatures, 512)
        XCTAssertEqual(model.fc.outFeatures, 7)
        let bottleneck = ResNet(block: .bottleneck, layers: [1, 1, 1, 1], stageWidths: [8, 8, 8, 8])
        XCTAssertEqual(bottleneck.fc.inFeatures, bottleneck.featureCount)
        XCTAssertEqual(bottleneck.fc.inFeatures, 32)
        XCTAssertEqual(Linear(inFeatures: 5, outFeatures: 2).inFeatures, 5)
    }

    func testOptimizersTakeParamsLabelled() {
        let model = smallResNet(numClasses: 3)
        let sgd = SGD(params: model.parameters(), lr: 0.1, momentum: 0.9)
        XCTAssertEqual(sgd.paramGroups.count, 1)
        XCTAssertEqual(sgd.paramGroups[0].lr, 0.1)
        XCTAssertEqual(sgd.paramGroups[0].momentum, 0.9)
        let groups = SGD(params: [ParamGroup(params: model.fc.parameters(), lr: 1e-2),
                                  ParamGroup(params: model.layer3.parameters())], lr: 1e-3)
        XCTAssertEqual(groups.paramGroups.map(\.lr), [1e-2, 1e-3])
        XCTAssertEqual(Adam(params: model.parameters(), lr: 3e-4).paramGroups[0].lr, 3e-4)
        XCTAssertEqual(Adam(params: model.parameters()).paramGroups[0].weightDecay, 0)
        // AdamW keeps its own default weight decay under the label, as torch.optim.AdamW.
        XCTAssertEqual(AdamW(params: model.parameters()).paramGroups[0].weightDecay, 1e-2)
        XCTAssertEqual(AdamW(params: [ParamGroup(params: model.parameters())]).paramGroups[0].weightDecay, 1e-2)
        XCTAssertEqual(RMSprop(params: model.parameters(), lr: 0.5).paramGroups[0].lr, 0.5)
    }

    /// Runs `body` with batch-norm warnings collected instead of printed.
    func collectingWarnings(_ body: () throws -> Void) rethrows -> [String] {
        var warnings: [String] = []
        let saved = BatchNorm.warningSink
        BatchNorm.warningSink = { warnings.append($0) }
        defer { BatchNorm.warningSink = saved }
        try body()
        return warnings
    }

    func testFrozenRandomBatchNormWarnsOncePerModelNamingTheLayer() {
        let model = smallResNet(numClasses: 3)
        let warnings = collectingWarnings {
            model.freeze()
            model.fc = Linear(model.fc.inFeatures, 3)
            model.train()
            _ = model(Tensor.zeros(2, 1, 8, 8))
            _ = model(Tensor.zeros(2, 1, 8, 8))
        }
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        let warning = warnings.first ?? ""
        XCTAssertTrue(warning.contains("BatchNorm2d 'bn1' of SmallResNet"), warning)
        XCTAssertTrue(warning.contains("and 14 other frozen batch-norm layers"), warning)
        XCTAssertTrue(warning.contains("num_batches_tracked = 0"), warning)
        XCTAssertTrue(warning.contains("pre-trained weights"), warning)
        XCTAssertTrue(warning.contains("updatesStatisticsWhenFrozen = true"), warning)
        // Another model warns for itself.
        let other = smallResNet(numClasses: 3).freeze()
        let again = collectingWarnings { _ = other(Tensor.zeros(1, 1, 8, 8)) }
        XCTAssertEqual(again.count, 1)
    }

    func testNoWarningWithLoadedWeightsEvalModeUnfrozenOrOptedIn() throws {
        // Statistics as pre-trained weights have them: loaded from a state dict.
        let trained = smallResNet(numClasses: 3)
        for case let bn as BatchNorm in trained.modules() {
            bn.runningMean!.copy_(from: Tensor.full([bn.numFeatures], 0.25))
            bn.runningVar!.copy_(from: Tensor.full([bn.numFeatures], 2))
        }
        let loaded = smallResNet(numClasses: 3)
        try loaded.loadStateDict(trained.stateDict())
        loaded.freeze()
        let optedIn = smallResNet(numClasses: 3).freeze()
        for case let bn as BatchNorm in optedIn.modules() { bn.updatesStatisticsWhenFrozen = true }
        let evaluated = smallResNet(numClasses: 3).freeze().eval()
        let trainable = smallResNet(numClasses: 3)
        let warnings = collectingWarnings {
            for model in [loaded, optedIn, evaluated, trainable] as [Module] { _ = model(Tensor.zeros(2, 1, 8, 8)) }
        }
        XCTAssertEqual(warnings, [])
        XCTAssertFalse(loaded.modules().contains { ($0 as? BatchNorm)?.hasInitialStatistics ?? false })
    }

    func testAStandaloneFrozenLayerNamesItsType() {
        let bn = BatchNorm1d(4)
        bn.freeze()
        let warnings = collectingWarnings { _ = bn(Tensor.ones(3, 4)) }
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.hasPrefix("warning: BatchNorm1d is frozen") ?? false, "\(warnings)")
    }
}
