import NN
import Torch

/// Why a parameter group or optimizer state was rejected.
public struct OptimizerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Per-parameter optimizer state: named tensors (`momentum_buffer`, `exp_avg`, `step`, ...) in
/// insertion order, as in PyTorch's `optimizer.state[p]`.
public final class ParameterState {
    public private(set) var entries: [(String, Tensor)] = []

    public subscript(key: String) -> Tensor? {
        get { entries.first { $0.0 == key }?.1 }
        set {
            if let i = entries.firstIndex(where: { $0.0 == key }) {
                if let newValue { entries[i].1 = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }
}

/// The base of all optimizers (`torch.optim.Optimizer`): parameter groups with their own
/// hyper-parameters, per-parameter state, `zeroGrad()`, `step()` and state save/load.
///
/// A parameter whose `grad` is nil at `step()` (frozen, or unused by the loss) is skipped entirely:
/// no momentum or statistics update, no weight decay.
open class Optimizer {
    /// The groups; change `paramGroups[i].lr` (or let a scheduler do it) to change a learning rate.
    public var paramGroups: [ParamGroup] = []
    /// Hyper-parameters used for keys a group leaves unset.
    public let defaults: [String: OptimizerValue]
    var states: [ObjectIdentifier: ParameterState] = [:]

    /// Traps with a message naming the parameter if one appears twice.
    public init(_ groups: [ParamGroup], defaults: [String: OptimizerValue], file: StaticString = #fileID, line: UInt = #line) {
        self.defaults = defaults
        if groups.isEmpty || groups.allSatisfy({ $0.params.isEmpty }) {
            engineFailure(String(describing: type(of: self)), "optimizer got an empty parameter list", file: file, line: line)
        }
        for g in groups {
            do { try addParamGroup(g) } catch {
                engineFailure(String(describing: type(of: self)), "\(error)", file: file, line: line)
            }
        }
    }

    /// Adds a group (e.g. a newly unfrozen block); unset hyper-parameters take the defaults.
    /// - Throws: `OptimizerError` if a parameter is already in a group, or appears twice in this one.
    public func addParamGroup(_ group: ParamGroup) throws {
        var seen: [ObjectIdentifier: (group: Int, index: Int)] = [:]
        for (gi, g) in paramGroups.enumerated() {
            for (pi, p) in g.params.enumerated() { seen[ObjectIdentifier(p)] = (gi, pi) }
        }
        let newIndex = paramGroups.count
        for (pi, p) in group.params.enumerated() {
            if let previous = seen[ObjectIdentifier(p)] {
                let place = previous.group == newIndex ? "earlier in the same group (index \(previous.index))"
                    : "in parameter group \(previous.group) (\(paramGroups[previous.group].name(of: previous.index)))"
                throw OptimizerError(message: "parameter \(group.name(of: pi)) of parameter group \(newIndex) appears more than once: "
                                     + "it is also \(place); each parameter may belong to one group only")
            }
            if p.dtype != .float32 || !p.isLeaf {
                throw OptimizerError(message: "parameter \(group.name(of: pi)) of parameter group \(newIndex) is not a Float32 leaf tensor")
            }
            seen[ObjectIdentifier(p)] = (newIndex, pi)
        }
        var g = group
        for (k, v) in defaults where g.values[k] == nil { g.values[k] = v }
        try validate(g)
        paramGroups.append(g)
    }

    /// Checks a group's hyper-parameters; subclasses override to reject bad values.
    open func validate(_ group: ParamGroup) throws {
        if group.lr < 0 { throw OptimizerError(message: "invalid learning rate: \(group.lr)") }
    }

    /// Clears the gradients of every parameter (set to nil, PyTorch's default `set_to_none=True`).
    public func zeroGrad() {
        for g in paramGroups { for p in g.params { p.grad = nil } }
    }

    /// One update of every parameter that has a gradient.
    open func step() {
        withNoGrad {
            for gi in paramGroups.indices {
                let group = paramGroups[gi]
                for p in group.params {
                    guard let grad = p.grad else { continue }
                    update(p, grad: grad, group: group, state: state(for: p))
                }
            }
        }
    }

    /// Updates one parameter in place; subclasses implement their rule here.
    open func update(_ param: Tensor, grad: Tensor, group: ParamGroup, state: ParameterState) {
        engineFailure("step", "\(type(of: self)) does not implement update(_:grad:group:state:)", file: #fileID, line: #line)
    }

    /// The state of one parameter (created empty on first use).
    public func state(for param: Tensor) -> ParameterState {
        if let s = states[ObjectIdentifier(param)] { return s }
        let s = ParameterState()
        states[ObjectIdentifier(param)] = s
        return s
    }

    /// All parameters, in group order (the indices used by `stateDict()`).
    var allParams: [Tensor] { paramGroups.flatMap(\.params) }
}

/// A zero tensor shaped like `t`, for fresh optimizer state.
func zerosLike(_ t: Tensor) -> Tensor { Tensor.zeros(t.shape) }
