import Foundation
import Models
import NN
import Optim
import Torch

/// The five ways the course adapts the source model to task B (the reference experiment).
public enum TransferMethod: String, CaseIterable, Sendable {
    /// Random initialisation, every layer trained (SGD momentum 0.9, lr 0.1): the baseline.
    case scratch
    /// Backbone frozen; a linear head trained on standardised cached features (Adam 3e-2).
    case linearProbe
    /// Source weights, fresh head, every layer trained (SGD momentum 0.9, lr 0.01).
    case fullFineTune
    /// Half the steps as the linear probe (Adam 1e-2), then every layer with Adam 1e-3.
    case twoPhase
    /// Adam with per-stage learning rates: head 3e-3, layer3 3e-4, layer2 3e-5; stem and layer1 frozen.
    case discriminative

    public var title: String {
        switch self {
        case .scratch: return "scratch"
        case .linearProbe: return "linear probe"
        case .fullFineTune: return "full fine-tune"
        case .twoPhase: return "two-phase"
        case .discriminative: return "discriminative lr"
        }
    }
}

/// How many steps a transfer run gets, and with which batches: the same budget for every
/// method, `max(minimumSteps, epochs passes)`, batches of `min(maxBatch, n)`; the last partial
/// batch is dropped when it would hold fewer than 16 images (batch norm statistics of a handful
/// of images are noisy enough to hurt).
public struct TransferBudget: Sendable, Equatable {
    public var minimumSteps: Int
    public var epochs: Int
    public var maxBatch: Int

    /// The reference budget: max(600 steps, 30 epochs), batch min(64, n).
    public static let reference = TransferBudget(minimumSteps: 600, epochs: 30, maxBatch: 64)

    public init(minimumSteps: Int, epochs: Int, maxBatch: Int = 64) {
        self.minimumSteps = minimumSteps
        self.epochs = epochs
        self.maxBatch = maxBatch
    }

    public func batchSize(samples n: Int) -> Int { min(maxBatch, n) }
    public func dropLast(samples n: Int) -> Bool {
        let remainder = n % batchSize(samples: n)
        return remainder > 0 && remainder < 16
    }
    public func batchesPerEpoch(samples n: Int) -> Int {
        let b = batchSize(samples: n)
        return dropLast(samples: n) ? n / b : (n + b - 1) / b
    }
    public func steps(samples n: Int) -> Int { max(minimumSteps, epochs * batchesPerEpoch(samples: n)) }
}

/// One transfer run's outcome.
public struct TransferResult {
    public var method: TransferMethod
    public var trainCount: Int
    public var seed: UInt64
    public var steps: Int
    /// Accuracy on the test set.
    public var accuracy: Double
    /// Wall time of training and evaluation, seconds.
    public var seconds: Double
    /// The trained network (for the linear probe: the backbone with the probe folded into `fc`).
    public var model: SmallResNet
}

/// A small ResNet for task B carrying the source weights, with a fresh (seeded) 5-way head.
public func sourceModelWithFreshHead(_ source: StateDict, classes: Int = 5, seed: UInt64) -> SmallResNet {
    manualSeed(seed)
    let model = smallResNet(numClasses: classes)
    do {
        _ = try model.loadStateDict(source, strict: true, skip: ["fc.weight", "fc.bias"])
    } catch {
        engineFailure("sourceModelWithFreshHead", "the source weights do not fit smallResNet: \(error)", file: #fileID, line: #line)
    }
    return model
}

/// Trains `method` on `train` within `budget` and scores it on `test`.
/// `source` is the pre-trained state dict (unused by `.scratch`).
public func runTransfer(_ method: TransferMethod, source: StateDict, train: LabelledImages, test: LabelledImages,
                        seed: UInt64 = 0, budget: TransferBudget = .reference, weightDecay: Double = 5e-4) -> TransferResult {
    let start = Date()
    let n = train.count
    let steps = budget.steps(samples: n)
    let generator = Generator(seed: seed &* 7919 &+ 17)
    let sampler = BatchSampler(count: n, batchSize: budget.batchSize(samples: n), shuffle: true,
                               dropLast: budget.dropLast(samples: n), generator: generator)
    let model: SmallResNet
    switch method {
    case .scratch:
        manualSeed(seed)
        model = smallResNet(numClasses: train.classes.count)
        let optimizer = SGD(model.parameters(), lr: 0.1, momentum: 0.9, weightDecay: weightDecay)
        let scheduler = CosineAnnealingLR(optimizer, tMax: steps)
        Recipes.train(model: model, data: train, sampler: sampler, steps: steps, optimizer: optimizer, scheduler: scheduler,
                      preparation: .augmented, generator: generator)

    case .fullFineTune:
        model = sourceModelWithFreshHead(source, classes: train.classes.count, seed: seed)
        let optimizer = SGD(model.parameters(), lr: 0.01, momentum: 0.9, weightDecay: weightDecay)
        let scheduler = CosineAnnealingLR(optimizer, tMax: steps)
        Recipes.train(model: model, data: train, sampler: sampler, steps: steps, optimizer: optimizer, scheduler: scheduler,
                      preparation: .augmented, generator: generator)

    case .linearProbe:
        model = sourceModelWithFreshHead(source, classes: train.classes.count, seed: seed)
        fitProbe(model, train: train, steps: steps, sampler: sampler, lr: 3e-2, weightDecay: weightDecay)
        model.freeze()

    case .twoPhase:
        model = sourceModelWithFreshHead(source, classes: train.classes.count, seed: seed)
        let headSteps = steps / 2
        fitProbe(model, train: train, steps: headSteps, sampler: sampler, lr: 1e-2, weightDecay: weightDecay)
        model.unfreeze()
        let optimizer = Adam(model.parameters(), lr: 1e-3, weightDecay: weightDecay)
        let scheduler = CosineAnnealingLR(optimizer, tMax: steps - headSteps)
        Recipes.train(model: model, data: train, sampler: sampler, steps: steps - headSteps, optimizer: optimizer,
                      scheduler: scheduler, preparation: .augmented, generator: generator)

    case .discriminative:
        model = sourceModelWithFreshHead(source, classes: train.classes.count, seed: seed)
        for part in [model.conv1, model.bn1, model.layer1] as [Module] { part.freeze() }
        let optimizer = Adam([ParamGroup(params: model.fc.parameters(), lr: 3e-3),
                              ParamGroup(params: model.layer3.parameters(), lr: 3e-4),
                              ParamGroup(params: model.layer2.parameters(), lr: 3e-5)], lr: 1e-3, weightDecay: weightDecay)
        let scheduler = CosineAnnealingLR(optimizer, tMax: steps)
        Recipes.train(model: model, data: train, sampler: sampler, steps: steps, optimizer: optimizer, scheduler: scheduler,
                      preparation: .augmented, generator: generator)
    }
    let accuracy = evaluate(model, on: test).accuracy
    return TransferResult(method: method, trainCount: n, seed: seed, steps: steps, accuracy: accuracy,
                          seconds: Date().timeIntervalSince(start), model: model)
}

/// Trains `model.fc` alone on standardised features of the frozen backbone (cached once, no
/// augmentation, batch norm in eval mode), then folds the standardisation into `fc` so the
/// whole network works on images again. The backbone is left frozen.
public func fitProbe(_ model: SmallResNet, train: LabelledImages, steps: Int, sampler: BatchSampler, lr: Double, weightDecay: Double = 5e-4) {
    model.freeze()
    let features = cacheFeatures(model, data: train)
    let standardizer = Standardizer(fitting: features)
    guard let head = model.fc as? Linear else {
        engineFailure("fitProbe", "model.fc is a \(model.fc.typeName), expected a Linear", file: #fileID, line: #line)
    }
    head.unfreeze()
    let optimizer = Adam(head.parameters(), lr: lr, weightDecay: weightDecay)
    let scheduler = CosineAnnealingLR(optimizer, tMax: max(1, steps))
    trainHead(head, features: standardizer(features), labels: train.labels, sampler: sampler, steps: steps,
              optimizer: optimizer, scheduler: scheduler)
    standardizer.fold(into: head)
}

/// Relative change `‖w_after - w_before‖ / ‖w_before‖` of every weight tensor named in both
/// state dicts (batch-norm buffers skipped): which layers fine-tuning moved most.
public func relativeWeightChange(before: StateDict, after: StateDict) -> [(name: String, change: Double)] {
    var result: [(String, Double)] = []
    for (name, old) in before where old.dtype == .float32 && !name.hasSuffix("running_mean") && !name.hasSuffix("running_var") {
        guard let new = after[name], new.shape == old.shape else { continue }
        let a = old.scalars, b = new.scalars
        var diff = 0.0, norm = 0.0
        for i in a.indices { let d = Double(b[i] - a[i]); diff += d * d; norm += Double(a[i]) * Double(a[i]) }
        result.append((name, (diff / max(norm, 1e-30)).squareRoot()))
    }
    return result
}
