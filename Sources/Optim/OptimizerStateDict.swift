import Foundation
import NN
import Torch

/// An optimizer's state in PyTorch's layout: per-parameter state tensors keyed by the parameter's
/// index across all groups (`state[3]["momentum_buffer"]`), and each group's hyper-parameters with
/// `"params"` listing its indices. Saving it with the model lets training resume bit-identically.
public struct OptimizerStateDict {
    public var state: [Int: [(String, Tensor)]]
    public var paramGroups: [[String: OptimizerValue]]

    public init(state: [Int: [(String, Tensor)]], paramGroups: [[String: OptimizerValue]]) {
        self.state = state
        self.paramGroups = paramGroups
    }

    /// Tensors as a flat state dict (`state.0.momentum_buffer`, ...) plus the groups as JSON, for
    /// formats that hold only named tensors and string metadata (safetensors).
    public func flattened() throws -> (tensors: StateDict, metadata: String) {
        var tensors = StateDict()
        for index in state.keys.sorted() {
            for (name, t) in state[index]! { tensors["state.\(index).\(name)"] = t }
        }
        let data = try JSONEncoder().encode(paramGroups)
        return (tensors, String(decoding: data, as: UTF8.self))
    }

    /// The inverse of `flattened()`.
    public init(tensors: StateDict, metadata: String) throws {
        paramGroups = try JSONDecoder().decode([[String: OptimizerValue]].self, from: Data(metadata.utf8))
        state = [:]
        for (key, t) in tensors {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "state", let index = Int(parts[1]) else {
                throw OptimizerError(message: "unexpected optimizer state key \"\(key)\" (expected state.<index>.<name>)")
            }
            state[index, default: []].append((parts[2], t))
        }
    }
}

extension Optimizer {
    /// A snapshot of the optimizer's state (tensors are copies, unaffected by later steps).
    public func stateDict() -> OptimizerStateDict {
        var state: [Int: [(String, Tensor)]] = [:]
        var groups: [[String: OptimizerValue]] = []
        var index = 0
        for group in paramGroups {
            var values = group.values
            var indices: [Int] = []
            for p in group.params {
                if let s = states[ObjectIdentifier(p)], !s.isEmpty {
                    state[index] = s.entries.map { ($0.0, $0.1.detach()) }
                }
                indices.append(index)
                index += 1
            }
            values["params"] = .ints(indices)
            groups.append(values)
        }
        return OptimizerStateDict(state: state, paramGroups: groups)
    }

    /// Restores hyper-parameters and per-parameter state saved by `stateDict()` from an optimizer
    /// built over the same parameters in the same order.
    /// - Throws: `OptimizerError` if the group count or sizes, or a state tensor's shape, differ.
    public func loadStateDict(_ dict: OptimizerStateDict) throws {
        guard dict.paramGroups.count == paramGroups.count else {
            throw OptimizerError(message: "loaded state dict has \(dict.paramGroups.count) parameter groups, the optimizer has \(paramGroups.count)")
        }
        var indexToParam: [Int: Tensor] = [:]
        for (gi, saved) in dict.paramGroups.enumerated() {
            guard case .ints(let indices)? = saved["params"], indices.count == paramGroups[gi].params.count else {
                throw OptimizerError(message: "loaded parameter group \(gi) does not match the size of the optimizer's group "
                                     + "(\(paramGroups[gi].params.count) parameters)")
            }
            for (i, p) in zip(indices, paramGroups[gi].params) { indexToParam[i] = p }
        }
        var newStates: [ObjectIdentifier: ParameterState] = [:]
        for (index, entries) in dict.state {
            guard let p = indexToParam[index] else {
                throw OptimizerError(message: "loaded state refers to parameter index \(index), which no group lists")
            }
            let s = ParameterState()
            for (name, t) in entries {
                if t.rank > 0 && t.shape != p.shape {
                    throw OptimizerError(message: "loaded state \"\(name)\" of parameter \(index) has shape \(describe(shape: t.shape)), "
                                         + "the parameter has shape \(describe(shape: p.shape))")
                }
                let copy = Tensor.zeros(t.shape)
                copy.copy_(from: t)
                s[name] = copy
            }
            newStates[ObjectIdentifier(p)] = s
        }
        for (gi, saved) in dict.paramGroups.enumerated() {
            for (k, v) in saved where k != "params" { paramGroups[gi].values[k] = v }
        }
        states = newStates
    }
}
