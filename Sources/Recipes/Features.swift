import Foundation
import Models
import NN
import Optim
import Torch

/// The pooled 64-dimensional features of a small ResNet: everything but `fc`.
public func backboneFeatures(_ model: SmallResNet, _ input: Tensor) -> Tensor {
    let x = model.layer3(model.layer2(model.layer1(model.relu(model.bn1(model.conv1(input))))))
    return model.avgpool(x).flatten(startDim: 1)
}

/// Runs the frozen backbone once over `data` (eval mode, no gradients, no augmentation) and
/// keeps its pooled features `[N, 64]`: training a head on them afterwards costs a matrix
/// product per step instead of a forward pass through the whole network.
public func cacheFeatures(_ model: SmallResNet, data: LabelledImages, batchSize: Int = 500) -> Tensor {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var chunks: [Tensor] = []
    withNoGrad {
        var begin = 0
        while begin < data.count {
            let end = min(data.count, begin + batchSize)
            let (raw, _) = data.batch(Array(begin..<end))
            chunks.append(backboneFeatures(model, FashionNormalization.apply(raw)).detach())
            begin = end
        }
    }
    return Tensor.cat(chunks, dim: 0)
}

/// Per-dimension standardisation of features, fitted on a training set: `(f - mean) / std`.
/// A linear head on raw pooled ReLU features (all positive, of very different scales) learns
/// slowly; standardised features make the problem well conditioned.
public struct Standardizer {
    public let mean: Tensor
    public let std: Tensor

    public init(fitting features: Tensor, epsilon: Float = 1e-5) {
        mean = features.mean(dim: 0, keepDim: true)
        std = features.std(dim: 0, unbiased: false, keepDim: true) + epsilon
    }

    public func callAsFunction(_ features: Tensor) -> Tensor { (features - mean) / std }

    /// Folds the standardisation into a linear layer that was trained on standardised features,
    /// so it can act on raw features: `W' = W / std`, `b' = b - W' · mean`.
    public func fold(into linear: Linear) {
        let s = std.reshape([-1]), m = mean.reshape([-1])
        withNoGrad {
            let newWeight = linear.weight / s.unsqueeze(dim: 0)
            let shift = newWeight.matmul(m.unsqueeze(dim: 1)).reshape([-1])
            linear.weight.copy_(from: newWeight)
            if let bias = linear.bias { bias.copy_(from: bias - shift) }
        }
    }
}

/// Trains `head` on cached features for `steps` mini-batches (reshuffled each epoch), with the
/// given optimizer and an optional per-step scheduler. Returns the mean training loss.
@discardableResult
public func trainHead(_ head: Module, features: Tensor, labels: Tensor, sampler: BatchSampler, steps: Int,
                      optimizer: Optimizer, scheduler: LRScheduler? = nil,
                      loss lossFunction: (Tensor, Tensor) -> Tensor = { crossEntropy($0, $1) }) -> Double {
    head.train()
    var total = 0.0
    let allLabels = labels.int64Scalars
    for _ in 0..<steps {
        let indices = sampler.next()
        let index = Tensor(shape: [indices.count], int64Scalars: indices.map(Int64.init))
        let x = features.indexSelect(dim: 0, index: index)
        let y = Tensor(shape: [indices.count], int64Scalars: indices.map { allLabels[$0] })
        optimizer.zeroGrad()
        let loss = lossFunction(head(x), y)
        loss.backward()
        optimizer.step()
        scheduler?.step()
        total += Double(loss.item())
    }
    return total / Double(max(1, steps))
}

/// Accuracy of `head` on cached features.
public func headAccuracy(_ head: Module, features: Tensor, labels: Tensor) -> Double {
    let wasTraining = head.isTraining
    head.eval()
    defer { head.train(wasTraining) }
    return withNoGrad { Double(correctCount(head(features), labels)) / Double(max(1, labels.shape[0])) }
}
