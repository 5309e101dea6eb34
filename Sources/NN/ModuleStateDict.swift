import Torch

/// A tensor whose shape in a state dict differs from the model's.
public struct ShapeMismatch: Equatable, CustomStringConvertible {
    public let key: String
    public let checkpointShape: [Int]
    public let modelShape: [Int]

    public var description: String {
        "size mismatch for \(key): copying a param with shape \(describe(shape: checkpointShape)) from checkpoint, "
            + "the shape in current model is \(describe(shape: modelShape))."
    }
}

/// What `loadStateDict` did: keys the model has but the dict lacks, keys the dict has but the model
/// lacks, and keys left alone because of a `skip` prefix.
public struct LoadResult: Equatable {
    public var missingKeys: [String] = []
    public var unexpectedKeys: [String] = []
    public var skippedKeys: [String] = []
    public var shapeMismatches: [ShapeMismatch] = []

    public init(missingKeys: [String] = [], unexpectedKeys: [String] = [], skippedKeys: [String] = [],
                shapeMismatches: [ShapeMismatch] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
        self.skippedKeys = skippedKeys
        self.shapeMismatches = shapeMismatches
    }
}

/// Why a state dict could not be loaded; nothing was loaded. The message lists every offending key,
/// in the form PyTorch uses.
public struct StateDictLoadError: Error, CustomStringConvertible {
    public let moduleName: String
    public let result: LoadResult
    public let strict: Bool

    public var description: String {
        var lines = ["Error(s) in loading state_dict for \(moduleName):"]
        func quoted(_ keys: [String]) -> String { keys.map { "\"\($0)\"" }.joined(separator: ", ") }
        if strict && !result.missingKeys.isEmpty { lines.append("\tMissing key(s) in state_dict: \(quoted(result.missingKeys)).") }
        if strict && !result.unexpectedKeys.isEmpty { lines.append("\tUnexpected key(s) in state_dict: \(quoted(result.unexpectedKeys)).") }
        for m in result.shapeMismatches { lines.append("\t\(m)") }
        if !result.shapeMismatches.isEmpty {
            lines.append("\t(to load a checkpoint into a new head, pass skip: [\"<head prefix>.\"] or replace the head after loading)")
        }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// Live state tensors (parameters, then persistent buffers, per module, recursively), as
    /// PyTorch's `state_dict` orders them.
    func stateEntries(prefix: String = "") -> [(String, Tensor)] {
        var result: [(String, Tensor)] = []
        for (n, t) in ownParameters() { result.append((prefix + n, t)) }
        for (n, t) in ownBuffers(persistentOnly: true) { result.append((prefix + n, t)) }
        for child in childEntries() { result += child.module.stateEntries(prefix: prefix + child.name + ".") }
        return result
    }

    /// Parameters and persistent buffers by dotted name, in PyTorch's order
    /// (`conv1.weight`, `bn1.weight`, `bn1.bias`, `bn1.running_mean`, ...).
    ///
    /// Unlike PyTorch, the tensors are snapshots: later training does not change a state dict
    /// taken earlier, so keeping "the best weights so far" needs no deep copy. (Copies are lazy:
    /// a value is duplicated only when the parameter is next updated.)
    public func stateDict() -> StateDict {
        StateDict(stateEntries().map { ($0.0, $0.1.detach()) })
    }

    /// Copies values from `dict` into this module's parameters and buffers (by name, in place).
    ///
    /// - Parameters:
    ///   - strict: when true, keys missing from `dict` or not in the model are errors; when false
    ///     they are reported in the result.
    ///   - skip: key prefixes to leave alone (e.g. `["fc."]` to keep a new classifier head).
    /// - Throws: `StateDictLoadError` naming every missing/unexpected key (strict) and every shape
    ///   mismatch (always, unless skipped). On error nothing is loaded.
    @discardableResult
    public func loadStateDict(_ dict: StateDict, strict: Bool = true, skip: [String] = []) throws -> LoadResult {
        let own = stateEntries()
        let ownKeys = Set(own.map(\.0))
        func skipped(_ key: String) -> Bool { skip.contains { key.hasPrefix($0) } }
        var result = LoadResult()
        var copies: [(Tensor, Tensor)] = []
        for (key, target) in own {
            if skipped(key) { result.skippedKeys.append(key); continue }
            guard let source = dict[key] else {
                // Checkpoints from old PyTorch versions lack this counter; PyTorch keeps the current value.
                if key == "num_batches_tracked" || key.hasSuffix(".num_batches_tracked") { continue }
                result.missingKeys.append(key)
                continue
            }
            if source.shape != target.shape {
                result.shapeMismatches.append(ShapeMismatch(key: key, checkpointShape: source.shape, modelShape: target.shape))
            } else {
                copies.append((target, source))
            }
        }
        for key in dict.keys where !ownKeys.contains(key) {
            if skipped(key) { result.skippedKeys.append(key) } else { result.unexpectedKeys.append(key) }
        }
        let strictFailure = strict && (!result.missingKeys.isEmpty || !result.unexpectedKeys.isEmpty)
        if strictFailure || !result.shapeMismatches.isEmpty {
            throw StateDictLoadError(moduleName: typeName, result: result, strict: strict)
        }
        withNoGrad {
            for (target, source) in copies { target.copy_(from: source) }
        }
        return result
    }
}
