import NN
import Torch

/// RMSprop (`torch.optim.RMSprop`):
///
///     s = α·s + (1 − α)·g²;  (centered: ḡ = lerp(ḡ, g, 1 − α), avg = √(s − ḡ²)) else avg = √s
///     avg = avg + ε;  momentum: b = μ·b + g/avg, p = p − lr·b;  otherwise p = p − lr·g/avg
public final class RMSprop: Optimizer {
    public init(_ groups: [ParamGroup], lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0,
                momentum: Double = 0, centered: Bool = false, maximize: Bool = false,
                file: StaticString = #fileID, line: UInt = #line) {
        super.init(groups, defaults: ["lr": .double(lr), "alpha": .double(alpha), "eps": .double(eps),
                                      "weight_decay": .double(weightDecay), "momentum": .double(momentum),
                                      "centered": .bool(centered), "maximize": .bool(maximize)], file: file, line: line)
    }

    public convenience init(_ params: [Tensor], lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
                            weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum,
                  centered: centered, maximize: maximize, file: file, line: line)
    }

    public override func validate(_ group: ParamGroup) throws {
        try super.validate(group)
        if group.double("alpha") < 0 { throw OptimizerError(message: "invalid alpha value: \(group.double("alpha"))") }
        if group.momentum < 0 { throw OptimizerError(message: "invalid momentum value: \(group.momentum)") }
        if group.weightDecay < 0 { throw OptimizerError(message: "invalid weight_decay value: \(group.weightDecay)") }
    }

    public override func update(_ param: Tensor, grad: Tensor, group: ParamGroup, state: ParameterState) {
        let lr = Float(-group.lr), wd = Float(group.weightDecay), momentum = Float(group.momentum)
        let alphaD = group.double("alpha"), alpha = Float(alphaD), oneMinusAlpha = Float(1 - alphaD)
        let eps = Float(group.double("eps")), centered = group.bool("centered")
        if state.isEmpty {
            state["step"] = Tensor(0)
            state["square_avg"] = zerosLike(param)
            if momentum > 0 { state["momentum_buffer"] = zerosLike(param) }
            if centered { state["grad_avg"] = zerosLike(param) }
        }
        state["step"]!.withUnsafeMutableBufferPointer { $0[0] += 1 }
        var g = grad.scalars
        if group.bool("maximize") { for i in g.indices { g[i] = -g[i] } }
        param.withUnsafeMutableBufferPointer { p in
            if wd != 0 { for i in g.indices { g[i] += wd * p[i] } }
            var avg = [Float](repeating: 0, count: g.count)
            state["square_avg"]!.withUnsafeMutableBufferPointer { s in
                for i in g.indices { s[i] = s[i] * alpha + oneMinusAlpha * g[i] * g[i] }
                if centered {
                    state["grad_avg"]!.withUnsafeMutableBufferPointer { ga in
                        for i in g.indices {
                            ga[i] = lerp(ga[i], g[i], oneMinusAlpha)
                            avg[i] = (s[i] + -1 * ga[i] * ga[i]).squareRoot() + eps
                        }
                    }
                } else {
                    for i in g.indices { avg[i] = s[i].squareRoot() + eps }
                }
            }
            if momentum > 0 {
                state["momentum_buffer"]!.withUnsafeMutableBufferPointer { b in
                    for i in g.indices {
                        b[i] = b[i] * momentum + g[i] / avg[i]
                        p[i] += lr * b[i]
                    }
                }
            } else {
                for i in g.indices { p[i] += lr * (g[i] / avg[i]) }
            }
        }
    }
}
