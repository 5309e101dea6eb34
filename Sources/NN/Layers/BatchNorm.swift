import Foundation
import Torch

/// Batch normalisation over the channel dimension (`nn.BatchNorm1d`/`nn.BatchNorm2d`).
///
/// In training mode it normalises with the batch's statistics and updates the running mean and
/// (unbiased) variance with `momentum` (nil: cumulative average); in evaluation mode it uses the
/// running statistics.
///
/// **Frozen batch norm keeps its statistics.** When the layer's weight and bias (if any) have
/// `requiresGrad == false` (for example after `model.freeze()`), a training-mode forward normalises
/// with the running statistics and leaves them (and `num_batches_tracked`) unchanged, exactly as in
/// evaluation mode. In PyTorch, `requires_grad=False` alone still updates the running statistics, a
/// common fine-tuning pitfall; here it cannot happen by accident. Set
/// `updatesStatisticsWhenFrozen = true` to get PyTorch's behaviour. Layers without affine
/// parameters, or with `trackRunningStats == false`, are never considered frozen.
///
/// Keeping statistics is right for pre-trained weights, and wrong for statistics that were never
/// trained (a model with random weights: mean 0, variance 1, `num_batches_tracked == 0`), which
/// then normalise nothing and losses explode. A training-mode forward of such a frozen layer prints
/// one warning per model on stderr, naming the layer and the two fixes (load pre-trained weights,
/// or set `updatesStatisticsWhenFrozen`).
open class BatchNorm: Module {
    public let numFeatures: Int
    public let eps: Float
    /// Running-statistics update factor; nil means a cumulative moving average.
    public let momentum: Float?
    public let affine: Bool
    /// Whether an affine layer learns a bias (PyTorch 2.15's `bias` argument).
    public let hasBias: Bool
    public let trackRunningStats: Bool
    /// Opt in to PyTorch's behaviour of updating running statistics of a frozen layer in training mode.
    public var updatesStatisticsWhenFrozen = false

    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    @Buffer public var runningMean: Tensor?
    @Buffer public var runningVar: Tensor?
    @Buffer public var numBatchesTracked: Tensor?

    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true,
                bias: Bool = true, trackRunningStats: Bool = true) {
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.hasBias = affine && bias
        self.trackRunningStats = trackRunningStats
        self.weight = affine ? Tensor.ones([numFeatures]) : nil
        self.bias = affine && bias ? Tensor.zeros([numFeatures]) : nil
        // Backing stores are set directly to give the PyTorch keys (an attribute with arguments
        // cannot be initialised by assignment).
        _runningMean = Buffer(wrappedValue: trackRunningStats ? Tensor.zeros([numFeatures]) : nil, "running_mean")
        _runningVar = Buffer(wrappedValue: trackRunningStats ? Tensor.ones([numFeatures]) : nil, "running_var")
        _numBatchesTracked = Buffer(wrappedValue: trackRunningStats ? Tensor(shape: [], int64Scalars: [0]) : nil,
                                    "num_batches_tracked")
        super.init()
    }

    /// True when the affine parameters are frozen and the running statistics are therefore kept.
    public var isFrozen: Bool {
        guard affine, trackRunningStats, let weight else { return false }
        return !weight.requiresGrad && !(bias?.requiresGrad ?? false)
    }

    /// Ranks accepted by this layer, for error messages.
    open var acceptedRanks: [Int] { [2, 3, 4] }

    public override func forward(_ input: Tensor) -> Tensor { normalize(input, reLU: false) }

    /// `relu(forward(input))` in one pass over memory (`batchNormReLU`), with the same running-statistics
    /// updates: what ResNet blocks call for their BN-ReLU pairs.
    public func forwardReLU(_ input: Tensor) -> Tensor { normalize(input, reLU: true) }

    /// `residual`: added before the ReLU (`batchNormAddReLU`; `reLU` must be true), same shape as `input`.
    private func normalize(_ input: Tensor, reLU: Bool, adding residual: Tensor? = nil) -> Tensor {
        guard acceptedRanks.contains(input.rank), input.rank >= 2, input.shape[1] == numFeatures else {
            engineFailure(typeName, "expected input of rank \(acceptedRanks.map(String.init).joined(separator: " or ")) with "
                          + "\(numFeatures) channels in dimension 1, got \(describe(shape: input.shape))", file: #fileID, line: #line)
        }
        let keepStatistics = isFrozen && !updatesStatisticsWhenFrozen
        if isTraining && keepStatistics { warnIfStatisticsNeverTrained() }
        let useBatchStatistics = (isTraining && !keepStatistics) || runningMean == nil
        var factor = momentum ?? 0
        if isTraining && trackRunningStats && !keepStatistics, let counter = numBatchesTracked {
            counter.withUnsafeMutableInt64BufferPointer { $0[0] += 1 }
            if momentum == nil { factor = 1 / Float(counter.intItem()) }
        }
        // [N, C, L] is normalised as [N, C, L, 1].
        let x = input.rank == 3 ? input.reshape(input.shape + [1]) : input
        let y = if let residual {
            batchNormAddReLU(x, adding: residual, runningMean: runningMean, runningVar: runningVar, weight: weight,
                             bias: bias, training: useBatchStatistics, momentum: factor, eps: eps)
        } else if reLU {
            batchNormReLU(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                          training: useBatchStatistics, momentum: factor, eps: eps)
        } else {
            batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                      training: useBatchStatistics, momentum: factor, eps: eps)
        }
        return input.rank == 3 ? y.reshape(input.shape) : y
    }

    public override var extraDescription: String {
        "\(numFeatures), eps=\(pythonFloat(eps)), momentum=\(momentum.map(pythonFloat) ?? "None"), "
            + "affine=\(pythonBool(affine)), bias=\(pythonBool(bias != nil)), track_running_stats=\(pythonBool(trackRunningStats))"
    }
}

/// Batch norm over `[N, C]` or `[N, C, L]`.
public final class BatchNorm1d: BatchNorm {
    public override var acceptedRanks: [Int] { [2, 3] }
}

/// Batch norm over `[N, C, H, W]`.
public final class BatchNorm2d: BatchNorm {
    public override var acceptedRanks: [Int] { [4] }
}

extension BatchNorm {
    /// Whether a forward pass now normalizes with the running statistics (evaluation mode, or a
    /// frozen layer keeping them), leaving every buffer unchanged.
    public var usesRunningStatistics: Bool {
        guard runningMean != nil, runningVar != nil else { return false }
        return !isTraining || (isFrozen && !updatesStatisticsWhenFrozen)
    }

    /// `forward(conv(input))` plus `residual` when given, then a ReLU when `reLU`: a ResNet's
    /// conv-BN-ReLU, or its block ending conv-BN-add-ReLU. When this layer uses its running
    /// statistics and no gradient is recorded (evaluation, a frozen backbone) the normalization,
    /// the addition and the ReLU are folded into the convolution and applied as it writes its
    /// output (`conv2dAffine`); otherwise the convolution runs, then the normalization with the
    /// addition and the ReLU in one pass (`batchNormReLU`, `batchNormAddReLU`).
    public func forward(convolving input: Tensor, with conv: Conv2d, adding residual: Tensor? = nil,
                        reLU: Bool, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        if isTraining && isFrozen && !updatesStatisticsWhenFrozen { warnIfStatisticsNeverTrained() }
        let tensors = [input, conv.weight] + [conv.bias, weight, bias, residual].compactMap { $0 }
        // `ConvPolicy.foldsBatchNorm`: off with `WORKBOOK_FOLD_BATCHNORM=0`, or in a scoped policy.
        guard ConvPolicy.current.get().foldsBatchNorm, usesRunningStatistics,
              !(GradMode.isEnabled && tensors.contains(where: \.requiresGrad)),
              let runningMean, let runningVar, input.rank == 4, conv.outChannels == numFeatures else {
            let y = conv(input)
            guard let residual else { return reLU ? forwardReLU(y) : forward(y) }
            guard reLU else { return forward(y).add(residual, file: file, line: line) }
            // One pass for the normalization, the addition and the ReLU when nothing broadcasts.
            if residual.shape == y.shape && residual.dtype == .float32 {
                return normalize(y, reLU: true, adding: residual)
            }
            return addReLU(forward(y), residual, file: file, line: line)
        }
        // y = (conv + b - mean) * w / sqrt(var + eps) + beta = conv * scale + shift.
        let mean = runningMean.scalars, variance = runningVar.scalars
        let gamma = weight?.scalars, beta = bias?.scalars, convBias = conv.bias?.scalars
        var scale = [Float](repeating: 0, count: numFeatures), shift = scale
        for c in 0..<numFeatures {
            scale[c] = (gamma?[c] ?? 1) / (variance[c] + eps).squareRoot()
            shift[c] = (beta?[c] ?? 0) + ((convBias?[c] ?? 0) - mean[c]) * scale[c]
        }
        return conv2dAffine(input, weight: conv.weight, scale: Tensor(scale), shift: Tensor(shift), residual: residual,
                            reLU: reLU, stride: conv.stride, padding: conv.padding, dilation: conv.dilation,
                            groups: conv.groups, file: file, line: line)
    }
}

extension BatchNorm {
    /// True while the running statistics are still the initial ones (no batch counted, mean 0,
    /// variance 1): they describe no data, so keeping them normalises nothing.
    public var hasInitialStatistics: Bool {
        guard let runningMean, let runningVar else { return false }
        if let counter = numBatchesTracked, counter.intItem() != 0 { return false }
        return runningMean.scalars.allSatisfy { $0 == 0 } && runningVar.scalars.allSatisfy { $0 == 1 }
    }

    /// Prints, once per model (or once per layer called on its own), why a frozen layer with
    /// never-trained statistics will not normalise, and the fixes.
    func warnIfStatisticsNeverTrained() {
        let model = ModelCall.root ?? self
        guard !model.hasWarnedAboutUntrainedStatistics, hasInitialStatistics else { return }
        model.hasWarnedAboutUntrainedStatistics = true
        let named = model.namedModules()
        let name = named.first { $0.1 === self }?.0 ?? ""
        let others = named.filter { entry in
            guard entry.1 !== self, let bn = entry.1 as? BatchNorm else { return false }
            return bn.isFrozen && !bn.updatesStatisticsWhenFrozen && bn.hasInitialStatistics
        }.count
        let layer = name.isEmpty ? "\(typeName)" : "\(typeName) '\(name)' of \(model.typeName)"
        let also = others == 0 ? "" : " (and \(others) other frozen batch-norm layer\(others == 1 ? "" : "s"))"
        let text = "warning: \(layer)\(also) is frozen, so in training mode it keeps its running statistics, "
            + "but they were never trained (num_batches_tracked = 0, mean 0, variance 1): it does not normalise, and "
            + "training will go badly. Load pre-trained weights first (model.loadStateDict(...)), or let frozen "
            + "layers learn statistics from the batches as PyTorch does: "
            + "for case let bn as BatchNorm in model.modules() { bn.updatesStatisticsWhenFrozen = true }\n"
        BatchNorm.warningSink(text)
    }

    /// Where warnings go: stderr (tests replace it to read them).
    nonisolated(unsafe) static var warningSink: (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
}
