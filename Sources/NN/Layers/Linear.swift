import Torch

/// `y = x Wᵀ + b` (`nn.Linear`). Weight `[out, in]`; PyTorch's initialisation: weight
/// kaiming-uniform with a = √5 (U(-1/√in, 1/√in)), bias U(-1/√in, 1/√in).
public final class Linear: Module {
    private let inputWidth: Int
    private let outputWidth: Int
    /// Width of the input (`in_features`).
    public override var inFeatures: Int { inputWidth }
    /// Width of the output (`out_features`).
    public override var outFeatures: Int { outputWidth }
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        inputWidth = inFeatures
        outputWidth = outFeatures
        let initialize = !Init.skipsDefaultInitialization
        let w = Tensor.zeros([outFeatures, inFeatures])
        self.weight = initialize ? Init.kaimingUniform(w, a: 5.0.squareRoot()) : w
        let bound = inFeatures > 0 ? 1 / Double(inFeatures).squareRoot() : 0
        let b = Tensor.zeros([outFeatures])
        self.bias = bias ? (initialize ? Init.uniform(b, low: -bound, high: bound) : b) : nil
        super.init()
    }

    /// Argument labels as in PyTorch: `Linear(inFeatures: 512, outFeatures: 10)`.
    public convenience init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.init(inFeatures, outFeatures, bias: bias)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        linear(input, weight: weight, bias: bias)
    }

    public override var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(pythonBool(bias != nil))"
    }
}

/// Python's spelling of a Bool, for descriptions.
func pythonBool(_ b: Bool) -> String { b ? "True" : "False" }

/// Python's `repr` of a pair.
func pythonPair(_ p: (Int, Int)) -> String { "(\(p.0), \(p.1))" }

/// Python's repr of a float given as Float (shortest round-trip digits: 1e-05, 0.1, 0.5).
func pythonFloat(_ x: Float) -> String {
    if x == x.rounded(), abs(x) < 1e16 { return String(format: "%.1f", Double(x)) }
    return x.description
}

import Foundation
