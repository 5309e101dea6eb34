import NN
import Torch

/// A set of parameters sharing hyper-parameters (PyTorch's `param_groups` entries): e.g. a small
/// learning rate for a pretrained backbone and a larger one for a new head.
///
///     let optimizer = SGD([ParamGroup(params: backbone.parameters(), lr: 1e-4),
///                          ParamGroup(params: model.fc.parameters())], lr: 1e-2, momentum: 0.9)
///
/// Hyper-parameters left nil take the optimizer's defaults. Values are stored under PyTorch's keys
/// (`"lr"`, `"weight_decay"`, `"betas"`, ...), reachable by subscript and by typed properties.
public struct ParamGroup {
    public var params: [Tensor]
    /// Optional names of `params` (e.g. from `namedParameters()`), used in error messages.
    public var paramNames: [String]?
    public internal(set) var values: [String: OptimizerValue] = [:]

    public init(params: [Tensor], lr: Double? = nil, weightDecay: Double? = nil, momentum: Double? = nil,
                dampening: Double? = nil, nesterov: Bool? = nil, betas: (Double, Double)? = nil, eps: Double? = nil,
                alpha: Double? = nil, centered: Bool? = nil, amsgrad: Bool? = nil, maximize: Bool? = nil) {
        self.params = params
        if let lr { values["lr"] = .double(lr) }
        if let weightDecay { values["weight_decay"] = .double(weightDecay) }
        if let momentum { values["momentum"] = .double(momentum) }
        if let dampening { values["dampening"] = .double(dampening) }
        if let nesterov { values["nesterov"] = .bool(nesterov) }
        if let betas { values["betas"] = .pair(betas.0, betas.1) }
        if let eps { values["eps"] = .double(eps) }
        if let alpha { values["alpha"] = .double(alpha) }
        if let centered { values["centered"] = .bool(centered) }
        if let amsgrad { values["amsgrad"] = .bool(amsgrad) }
        if let maximize { values["maximize"] = .bool(maximize) }
    }

    /// A group of named parameters (`ParamGroup(namedParams: model.fc.namedParameters(), lr: 0.01)`).
    public init(namedParams: [(String, Tensor)], lr: Double? = nil, weightDecay: Double? = nil, momentum: Double? = nil,
                betas: (Double, Double)? = nil) {
        self.init(params: namedParams.map(\.1), lr: lr, weightDecay: weightDecay, momentum: momentum, betas: betas)
        paramNames = namedParams.map(\.0)
    }

    /// A hyper-parameter by PyTorch key.
    public subscript(key: String) -> OptimizerValue? {
        get { values[key] }
        set { values[key] = newValue }
    }

    func double(_ key: String) -> Double {
        guard let v = values[key]?.doubleValue else {
            engineFailure("ParamGroup", "this parameter group has no numeric \"\(key)\" (keys: \(values.keys.sorted().joined(separator: ", ")))",
                          file: #fileID, line: #line)
        }
        return v
    }

    func bool(_ key: String) -> Bool {
        if case .bool(let b)? = values[key] { return b }
        return false
    }

    public var lr: Double {
        get { double("lr") }
        set { values["lr"] = .double(newValue) }
    }
    public var weightDecay: Double {
        get { double("weight_decay") }
        set { values["weight_decay"] = .double(newValue) }
    }
    /// SGD/RMSprop momentum (Adam-family groups have `betas` instead).
    public var momentum: Double {
        get { double("momentum") }
        set { values["momentum"] = .double(newValue) }
    }
    public var betas: (Double, Double) {
        get {
            guard case .pair(let a, let b)? = values["betas"] else {
                engineFailure("ParamGroup", "this parameter group has no betas", file: #fileID, line: #line)
            }
            return (a, b)
        }
        set { values["betas"] = .pair(newValue.0, newValue.1) }
    }
    /// The learning rate a scheduler started from (`initial_lr`), once a scheduler is attached.
    public var initialLr: Double? {
        get { values["initial_lr"]?.doubleValue }
        set { values["initial_lr"] = newValue.map { .double($0) } }
    }

    func name(of index: Int) -> String {
        if let names = paramNames, names.indices.contains(index) { return "\"\(names[index])\"" }
        return "#\(index) (shape \(describe(shape: params[index].shape)))"
    }
}
