import Foundation
import NN
import Optim
import Torch

/// Loss and accuracy of one pass of training.
public struct EpochStats: Sendable {
    public var loss: Double
    public var accuracy: Double
    public var images: Int
    public var seconds: Double
    public var imagesPerSecond: Double { Double(images) / max(seconds, 1e-9) }
}

/// How a training batch is prepared from raw images.
public struct BatchPreparation: Sendable {
    /// Random crop (this many pixels of padding) + horizontal flip when true.
    public var augment: Bool
    public var padding: Int
    /// Normalise with `FashionNormalization` (true for every recipe of the course).
    public var normalize: Bool

    public init(augment: Bool, padding: Int = 2, normalize: Bool = true) {
        self.augment = augment
        self.padding = padding
        self.normalize = normalize
    }

    public static let plain = BatchPreparation(augment: false)
    public static let augmented = BatchPreparation(augment: true)

    public func callAsFunction(_ raw: Tensor, generator: Generator) -> Tensor {
        let x = augment ? Recipes.augment(raw, padding: padding, flip: true, generator: generator) : raw
        return normalize ? FashionNormalization.apply(x) : x
    }
}

/// One optimisation step on a batch: forward, loss, backward, optional gradient clipping,
/// optimizer and scheduler steps. Returns the loss and the number of correct predictions.
@discardableResult
public func trainStep(model: Module, images: Tensor, labels: Tensor, optimizer: Optimizer, scheduler: LRScheduler? = nil,
                      clipNorm: Float? = nil, loss lossFunction: (Tensor, Tensor) -> Tensor = { crossEntropy($0, $1) }) -> (loss: Float, correct: Int) {
    optimizer.zeroGrad()
    let logits = model(images)
    let loss = lossFunction(logits, labels)
    loss.backward()
    if let clipNorm { clipGradNorm(model.parameters().filter(\.requiresGrad), maxNorm: clipNorm) }
    optimizer.step()
    scheduler?.step()
    return (loss.item(), correctCount(logits, labels))
}

/// Number of rows of `logits` whose arg-max equals the label.
public func correctCount(_ logits: Tensor, _ labels: Tensor) -> Int {
    zip(logits.detach().argmax(dim: 1).int64Scalars, labels.int64Scalars).filter { $0 == $1 }.count
}

/// Trains for `steps` mini-batches drawn from `sampler` (which reshuffles at each epoch), in
/// training mode, preparing each batch with `preparation`. `onStep(step, loss)` sees every step.
/// Returns the statistics over all steps.
@discardableResult
public func train(model: Module, data: LabelledImages, sampler: BatchSampler, steps: Int, optimizer: Optimizer,
                  scheduler: LRScheduler? = nil, preparation: BatchPreparation, clipNorm: Float? = nil,
                  generator: Generator, onStep: ((Int, Float) -> Void)? = nil) -> EpochStats {
    model.train()
    let start = Date()
    var lossSum = 0.0, correct = 0, seen = 0
    for step in 0..<steps {
        let indices = sampler.next()
        let (raw, labels) = data.batch(indices)
        let x = preparation(raw, generator: generator)
        let (loss, hits) = trainStep(model: model, images: x, labels: labels, optimizer: optimizer, scheduler: scheduler, clipNorm: clipNorm)
        lossSum += Double(loss) * Double(indices.count)
        correct += hits
        seen += indices.count
        onStep?(step, loss)
    }
    return EpochStats(loss: lossSum / Double(max(seen, 1)), accuracy: Double(correct) / Double(max(seen, 1)),
                      images: seen, seconds: Date().timeIntervalSince(start))
}

/// One epoch (every batch of `sampler` once).
@discardableResult
public func trainEpoch(model: Module, data: LabelledImages, sampler: BatchSampler, optimizer: Optimizer,
                       scheduler: LRScheduler? = nil, preparation: BatchPreparation, clipNorm: Float? = nil,
                       generator: Generator, onStep: ((Int, Float) -> Void)? = nil) -> EpochStats {
    train(model: model, data: data, sampler: sampler, steps: sampler.batchesPerEpoch, optimizer: optimizer, scheduler: scheduler,
          preparation: preparation, clipNorm: clipNorm, generator: generator, onStep: onStep)
}

/// The outcome of evaluating a classifier on a labelled set.
public struct Evaluation: Sendable {
    public var loss: Double
    public var accuracy: Double
    /// Predicted class of every sample, in order.
    public var predictions: [Int]
    public var labels: [Int]
    public var seconds: Double
    public var count: Int { labels.count }
}

/// Evaluates `model` in eval mode without recording gradients, `batchSize` images at a time
/// (memory stays bounded however large the set), and restores the model's previous mode.
public func evaluate(_ model: Module, on data: LabelledImages, batchSize: Int = 500, normalize: Bool = true) -> Evaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    let start = Date()
    var predictions: [Int] = []
    var lossSum = 0.0
    withNoGrad {
        var begin = 0
        while begin < data.count {
            let end = min(data.count, begin + batchSize)
            let (raw, labels) = data.batch(Array(begin..<end))
            let logits = model(normalize ? FashionNormalization.apply(raw) : raw)
            lossSum += Double(crossEntropy(logits, labels, reduction: .sum).item())
            predictions += logits.argmax(dim: 1).int64Scalars.map { Int($0) }
            begin = end
        }
    }
    let labels = data.labelArray
    let correct = zip(predictions, labels).filter { $0 == $1 }.count
    return Evaluation(loss: lossSum / Double(max(1, data.count)), accuracy: Double(correct) / Double(max(1, data.count)),
                      predictions: predictions, labels: labels, seconds: Date().timeIntervalSince(start))
}

/// `counts[true][predicted]` for `classCount` classes.
public func confusionMatrix(predictions: [Int], labels: [Int], classCount: Int) -> [[Int]] {
    precondition(predictions.count == labels.count, "confusionMatrix: \(predictions.count) predictions for \(labels.count) labels")
    var counts = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
    for (p, l) in zip(predictions, labels) { counts[l][p] += 1 }
    return counts
}

/// Off-diagonal cells of a confusion matrix, largest first: (true class, predicted class, count).
public func mostConfusedPairs(_ counts: [[Int]], top: Int = 3) -> [(actual: Int, predicted: Int, count: Int)] {
    var cells: [(actual: Int, predicted: Int, count: Int)] = []
    for (a, row) in counts.enumerated() { for (p, n) in row.enumerated() where a != p && n > 0 { cells.append((a, p, n)) } }
    return Array(cells.sorted { $0.count != $1.count ? $0.count > $1.count : ($0.actual, $0.predicted) < ($1.actual, $1.predicted) }.prefix(top))
}

/// Per-class accuracy (recall) from a confusion matrix.
public func perClassAccuracy(_ counts: [[Int]]) -> [Double] {
    counts.enumerated().map { i, row in Double(row[i]) / Double(max(1, row.reduce(0, +))) }
}
