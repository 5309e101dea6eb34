import Torch

/// A loss module: `loss(input, target)` calls `forward(_:_:)`.
open class Loss: Module {
    public let reduction: Reduction

    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    /// The loss of `input` against `target`; subclasses override it.
    open func forward(_ input: Tensor, _ target: Tensor) -> Tensor {
        engineFailure("forward", "\(typeName) does not override forward(_:_:)", file: #fileID, line: #line)
    }

    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor { forward(input, target) }

    public override func forward(_ input: Tensor) -> Tensor {
        engineFailure(typeName, "a loss takes two arguments: loss(input, target)", file: #fileID, line: #line)
    }
}

/// Log-softmax plus negative log-likelihood on raw logits `[N, C]` and Int64 class targets `[N]`
/// (`nn.CrossEntropyLoss`). `weight` (per class) is a buffer, as in PyTorch.
public final class CrossEntropyLoss: Loss {
    @Buffer public var weight: Tensor?
    public let ignoreIndex: Int
    public let labelSmoothing: Float

    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: Reduction = .mean, labelSmoothing: Float = 0) {
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.labelSmoothing = labelSmoothing
        super.init(reduction: reduction)
    }

    public override func forward(_ input: Tensor, _ target: Tensor) -> Tensor {
        crossEntropy(input, target, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction, labelSmoothing: labelSmoothing)
    }
}

/// Negative log-likelihood on log-probabilities (`nn.NLLLoss`).
public final class NLLLoss: Loss {
    @Buffer public var weight: Tensor?
    public let ignoreIndex: Int

    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: Reduction = .mean) {
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        super.init(reduction: reduction)
    }

    public override func forward(_ input: Tensor, _ target: Tensor) -> Tensor {
        nllLoss(input, target, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
    }
}

/// Mean squared error (`nn.MSELoss`).
public final class MSELoss: Loss {
    public override init(reduction: Reduction = .mean) { super.init(reduction: reduction) }

    public override func forward(_ input: Tensor, _ target: Tensor) -> Tensor {
        mseLoss(input, target, reduction: reduction)
    }
}
