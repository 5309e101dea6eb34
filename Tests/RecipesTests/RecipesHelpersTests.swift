import Foundation
import Models
import NN
import Optim
import Recipes
import Torch
import XCTest

/// Tiny labelled images: class c's images are filled with c / classes (plus a marker pixel), so
/// tests can tell samples apart and check relabelling and ordering.
private func tinySet(perClass: Int, classes: Int = 3, size: Int = 6) -> LabelledImages {
    let n = perClass * classes
    var labels: [Int64] = []
    let images = Tensor.make(shape: [n, 1, size, size]) { dst in
        for i in 0..<n {
            let c = i % classes
            for p in 0..<(size * size) { dst[i * size * size + p] = Float(c) / Float(classes) }
            dst[i * size * size] = Float(i) / Float(n)  // marker: sample identity
        }
    }
    for i in 0..<n { labels.append(Int64(i % classes)) }
    return LabelledImages(images: images, labels: Tensor(shape: [n], int64Scalars: labels),
                          classes: (0..<classes).map { "c\($0)" })
}

final class RecipesHelpersTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(sha256Hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha256Hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Two blocks (56 bytes forces the padding into a second block).
        XCTAssertEqual(sha256Hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testBatchSamplerCoversEveryIndexOncePerEpochAndDropsLast() {
        let sampler = BatchSampler(count: 10, batchSize: 4, shuffle: true, dropLast: false, generator: Generator(seed: 3))
        XCTAssertEqual(sampler.batchesPerEpoch, 3)
        var firstEpoch: [Int] = []
        for _ in 0..<3 { firstEpoch += sampler.next() }
        XCTAssertEqual(firstEpoch.sorted(), Array(0..<10))
        var secondEpoch: [Int] = []
        for _ in 0..<3 { secondEpoch += sampler.next() }
        XCTAssertEqual(secondEpoch.sorted(), Array(0..<10))
        XCTAssertNotEqual(firstEpoch, secondEpoch, "each epoch reshuffles")

        let dropping = BatchSampler(count: 10, batchSize: 4, dropLast: true, generator: Generator(seed: 3))
        XCTAssertEqual(dropping.batchesPerEpoch, 2)
        for _ in 0..<6 { XCTAssertEqual(dropping.next().count, 4) }
    }

    func testAugmentShiftsAndFlipsWithinBounds() {
        let x = Tensor.make(shape: [1, 1, 3, 3]) { d in for i in 0..<9 { d[i] = Float(i + 1) } }
        // No padding and no flip: identity.
        XCTAssertEqual(augment(x, padding: 0, flip: false, generator: Generator(seed: 1)).scalars, x.scalars)
        // Over many draws with flip only, both the image and its mirror appear.
        var seen = Set<[Float]>()
        let g = Generator(seed: 2)
        for _ in 0..<20 { seen.insert(augment(x, padding: 0, flip: true, generator: g).scalars) }
        XCTAssertEqual(seen, [x.scalars, [3, 2, 1, 6, 5, 4, 9, 8, 7]])
        // Shifts by at most `padding`: every output pixel is 0 or one of the inputs, and the
        // centre pixel of a 3x3 image shifted by <= 1 always comes from the input.
        for _ in 0..<20 {
            let y = augment(x, padding: 1, flip: false, generator: g).scalars
            XCTAssertTrue(y.allSatisfy { $0 == 0 || x.scalars.contains($0) })
            XCTAssertNotEqual(y[4], 0)
        }
    }

    func testKShotIsStratifiedAndSeeded() {
        let data = tinySet(perClass: 7)
        let a = data.kShot(2, seed: 5), b = data.kShot(2, seed: 5), c = data.kShot(2, seed: 6)
        XCTAssertEqual(a.count, 6)
        XCTAssertEqual(a.classCounts, [2, 2, 2])
        XCTAssertEqual(a.images.scalars, b.images.scalars)
        XCTAssertNotEqual(a.images.scalars, c.images.scalars)
        // Labels travel with their images.
        for (i, label) in a.labelArray.enumerated() {
            XCTAssertEqual(a.images.scalars[i * 36 + 1], Float(label) / 3, accuracy: 1e-6)
        }
    }

    func testConfusionMatrixAndMostConfusedPairs() {
        let m = confusionMatrix(predictions: [0, 1, 1, 2, 0, 2, 2], labels: [0, 0, 1, 2, 2, 1, 1], classCount: 3)
        XCTAssertEqual(m, [[1, 1, 0], [0, 1, 2], [1, 0, 1]])
        let pairs = mostConfusedPairs(m, top: 2)
        XCTAssertEqual(pairs.map(\.actual), [1, 0])
        XCTAssertEqual(pairs.map(\.predicted), [2, 1])
        XCTAssertEqual(pairs.map(\.count), [2, 1])
        XCTAssertEqual(perClassAccuracy(m), [0.5, 1.0 / 3, 0.5])
    }

    func testStandardizerFoldGivesTheSameLogits() {
        let features = Tensor.randn([20, 4], generator: Generator(seed: 1)) * 3 + 2
        let standardizer = Standardizer(fitting: features)
        let z = standardizer(features)
        XCTAssertEqual(Double(z.mean(dim: 0).abs().max().item()), 0, accuracy: 1e-4)
        manualSeed(4)
        let head = Linear(4, 3)
        let expected = head(z)
        standardizer.fold(into: head)
        let folded = head(features)
        for (e, f) in zip(expected.scalars, folded.scalars) { XCTAssertEqual(e, f, accuracy: 1e-4) }
    }

    func testTransferBudgetMatchesTheReference() {
        let budget = TransferBudget.reference
        // k = 10 per class, 5 classes: one batch of 50 per epoch, 600 steps.
        XCTAssertEqual(budget.batchSize(samples: 50), 50)
        XCTAssertEqual(budget.steps(samples: 50), 600)
        // k = 100: 8 batches of 64 (last one 52), 30 epochs = 240 < 600.
        XCTAssertEqual(budget.dropLast(samples: 500), false)
        XCTAssertEqual(budget.steps(samples: 500), 600)
        // k = 500: 2,500 images, the last batch of 4 is dropped: 39 x 30 = 1,170 steps.
        XCTAssertEqual(budget.dropLast(samples: 2500), true)
        XCTAssertEqual(budget.steps(samples: 2500), 1170)
    }

    func testTrainingReducesLossAndEvaluateCountsCorrectly() {
        let data = tinySet(perClass: 8)
        manualSeed(0)
        let model = Sequential(Flatten(), Linear(36, 3))
        let g = Generator(seed: 0)
        let sampler = BatchSampler(count: data.count, batchSize: 8, generator: g)
        let before = evaluate(model, on: data, normalize: false)
        let optimizer = SGD(model.parameters(), lr: 0.5, momentum: 0.9)
        train(model: model, data: data, sampler: sampler, steps: 60, optimizer: optimizer,
              preparation: BatchPreparation(augment: false, normalize: false), generator: g)
        let after = evaluate(model, on: data, batchSize: 5, normalize: false)
        XCTAssertLessThan(after.loss, before.loss)
        XCTAssertEqual(after.accuracy, 1, accuracy: 1e-9)
        XCTAssertEqual(after.predictions, data.labelArray)
        XCTAssertTrue(model.isTraining, "evaluate restores the previous mode")
    }

    func testRelativeWeightChange() {
        let before = StateDict([("a.weight", Tensor([3, 4], shape: [2])), ("bn.running_mean", Tensor([1], shape: [1]))])
        let after = StateDict([("a.weight", Tensor([3, 4.5], shape: [2])), ("bn.running_mean", Tensor([2], shape: [1]))])
        let changes = relativeWeightChange(before: before, after: after)
        XCTAssertEqual(changes.map(\.name), ["a.weight"])
        XCTAssertEqual(changes[0].change, 0.1, accuracy: 1e-6)
    }

    func testFitProbeTrainsOnlyTheHeadAndKeepsBatchNormStatistics() {
        manualSeed(0)
        let model = smallResNet(numClasses: 3)
        // Give batch norm non-trivial running statistics, as a trained model has.
        let data = tinySet(perClass: 4, size: 8)
        let backboneBefore = model.stateDict()
        let sampler = BatchSampler(count: data.count, batchSize: 6, generator: Generator(seed: 1))
        fitProbe(model, train: data, steps: 30, sampler: sampler, lr: 1e-2)
        let after = model.stateDict()
        for (name, tensor) in backboneBefore where !name.hasPrefix("fc.") {
            XCTAssertEqual(tensor.dtype == .int64 ? tensor.int64Scalars.map(Float.init) : tensor.scalars,
                           after[name]!.dtype == .int64 ? after[name]!.int64Scalars.map(Float.init) : after[name]!.scalars,
                           "\(name) changed")
        }
        XCTAssertNotEqual(backboneBefore["fc.weight"]!.scalars, after["fc.weight"]!.scalars)
        XCTAssertEqual(model.trainableParameterCount, 64 * 3 + 3, "only the head stays trainable")
    }

    func testEveryTransferMethodRunsAndRespectsItsFrozenLayers() {
        manualSeed(9)
        let source = smallResNet(numClasses: 3).stateDict()
        let train = tinySet(perClass: 4, size: 8), test = tinySet(perClass: 2, size: 8)
        let budget = TransferBudget(minimumSteps: 3, epochs: 1, maxBatch: 8)
        func same(_ a: Tensor, _ b: Tensor) -> Bool { a.scalars == b.scalars }
        for method in TransferMethod.allCases {
            let result = runTransfer(method, source: source, train: train, test: test, seed: 1, budget: budget)
            XCTAssertEqual(result.steps, 3)
            XCTAssertTrue((0...1).contains(result.accuracy))
            let after = result.model.stateDict()
            let stemKept = same(after["conv1.weight"]!, source["conv1.weight"]!)
            let layer1Kept = same(after["layer1.0.conv1.weight"]!, source["layer1.0.conv1.weight"]!)
            let layer3Kept = same(after["layer3.1.conv2.weight"]!, source["layer3.1.conv2.weight"]!)
            switch method {
            case .scratch:
                XCTAssertFalse(stemKept, "scratch starts from new random weights")
            case .linearProbe:
                XCTAssertTrue(stemKept && layer1Kept && layer3Kept, "the probe trains the head only")
                XCTAssertTrue(same(after["bn1.running_mean"]!, source["bn1.running_mean"]!), "frozen batch norm keeps its statistics")
            case .discriminative:
                XCTAssertTrue(stemKept && layer1Kept, "stem and layer1 are frozen")
                XCTAssertFalse(layer3Kept, "layer3 trains")
            case .fullFineTune, .twoPhase:
                XCTAssertFalse(stemKept, "\(method) trains every layer")
            }
        }
    }
}
