import Foundation
import NN
import Torch

/// Adam (`torch.optim.Adam`), with L2 weight decay added to the gradient, and optional AMSGrad:
///
///     m = β₁·m + (1 − β₁)·g;  v = β₂·v + (1 − β₂)·g²
///     p = p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
open class Adam: Optimizer {
    /// Whether weight decay is decoupled from the gradient (AdamW).
    let decoupledWeightDecay: Bool

    public init(_ groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
                file: StaticString = #fileID, line: UInt = #line) {
        decoupledWeightDecay = false
        super.init(groups, defaults: Adam.defaults(lr, betas, eps, weightDecay, amsgrad, maximize), file: file, line: line)
    }

    public convenience init(_ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, file: file, line: line)
    }

    /// `Adam(params: model.parameters(), lr: 1e-3)`, as `optim.Adam(params=..., lr=...)`.
    public convenience init(params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, file: file, line: line)
    }

    /// Parameter groups labelled as in PyTorch: `Adam(params: [ParamGroup(...), ...], lr: 1e-3)`.
    public convenience init(params: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init(params, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, file: file, line: line)
    }

    init(decoupled groups: [ParamGroup], lr: Double, betas: (Double, Double), eps: Double, weightDecay: Double,
         amsgrad: Bool, maximize: Bool, file: StaticString, line: UInt) {
        decoupledWeightDecay = true
        super.init(groups, defaults: Adam.defaults(lr, betas, eps, weightDecay, amsgrad, maximize), file: file, line: line)
    }

    static func defaults(_ lr: Double, _ betas: (Double, Double), _ eps: Double, _ wd: Double, _ amsgrad: Bool,
                         _ maximize: Bool) -> [String: OptimizerValue] {
        ["lr": .double(lr), "betas": .pair(betas.0, betas.1), "eps": .double(eps), "weight_decay": .double(wd),
         "amsgrad": .bool(amsgrad), "maximize": .bool(maximize)]
    }

    public override func validate(_ group: ParamGroup) throws {
        try super.validate(group)
        let (b1, b2) = group.betas
        guard (0..<1).contains(b1), (0..<1).contains(b2) else {
            throw OptimizerError(message: "invalid betas \((b1, b2)): each must be in [0, 1)")
        }
        if group.double("eps") < 0 { throw OptimizerError(message: "invalid epsilon value: \(group.double("eps"))") }
        if group.weightDecay < 0 { throw OptimizerError(message: "invalid weight_decay value: \(group.weightDecay)") }
    }

    public override func update(_ param: Tensor, grad: Tensor, group: ParamGroup, state: ParameterState) {
        let lr = group.lr, wdDouble = group.weightDecay
        let (beta1, beta2) = group.betas
        let eps = Float(group.double("eps")), amsgrad = group.bool("amsgrad")
        if state.isEmpty {
            state["step"] = Tensor(0)
            state["exp_avg"] = zerosLike(param)
            state["exp_avg_sq"] = zerosLike(param)
            if amsgrad { state["max_exp_avg_sq"] = zerosLike(param) }
        }
        let stepTensor = state["step"]!
        let step = Double(stepTensor.item()) + 1
        stepTensor.withUnsafeMutableBufferPointer { $0[0] = Float(step) }

        var g = grad.scalars
        if group.bool("maximize") { for i in g.indices { g[i] = -g[i] } }
        let w1 = Float(1 - beta1), b2 = Float(beta2), w2 = Float(1 - beta2)
        let biasCorrection1 = 1 - pow(beta1, step)
        let biasCorrection2Sqrt = Float((1 - pow(beta2, step)).squareRoot())
        let stepSize = Float(-(lr / biasCorrection1))
        param.withUnsafeMutableBufferPointer { p in
            if wdDouble != 0 {
                if decoupledWeightDecay {
                    let factor = Float(1 - lr * wdDouble)
                    for i in g.indices { p[i] *= factor }
                } else {
                    let wd = Float(wdDouble)
                    for i in g.indices { g[i] += wd * p[i] }
                }
            }
            state["exp_avg"]!.withUnsafeMutableBufferPointer { m in
                state["exp_avg_sq"]!.withUnsafeMutableBufferPointer { v in
                    for i in g.indices {
                        m[i] = lerp(m[i], g[i], w1)
                        v[i] = v[i] * b2 + w2 * g[i] * g[i]
                    }
                    if amsgrad {
                        state["max_exp_avg_sq"]!.withUnsafeMutableBufferPointer { mv in
                            for i in g.indices {
                                mv[i] = max(mv[i], v[i])
                                p[i] += stepSize * (m[i] / (mv[i].squareRoot() / biasCorrection2Sqrt + eps))
                            }
                        }
                    } else {
                        for i in g.indices { p[i] += stepSize * (m[i] / (v[i].squareRoot() / biasCorrection2Sqrt + eps)) }
                    }
                }
            }
        }
    }
}

/// Adam with decoupled weight decay (`torch.optim.AdamW`): `p = p·(1 − lr·wd)` before the Adam step,
/// instead of adding `wd·p` to the gradient. Default weight decay 0.01.
public final class AdamW: Adam {
    public override init(_ groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false,
                file: StaticString = #fileID, line: UInt = #line) {
        super.init(decoupled: groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                   maximize: maximize, file: file, line: line)
    }

    public convenience init(_ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, file: file, line: line)
    }

    /// `AdamW(params: model.parameters(), lr: 1e-3)`, as `optim.AdamW(params=..., lr=...)`.
    public convenience init(params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, file: file, line: line)
    }

    /// Parameter groups labelled as in PyTorch.
    public convenience init(params: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                            weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init(params, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, file: file, line: line)
    }
}

/// PyTorch's `lerp` for Float: `a + w·(b − a)`, computed from the nearer end for accuracy.
@inline(__always)
func lerp(_ a: Float, _ b: Float, _ w: Float) -> Float {
    w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)
}
