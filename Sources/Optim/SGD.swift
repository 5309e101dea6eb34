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
        var buffer = state["momentum_buffer"]
        let firstStep = momentum != 0 && buffer == nil
        if firstStep {
            buffer = Tensor.zeros(param.shape)
            state["momentum_buffer"] = buffer
        }
        // One pass over memory: blocks of 512 elements go through the steps above in a buffer that
        // stays in L1, each step a plain loop the compiler vectorizes (the same operations in the same
        // order as one element at a time, so the same bits); blocks are split across threads.
        grad.withUnsafeBufferPointer { pg in
            param.withUnsafeMutableBufferPointer { pp in
                withOptionalMutablePointer(momentum != 0 ? buffer : nil) { pb in
                    let g = pg.baseAddress!, p = pp.baseAddress!
                    Threads.parallelFor(pp.count, costPerItem: 4) { range in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: 512) { scratch in
                            let d = scratch.baseAddress!
                            var start = range.lowerBound
                            while start < range.upperBound {
                                let m = min(512, range.upperBound - start)
                                let gs = g + start, ps = p + start
                                if maximize { for i in 0..<m { d[i] = -gs[i] } } else { d.update(from: gs, count: m) }
                                if wd != 0 { for i in 0..<m { d[i] += wd * ps[i] } }
                                if let b = pb.map({ $0 + start }) {
                                    if firstStep { b.update(from: d, count: m) } else {
                                        for i in 0..<m { b[i] = b[i] * momentum + keep * d[i] }
                                    }
                                    if nesterov { for i in 0..<m { d[i] += momentum * b[i] } } else { d.update(from: b, count: m) }
                                }
                                for i in 0..<m { ps[i] += lr * d[i] }
                                start += m
                            }
                        }
                    }
                }
            }
        }
    }
}
