import Models
import NN
import Torch
import XCTest

/// A small user-defined module, as a lesson would write it.
final class TinyNet: Module {
    @Child var conv: Conv2d = Conv2d(1, 4, kernelSize: 3, padding: 1, bias: false)
    @Child var bn: BatchNorm2d = BatchNorm2d(4)
    @Child var head: Module = Linear(4, 3)
    @Parameter("scale_factor") var scale: Tensor = Tensor([2])
    @Buffer var steps: Tensor = Tensor.zeros([1])

    override func forward(_ x: Tensor) -> Tensor {
        let y = adaptiveAvgPool2d(bn(conv(x)).relu(), outputSize: (1, 1))
        return head(y.flatten(startDim: 1)) * scale
    }
}

final class ModuleTests: XCTestCase {
    func testNamesFollowDeclarationOrderAndKeys() {
        let net = TinyNet()
        XCTAssertEqual(net.namedParameters().map(\.0), ["scale_factor", "conv.weight", "bn.weight", "bn.bias", "head.weight", "head.bias"])
        XCTAssertEqual(net.namedBuffers().map(\.0), ["steps", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"])
        XCTAssertEqual(Array(net.stateDict()).map(\.key),
                       ["scale_factor", "steps", "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                        "bn.num_batches_tracked", "head.weight", "head.bias"])
        XCTAssertEqual(net.namedModules().map(\.0), ["", "conv", "bn", "head"])
        XCTAssertEqual(net.namedChildren().map(\.0), ["conv", "bn", "head"])
        XCTAssertTrue(net.module(named: "bn") === net.bn)
        XCTAssertNil(net.module(named: "nope"))
        XCTAssertTrue(net.parameters().allSatisfy(\.requiresGrad))
        XCTAssertTrue(net.parameters().allSatisfy(\.isLeaf))
    }

    func testDescriptionOfCustomModule() {
        XCTAssertEqual(TinyNet().description, """
            TinyNet(
              (conv): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
              (bn): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
              (head): Linear(in_features=4, out_features=3, bias=True)
            )
            """)
    }

    func testReplacingChildByPropertyAndByName() {
        let model = smallResNet(numClasses: 10)
        XCTAssertEqual(model.parameterCount, 174_970)
        model.fc = Linear(64, 5)
        XCTAssertEqual(model.parameterCount, 174_645)
        XCTAssertEqual(model.stateDict()["fc.weight"]?.shape, [5, 64])

        model.replaceChild("fc", with: Sequential(Dropout(p: 0.2), Linear(64, 2)))
        XCTAssertTrue(model.fc is Sequential)
        XCTAssertEqual(model.namedParameters().suffix(2).map(\.0), ["fc.1.weight", "fc.1.bias"])
        XCTAssertTrue(model.description.contains("(fc): Sequential(\n    (0): Dropout(p=0.2, inplace=False)\n    (1): Linear(in_features=64, out_features=2, bias=True)\n  )"))

        let newBlock = BasicBlock(inPlanes: 64, planes: 64)
        model.setModule("layer3.1", newBlock)
        XCTAssertTrue(model.layer3[1] === newBlock)
        XCTAssertTrue(model.module(named: "layer3.1.conv2") === newBlock.conv2)

        model.setModule("layer1.0.relu", Identity())
        XCTAssertTrue((model.layer1[0] as! BasicBlock).relu is Identity)
        XCTAssertEqual(model.eval()(Tensor.randn([1, 1, 8, 8])).shape, [1, 2])

        let seq = Sequential(Linear(2, 3), ReLU())
        seq[1] = Identity()
        XCTAssertEqual(seq.description, "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): Identity()\n)")
    }

    func testOptionalChildIsSkipped() {
        let block = BasicBlock(inPlanes: 8, planes: 8)
        XCTAssertNil(block.downsample)
        XCTAssertEqual(block.namedChildren().map(\.0), ["conv1", "bn1", "relu", "conv2", "bn2"])
        block.downsample = Sequential(Conv2d(8, 8, kernelSize: 1, bias: false), BatchNorm2d(8))
        XCTAssertEqual(block.namedChildren().map(\.0), ["conv1", "bn1", "relu", "conv2", "bn2", "downsample"])
        XCTAssertTrue(block.stateDict().contains("downsample.1.running_var"))
    }

    func testFreezeUnfreezeAndCounts() {
        let model = smallResNet()
        model.freeze()
        XCTAssertEqual(model.trainableParameterCount, 0)
        model.fc.unfreeze()
        XCTAssertEqual(model.trainableParameterCount, 650)
        model.layer3.unfreeze()
        XCTAssertEqual(model.trainableParameterCount, 650 + 131_712)
        model.unfreeze()
        XCTAssertEqual(model.trainableParameterCount, 174_970)
        (model.fc as! Linear).bias!.requiresGrad = false
        XCTAssertEqual(model.trainableParameterCount, 174_960)
    }

    func testTrainEvalAndApply() {
        let model = smallResNet()
        XCTAssertTrue(model.modules().allSatisfy(\.isTraining))
        model.eval()
        XCTAssertTrue(model.modules().allSatisfy { !$0.isTraining })
        model.layer1.train()
        XCTAssertTrue(model.layer1[0].isTraining)
        XCTAssertFalse(model.isTraining)
        var visited: [String] = []
        Sequential(Linear(1, 1), ReLU()).apply { visited.append($0.typeName) }
        XCTAssertEqual(visited, ["Linear", "ReLU", "Sequential"])
    }

    func testFrozenBatchNormKeepsRunningStatistics() {
        manualSeed(3)
        let x = Tensor.randn([4, 3, 5, 5]) * 2 + 1
        let bn = BatchNorm2d(3)
        bn.freeze()
        XCTAssertTrue(bn.isFrozen)
        let y = bn(x)
        XCTAssertEqual(bn.runningMean!.scalars, [0, 0, 0])
        XCTAssertEqual(bn.runningVar!.scalars, [1, 1, 1])
        XCTAssertEqual(bn.numBatchesTracked!.intItem(), 0)
        // Normalised with running statistics (mean 0, var 1): y = x / sqrt(1 + eps).
        XCTAssertEqual(y.scalars[7], x.scalars[7] / (1 + 1e-5).squareRoot(), accuracy: 1e-5)

        // The whole frozen model: a training-mode forward leaves every BN buffer unchanged.
        let model = smallResNet().freeze()
        let before = model.namedBuffers().map { $0.1.scalars }
        _ = model(Tensor.randn([2, 1, 8, 8]))
        XCTAssertEqual(model.namedBuffers().map { $0.1.scalars }, before)

        // Opt-in restores PyTorch's behaviour.
        bn.updatesStatisticsWhenFrozen = true
        _ = bn(x)
        XCTAssertNotEqual(bn.runningMean!.scalars, [0, 0, 0])
        XCTAssertEqual(bn.numBatchesTracked!.intItem(), 1)

        // Unfrozen: updates as usual; momentum 0.1 towards the batch mean.
        let live = BatchNorm2d(3)
        _ = live(x)
        let channel0 = (0..<4).flatMap { n in (0..<25).map { x.scalars[n * 75 + $0] } }
        let mean0 = channel0.reduce(0, +) / 100
        XCTAssertEqual(live.runningMean!.scalars[0], 0.1 * mean0, accuracy: 1e-5)
        XCTAssertEqual(live.numBatchesTracked!.intItem(), 1)
        live.eval()
        _ = live(x)
        XCTAssertEqual(live.numBatchesTracked!.intItem(), 1)
    }

    func testBatchNormCumulativeAverageAndEvalMode() {
        // momentum nil: running mean is the plain average of the batch means seen so far.
        let bn = BatchNorm1d(2, momentum: nil)
        _ = bn(Tensor([[1, 10], [3, 20]]))
        _ = bn(Tensor([[5, 0], [7, 0]]))
        XCTAssertEqual(bn.runningMean!.scalars, [(2 + 6) / 2, (15 + 0) / 2])
        XCTAssertEqual(bn.numBatchesTracked!.intItem(), 2)
        // Unbiased batch variance goes into running_var: batches {1,3} and {5,7} both have var 2.
        XCTAssertEqual(bn.runningVar!.scalars[0], 2, accuracy: 1e-5)
        bn.eval()
        let y = bn(Tensor([[4, 7.5]]))
        XCTAssertEqual(y.scalars[0], 0, accuracy: 1e-6)
        XCTAssertEqual(bn.numBatchesTracked!.intItem(), 2)
    }

    func testLoadStateDictRoundTripAndErrors() throws {
        manualSeed(1)
        let a = smallResNet()
        let b = smallResNet()
        XCTAssertNotEqual(a.stateDict()["conv1.weight"]!.scalars, b.stateDict()["conv1.weight"]!.scalars)
        let result = try b.loadStateDict(a.stateDict())
        XCTAssertEqual(result, LoadResult())
        for ((ka, ta), (kb, tb)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(ka, kb)
            XCTAssertEqual(ta.scalars, tb.scalars, ka)
        }

        // The state dict is a snapshot: later updates do not change it.
        let snapshot = a.stateDict()
        Init.zeros(a.conv1.weight)
        XCTAssertNotEqual(snapshot["conv1.weight"]!.scalars, a.conv1.weight.scalars)

        // A 10-class checkpoint into a 5-class head: the error names the key and both shapes.
        let five = smallResNet(numClasses: 5)
        let before = five.conv1.weight.scalars
        XCTAssertThrowsError(try five.loadStateDict(snapshot)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("size mismatch for fc.weight: copying a param with shape [10, 64] from checkpoint, the shape in current model is [5, 64]"), text)
            XCTAssertTrue(text.contains("fc.bias"), text)
            XCTAssertEqual((error as? StateDictLoadError)?.result.shapeMismatches.map(\.key), ["fc.weight", "fc.bias"])
        }
        XCTAssertEqual(five.conv1.weight.scalars, before, "nothing is loaded when loading fails")
        // Skipping the head loads everything else.
        let skipped = try five.loadStateDict(snapshot, skip: ["fc."])
        XCTAssertEqual(skipped.skippedKeys, ["fc.weight", "fc.bias"])
        XCTAssertEqual(five.conv1.weight.scalars, snapshot["conv1.weight"]!.scalars)

        // Missing and unexpected keys.
        var partial = snapshot
        partial["layer1.0.bn1.running_mean"] = nil
        partial["extra.weight"] = Tensor.zeros([1])
        XCTAssertThrowsError(try b.loadStateDict(partial)) { error in
            let e = error as! StateDictLoadError
            XCTAssertEqual(e.result.missingKeys, ["layer1.0.bn1.running_mean"])
            XCTAssertEqual(e.result.unexpectedKeys, ["extra.weight"])
            XCTAssertTrue(e.description.contains("Missing key(s) in state_dict: \"layer1.0.bn1.running_mean\"."), e.description)
            XCTAssertTrue(e.description.contains("Unexpected key(s) in state_dict: \"extra.weight\"."), e.description)
        }
        let lenient = try b.loadStateDict(partial, strict: false)
        XCTAssertEqual(lenient.missingKeys, ["layer1.0.bn1.running_mean"])
        XCTAssertEqual(lenient.unexpectedKeys, ["extra.weight"])

        // Old checkpoints without num_batches_tracked load strictly.
        var old = snapshot
        for key in old.keys where key.hasSuffix("num_batches_tracked") { old[key] = nil }
        XCTAssertNoThrow(try b.loadStateDict(old))
    }

    func testLayersComputeTheirFunctions() {
        let lin = Linear(3, 2)
        Init.constant(lin.weight, 0.5)
        Init.constant(lin.bias!, 1)
        XCTAssertEqual(lin(Tensor([[1, 2, 3]])).scalars, [4, 4])
        XCTAssertEqual(Flatten()(Tensor.zeros([2, 3, 4])).shape, [2, 12])
        XCTAssertEqual(Sigmoid()(Tensor([0])).scalars, [0.5])
        XCTAssertEqual(Tanh()(Tensor([0])).scalars, [0])
        XCTAssertEqual(Sequential(Sigmoid(), Tanh()).description, "Sequential(\n  (0): Sigmoid()\n  (1): Tanh()\n)")
        let list = ModuleList([Linear(1, 2), Linear(2, 3)])
        XCTAssertEqual(list.namedParameters().map(\.0), ["0.weight", "0.bias", "1.weight", "1.bias"])
        XCTAssertEqual(list.count, 2)
        XCTAssertEqual(ReLU()(Tensor([-1, 2])).scalars, [0, 2])
        let drop = Dropout(p: 0.5)
        drop.eval()
        XCTAssertEqual(drop(Tensor([1, 2, 3])).scalars, [1, 2, 3])
        drop.train()
        let dropped = drop(Tensor.ones([1000])).scalars
        XCTAssertTrue(dropped.allSatisfy { $0 == 0 || $0 == 2 })
        XCTAssertEqual(Double(dropped.filter { $0 == 0 }.count), 500, accuracy: 80)
        let pooled = MaxPool2d(kernelSize: 2)(Tensor(shape: [1, 1, 2, 2], scalars: [1, 4, 3, 2]))
        XCTAssertEqual(pooled.scalars, [4])
        XCTAssertEqual(AdaptiveAvgPool2d((1, 1))(Tensor(shape: [1, 1, 2, 2], scalars: [1, 4, 3, 2])).scalars, [2.5])
        let loss = CrossEntropyLoss()(Tensor([[0, 0]]), Tensor([1], dtype: .int64))
        XCTAssertEqual(loss.item(), Float(0.6931472), accuracy: 1e-5)
        XCTAssertEqual(MSELoss()(Tensor([1, 3]), Tensor([0, 0])).item(), 5, accuracy: 1e-6)
        XCTAssertEqual(Array(CrossEntropyLoss(weight: Tensor([1, 2])).stateDict()).map(\.key), ["weight"])
    }

    func testGradientsFlowToTrainableParametersOnly() {
        manualSeed(5)
        let model = smallResNet(numClasses: 3)
        model.freeze()
        model.fc.unfreeze()
        let loss = CrossEntropyLoss()(model(Tensor.randn([2, 1, 8, 8])), Tensor([0, 2], dtype: .int64))
        loss.backward()
        XCTAssertNotNil((model.fc as! Linear).weight.grad)
        XCTAssertNil(model.conv1.weight.grad)
        model.zeroGrad()
        XCTAssertNil((model.fc as! Linear).weight.grad)
    }

    func testInitFunctions() {
        let w = Tensor.zeros([200, 100])
        Init.xavierUniform(w)
        let bound = Float((6.0 / 300).squareRoot())
        XCTAssertTrue(w.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(w.scalars.map(abs).max()!, bound * 0.95)
        Init.kaimingUniform(w, mode: .fanIn, nonlinearity: .relu)
        let kb = Float((2.0).squareRoot() * (3.0 / 100).squareRoot())
        XCTAssertTrue(w.scalars.allSatisfy { abs($0) <= kb })
        Init.xavierNormal(w, gain: 2)
        let values = w.scalars.map(Double.init)
        let std = (values.map { $0 * $0 }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(std, 2 * (2.0 / 300).squareRoot(), accuracy: 0.005)
        XCTAssertEqual(Init.gain(.tanh), 5.0 / 3)
        XCTAssertEqual(Init.fans(Tensor.zeros([8, 4, 3, 3])).fanIn, 36)
        XCTAssertEqual(Init.fans(Tensor.zeros([8, 4, 3, 3])).fanOut, 72)
    }
}

final class FusedBatchNormModuleTests: XCTestCase {
    func testForwardReLUMatchesForwardThenReLU() {
        manualSeed(4)
        let x = Tensor.randn([4, 3, 5, 6])
        let a = BatchNorm2d(3), b = BatchNorm2d(3)
        for bn in [a, b] { _ = Init.uniform(bn.weight!, low: 0.5, high: 1.5); bn.bias!.copy_(from: Tensor([0.1, -0.2, 0.3])) }
        b.weight!.copy_(from: a.weight!)
        XCTAssertEqual(a.forwardReLU(x).scalars, ReLU()(b(x)).scalars)
        XCTAssertEqual(a.runningMean!.scalars, b.runningMean!.scalars)
        XCTAssertEqual(a.runningVar!.scalars, b.runningVar!.scalars)
        XCTAssertEqual(a.numBatchesTracked!.intItem(), 1)
        a.eval(); b.eval()
        XCTAssertEqual(a.forwardReLU(x).scalars, ReLU()(b(x)).scalars)
    }

    func testResidualBlocksFuseOnlyTheStockReLU() {
        manualSeed(5)
        let block = BasicBlock(inPlanes: 4, planes: 4)
        let x = Tensor.randn([2, 4, 6, 6])
        block.eval()
        let fused = block(x)
        // What the block computes, written with the unfused layers.
        let expected = ReLU()(block.bn2(block.conv2(ReLU()(block.bn1(block.conv1(x))))) + x)
        assertClose(fused.scalars, expected.scalars.map(Double.init), tolerance: 1e-5)
        // A replaced activation is honoured, not fused away.
        block.relu = Sigmoid()
        let custom = block(x)
        let expectedCustom = Sigmoid()(block.bn2(block.conv2(Sigmoid()(block.bn1(block.conv1(x))))) + x)
        assertClose(custom.scalars, expectedCustom.scalars.map(Double.init), tolerance: 1e-5)
    }
}
