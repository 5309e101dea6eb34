import NN
import Torch

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay
/// (`torch.optim.SGD`), in PyTorch's order of operations:
///
///     d = g + wd·p;  b = d (first step) or μ·b + (1 − dampening)·d;
///     d = d + μ·b (Nesterov) or b;  p = p − lr·d
public final class SGD: Optimizer {
    public init(_ groups: [ParamGroup], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false,
                file: StaticString = #fileID, line: UInt = #line) {
        super.init(groups, defaults: ["lr": .double(lr), "momentum": .double(momentum), "dampening": .double(dampening),
                                      "weight_decay": .double(weightDecay), "nesterov": .bool(nesterov), "maximize": .bool(maximize)],
                   file: file, line: line)
    }

    /// One group: `SGD(model.parameters(), lr: 0.01, momentum: 0.9)`.
    public convenience init(_ params: [Tensor], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                  nesterov: nesterov, maximize: maximize, file: file, line: line)
    }

    public override func validate(_ group: ParamGroup) throws {
        try super.validate(group)
        if group.momentum < 0 { throw OptimizerError(message: "invalid momentum value: \(group.momentum)") }
        if group.weightDecay < 0 { throw OptimizerError(message: "invalid weight_decay value: \(group.weightDecay)") }
        if group.bool("nesterov") && (group.momentum <= 0 || group.double("dampening") != 0) {
            throw OptimizerError(message: "Nesterov momentum requires a momentum and zero dampening")
        }
    }

    public override func update(_ param: Tensor, grad: Tensor, group: ParamGroup, state: ParameterState) {
        let lr = Float(-group.lr), wd = Float(group.weightDecay), momentum = Float(group.momentum)
        let keep = Float(1 - group.double("dampening"))
        let nesterov = group.bool("nesterov"), maximize = group.bool("maximize")
        var d = grad.scalars
        if maximize { for i in d.indices { d[i] = -d[i] } }
        param.withUnsafeMutableBufferPointer { p in
            if wd != 0 { for i in d.indices { d[i] += wd * p[i] } }
            if momentum != 0 {
                if let buffer = state["momentum_buffer"] {
                    buffer.withUnsafeMutableBufferPointer { b in
                        for i in d.indices { b[i] = b[i] * momentum + keep * d[i] }
                        if nesterov { for i in d.indices { d[i] += momentum * b[i] } } else { for i in d.indices { d[i] = b[i] } }
                    }
                } else {
                    let buffer = Tensor(shape: param.shape, scalars: d)
                    state["momentum_buffer"] = buffer
                    if nesterov { for i in d.indices { d[i] += momentum * d[i] } }
                }
            }
            for i in d.indices { p[i] += lr * d[i] }
        }
    }
}
