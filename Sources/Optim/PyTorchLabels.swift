import NN
import Torch

// torchvision tutorials pass the parameters by keyword (`optim.SGD(params=model.parameters(),
// lr=0.01)`), so each optimizer also takes them labelled `params:`, as parameters or as groups.
// Adam's and AdamW's are in Adam.swift (AdamW overrides them with its own defaults).
// PyTorch's dict groups (`[{"params": ..., "lr": 1e-3}]`) are `ParamGroup(params:lr:)` here.

extension SGD {
    /// `SGD(params: model.parameters(), lr: 0.01, momentum: 0.9)`, as `optim.SGD(params=..., lr=...)`.
    public convenience init(params: [Tensor], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                  nesterov: nesterov, maximize: maximize, file: file, line: line)
    }

    /// Parameter groups labelled as in PyTorch: `SGD(params: [ParamGroup(params: ..., lr: 1e-2), ...], lr: 1e-3)`.
    public convenience init(params: [ParamGroup], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init(params, lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                  nesterov: nesterov, maximize: maximize, file: file, line: line)
    }
}

extension RMSprop {
    /// `RMSprop(params: model.parameters(), lr: 1e-2)`, as `optim.RMSprop(params=..., lr=...)`.
    public convenience init(params: [Tensor], lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
                            weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init([ParamGroup(params: params)], lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum,
                  centered: centered, maximize: maximize, file: file, line: line)
    }

    /// Parameter groups labelled as in PyTorch.
    public convenience init(params: [ParamGroup], lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
                            weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false, maximize: Bool = false,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init(params, lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum,
                  centered: centered, maximize: maximize, file: file, line: line)
    }
}
