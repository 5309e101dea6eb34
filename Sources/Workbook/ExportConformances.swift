// Answers an exercise can ask for that need both the runtime and the engine's higher layers.

extension Module: AnswerConvertible {
    /// Parameter names, shapes and `requiresGrad` flags: what freezing exercises are graded on.
    public var answer: Answer { .model(parameters: namedParameters()) }
}

extension Optimizer {
    /// The optimizer's parameter groups with each parameter named after its place in `model`,
    /// and each group's numeric hyper-parameters (lr, weight decay, momentum, ...).
    public func answer(namingParametersOf model: Module) -> Answer {
        let groups = paramGroups.map { group -> (params: [Tensor], options: [String: Double]) in
            var options: [String: Double] = [:]
            for (key, value) in group.values {
                if let d = value.doubleValue { options[key] = d }
            }
            return (group.params, options)
        }
        return .parameterGroups(groups, names: model.namedParameters())
    }
}

/// Exports an optimizer's parameter groups, naming parameters after `model`'s.
public func export(_ name: String, _ optimizer: Optimizer, model: Module) {
    export(name, optimizer.answer(namingParametersOf: model))
}
