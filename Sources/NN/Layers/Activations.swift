import Torch

/// `max(x, 0)` (`nn.ReLU`). `inplace` only mirrors PyTorch's printout (`ReLU(inplace=True)` in
/// torchvision models); results are always computed out of place.
public final class ReLU: Module {
    public let inplace: Bool
    public init(inplace: Bool = false) { self.inplace = inplace }
    public override func forward(_ input: Tensor) -> Tensor { input.relu() }
    public override var extraDescription: String { inplace ? "inplace=True" : "" }
}

/// Softmax along `dim` (`nn.Softmax`).
public final class Softmax: Module {
    public let dim: Int
    public init(dim: Int) { self.dim = dim }
    public override func forward(_ input: Tensor) -> Tensor { softmax(input, dim: dim) }
    public override var extraDescription: String { "dim=\(dim)" }
}

/// Log-softmax along `dim` (`nn.LogSoftmax`).
public final class LogSoftmax: Module {
    public let dim: Int
    public init(dim: Int) { self.dim = dim }
    public override func forward(_ input: Tensor) -> Tensor { logSoftmax(input, dim: dim) }
    public override var extraDescription: String { "dim=\(dim)" }
}

/// Returns its input (`nn.Identity`): the usual stand-in when removing a layer, e.g. a classifier head.
public final class Identity: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input }
}

/// Flattens dimensions `startDim...endDim` (`nn.Flatten`, default: all but the batch dimension).
public final class Flatten: Module {
    public let startDim: Int
    public let endDim: Int
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
    }
    public override func forward(_ input: Tensor) -> Tensor { input.flatten(startDim: startDim, endDim: endDim) }
    public override var extraDescription: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// Zeroes each element with probability `p` in training mode and scales the rest by 1/(1-p)
/// (`nn.Dropout`); the identity in evaluation mode. Draws from `Generator.default`.
public final class Dropout: Module {
    public let p: Float
    public let inplace: Bool
    public init(p: Float = 0.5, inplace: Bool = false, file: StaticString = #fileID, line: UInt = #line) {
        guard p >= 0 && p <= 1 else {
            engineFailure("Dropout", "dropout probability has to be between 0 and 1, but got \(p)", file: file, line: line)
        }
        self.p = p
        self.inplace = inplace
    }
    public convenience init(_ p: Float) { self.init(p: p) }
    public override func forward(_ input: Tensor) -> Tensor { dropout(input, p: p, training: isTraining) }
    public override var extraDescription: String { "p=\(pythonFloat(p)), inplace=\(pythonBool(inplace))" }
}

/// The logistic function 1/(1 + e⁻ˣ) (`nn.Sigmoid`).
public final class Sigmoid: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.sigmoid() }
}

/// Hyperbolic tangent (`nn.Tanh`).
public final class Tanh: Module {
    public override init() {}
    public override func forward(_ input: Tensor) -> Tensor { input.tanh() }
}
