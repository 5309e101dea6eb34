import Models
import NN
import Torch
import XCTest

/// Names, shapes, parameter counts and printouts compared with torchvision's.
final class ModelStructureTests: XCTestCase {
    private func assertMatchesTorchvision(_ model: Module, _ fixtureName: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try stateDictFixture(fixtureName)
        let actual = Array(model.stateDict())
        XCTAssertEqual(actual.map(\.key), expected.map(\.key), file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a.value.shape, e.shape, a.key, file: file, line: line)
            XCTAssertEqual(a.value.dtype.description, e.dtype, a.key, file: file, line: line)
        }
    }

    func testResNet18StateDictMatchesTorchvision() throws {
        let model = resnet18()
        try assertMatchesTorchvision(model, "resnet18_state_dict.txt")
        XCTAssertEqual(model.parameterCount, 11_689_512)
        XCTAssertEqual(model.stateDict()["bn1.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(model.stateDict()["bn1.num_batches_tracked"]?.shape, [])
    }

    func testResNet18PrintMatchesPyTorch() throws {
        XCTAssertEqual(resnet18().description, try fixture("resnet18_print.txt"))
    }

    func testResNet50CountsAndKeys() throws {
        let model = resnet50()
        try assertMatchesTorchvision(model, "resnet50_state_dict.txt")
        XCTAssertEqual(model.parameterCount, 25_557_032)
        model.freeze()
        model.fc = Linear(2048, 10)
        XCTAssertEqual(model.trainableParameterCount, 20_490)
        XCTAssertEqual(model.parameterCount, 23_528_522)
        XCTAssertEqual(model.parameters().filter(\.requiresGrad).count, 2)
    }

    func testSmallResNetCountsPrintAndKeys() throws {
        let model = smallResNet(numClasses: 10)
        XCTAssertEqual(model.parameterCount, 174_970)
        XCTAssertEqual(smallResNet(numClasses: 5).parameterCount, 174_645)
        XCTAssertEqual(model.description, try fixture("small_resnet_print.txt"))
        try assertMatchesTorchvision(model, "small_resnet_state_dict.txt")
        let y = model.eval()(Tensor.randn([2, 1, 28, 28]))
        XCTAssertEqual(y.shape, [2, 10])
        XCTAssertEqual(smallResNet(numClasses: 3, inChannels: 3).eval()(Tensor.randn([1, 3, 32, 32])).shape, [1, 3])
    }

    func testVGG11BnMatchesTorchvision() throws {
        // Structure only: skipping the 130M random draws keeps the test fast.
        let model = Init.withoutDefaultInitialization {
            VGG(features: VGG.makeFeatures(VGG.configurations["A"]!, batchNorm: true), numClasses: 10, initWeights: false)
        }
        try assertMatchesTorchvision(model, "vgg11_bn_state_dict.txt")
        XCTAssertEqual(model.description, try fixture("vgg11_bn_print.txt"))
    }

    func testLayerDescriptionsMatchPyTorch() throws {
        let seq = Sequential {
            Conv2d(1, 8, kernelSize: 3, stride: 1, padding: 1, dilation: 2)
            BatchNorm1d(8, eps: 1e-3, momentum: nil, affine: false, trackRunningStats: false)
            MaxPool2d(kernelSize: (2, 3))
            AvgPool2d(kernelSize: 2)
            Dropout(p: 0.25)
            Flatten()
            Identity()
            Linear(4, 2, bias: false)
            Softmax(dim: 1)
            LogSoftmax(dim: -1)
            Conv2d(4, 8, kernelSize: (1, 3), stride: (2, 1), groups: 4)
            CrossEntropyLoss()
        }
        XCTAssertEqual(seq.description, try fixture("misc_print.txt"))
    }

    func testResNet18ForwardShape() {
        manualSeed(0)
        let model = resnet18(numClasses: 7).eval()
        let y = withNoGrad { model(Tensor.randn([1, 3, 64, 64])) }
        XCTAssertEqual(y.shape, [1, 7])
        XCTAssertTrue(y.scalars.allSatisfy(\.isFinite))
    }

    func testTorchvisionInitialisation() {
        manualSeed(1)
        let model = smallResNet()
        // kaiming_normal(fan_out, relu): std = sqrt(2 / (out * k * k)) = sqrt(2 / 576) for layer3 3x3 convs.
        let w = model.layer3[1].module(named: "conv1") as! Conv2d
        let values = w.weight.scalars.map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(std, (2.0 / 576).squareRoot(), accuracy: 0.003)
        XCTAssertEqual(mean, 0, accuracy: 0.003)
        let bn = model.bn1
        XCTAssertEqual(bn.weight!.scalars, [Float](repeating: 1, count: 16))
        XCTAssertEqual(bn.bias!.scalars, [Float](repeating: 0, count: 16))
        // Linear keeps PyTorch's default: U(-1/sqrt(64), 1/sqrt(64)).
        let fc = model.fc as! Linear
        XCTAssertTrue(fc.weight.scalars.allSatisfy { abs($0) <= 0.125 })
        XCTAssertGreaterThan(fc.weight.scalars.map(abs).max()!, 0.1)

        let zeroed = resnet18(zeroInitResidual: true)
        XCTAssertTrue((zeroed.layer2[0] as! BasicBlock).bn2.weight!.scalars.allSatisfy { $0 == 0 })
        XCTAssertTrue((zeroed.layer2[0] as! BasicBlock).bn1.weight!.scalars.allSatisfy { $0 == 1 })
    }

    func testSeedMakesModelsReproducible() {
        manualSeed(42)
        let a = smallResNet().stateDict()
        manualSeed(42)
        let b = smallResNet().stateDict()
        manualSeed(43)
        let c = smallResNet().stateDict()
        XCTAssertEqual(a["layer1.0.conv1.weight"]!.scalars, b["layer1.0.conv1.weight"]!.scalars)
        XCTAssertNotEqual(a["layer1.0.conv1.weight"]!.scalars, c["layer1.0.conv1.weight"]!.scalars)
    }
}

/// ResNets fold each eval-mode batch norm into the convolution before it when no gradient is
/// recorded; the outputs must match the unfused layers, and nothing about the model may change.
final class FoldedBatchNormTests: XCTestCase {
    /// Running statistics and affine parameters that are not the identity, so a wrong fold shows.
    private func randomizeBatchNorms(_ model: Module, seed: UInt64) {
        let g = Generator(seed: seed)
        for (name, t) in model.namedParameters() + model.namedBuffers() where name.contains("bn") || name.contains("downsample.1") {
            guard t.dtype == .float32 else { continue }
            let values = Tensor.rand(t.shape, generator: g).scalars
            t.withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count {
                    p[i] = name.hasSuffix("running_var") || name.hasSuffix("weight") ? 0.5 + values[i] : values[i] - 0.5
                }
            }
        }
    }

    private func assertFoldedMatchesUnfolded(_ model: Module, input: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        randomizeBatchNorms(model, seed: 91)
        model.eval()
        let state = { model.namedBuffers().map { $0.1.scalars } + model.namedParameters().map { $0.1.scalars } }
        let before = state()
        let folded = withNoGrad { model(input) }
        // With gradients recorded (parameters require them) every layer runs on its own.
        let unfolded = model(input)
        XCTAssertNotNil(unfolded.gradFn, file: file, line: line)
        let scale = max(unfolded.scalars.map(abs).max() ?? 1, 1)
        let worst = zip(folded.scalars, unfolded.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4 * scale, "max difference \(worst)", file: file, line: line)
        XCTAssertEqual(state(), before, "running statistics untouched", file: file, line: line)
    }

    func testResNet18() {
        assertFoldedMatchesUnfolded(resnet18(numClasses: 10), input: Tensor.randn([2, 3, 64, 64], generator: Generator(seed: 92)))
    }

    func testResNet50() {
        assertFoldedMatchesUnfolded(resnet50(numClasses: 10), input: Tensor.randn([1, 3, 64, 64], generator: Generator(seed: 93)))
    }

    func testSmallResNet() {
        assertFoldedMatchesUnfolded(smallResNet(numClasses: 10), input: Tensor.randn([4, 1, 28, 28], generator: Generator(seed: 94)))
    }

    /// A frozen batch norm in training mode keeps its statistics, so it folds too; an unfrozen one in
    /// training mode normalizes with the batch and must not.
    func testFrozenTrainingModeFoldsAndUnfrozenDoesNot() {
        let model = smallResNet(numClasses: 10)
        randomizeBatchNorms(model, seed: 95)
        let x = Tensor.randn([4, 1, 28, 28], generator: Generator(seed: 96))
        model.train()
        for p in model.parameters() { p.requiresGrad = false }
        let bn = model.bn1 as BatchNorm
        XCTAssertTrue(bn.usesRunningStatistics)
        let frozen = model(x)
        let reference = model.eval()(x)
        XCTAssertEqual(frozen.scalars, reference.scalars)
        for p in model.parameters() { p.requiresGrad = true }
        model.train()
        XCTAssertFalse(bn.usesRunningStatistics)
    }
}
