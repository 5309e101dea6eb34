import CEngineSupport

/// The recorded backward step of one operation: given the gradient of the output, the gradients
/// of the inputs that need one. Inputs that do not need a gradient get `nil` and cost nothing.
public final class GradientFunction {
    /// Operation name, shown in error messages and `Tensor.description`.
    public let name: String
    /// The operation's tensor inputs, in order.
    public private(set) var inputs: [Tensor]
    /// `needsGradient[i]` tells the backward closure whether input `i` wants a gradient.
    public let needsGradient: [Bool]
    private var backwardBody: ((Tensor, [Bool]) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor, [Bool]) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.needsGradient = inputs.map(\.requiresGrad)
        self.backwardBody = backward
    }

    func apply(_ gradOutput: Tensor) -> [Tensor?] {
        guard let body = backwardBody else {
            engineFailure("backward", "the graph through \(name) was already freed by an earlier backward(); "
                          + "pass retainGraph: true to the first call to backward twice", file: #fileID, line: #line)
        }
        return body(gradOutput, needsGradient)
    }

    /// Drops saved tensors and input references so the graph's memory is released.
    func release() {
        backwardBody = nil
        inputs = []
    }
}

/// Global autograd switches.
public enum GradMode {
    /// Whether operations on this thread are recorded for autograd.
    public static var isEnabled: Bool {
        get { engine_grad_enabled() != 0 }
        set { engine_set_grad_enabled(newValue ? 1 : 0) }
    }
}

/// Runs `body` without recording any operation (PyTorch's `torch.no_grad()`): no graph is built
/// and no intermediate tensor is kept alive for a backward pass.
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = previous }
    return try body()
}

/// Runs `body` with autograd recording on, even inside a no-grad scope.
@discardableResult
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = true
    defer { GradMode.isEnabled = previous }
    return try body()
}

extension Tensor {
    /// Whether gradients flow to this tensor: set by the user on leaves, derived for results.
    public var requiresGrad: Bool {
        get { gradFn != nil || leafRequiresGrad }
        set {
            guard gradFn == nil else {
                engineFailure("requiresGrad", "can only be changed on leaf tensors; call detach() first",
                              file: #fileID, line: #line)
            }
            if newValue && dtype != .float32 {
                engineFailure("requiresGrad", "only Float32 tensors can require gradients, this one is \(dtype)",
                              file: #fileID, line: #line)
            }
            leafRequiresGrad = newValue
        }
    }

    /// Sets `requiresGrad` and returns self, for chaining (`requires_grad_()` in PyTorch).
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// True for tensors created by the user rather than by a recorded operation.
    public var isLeaf: Bool { gradFn == nil }

    /// A tensor with the same values and no autograd history.
    public func detach() -> Tensor {
        Tensor(shape: shape, dtype: dtype, storage: storage, int64Storage: int64Storage)
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Records `output` as produced by `name` from `inputs`, if autograd is on and any input needs
    /// a gradient. `backward` receives the output gradient and which inputs need gradients, and returns
    /// one gradient (or nil) per input, each shaped like that input.
    public static func record(_ output: Tensor, _ name: String, _ inputs: [Tensor],
                              backward: @escaping (Tensor, [Bool]) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.gradFn = GradientFunction(name: name, inputs: inputs, backward: backward)
        return output
    }

    /// Back-propagates from this tensor, accumulating into `.grad` of every leaf that requires it.
    ///
    /// - Parameters:
    ///   - gradient: d(something)/d(self); may be omitted for a one-element tensor (then 1).
    ///   - retainGraph: keep the graph so `backward` can be called through it again.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false,
                         file: StaticString = #fileID, line: UInt = #line) {
        guard requiresGrad else {
            engineFailure("backward", "tensor of shape \(describe(shape: shape)) does not require grad and has no grad_fn",
                          file: file, line: line)
        }
        let seed: Tensor
        if let gradient {
            check(gradient.shape == shape, "backward", "gradient shape \(describe(shape: gradient.shape)) does not match tensor shape \(describe(shape: shape))",
                  file: file, line: line)
            seed = gradient
        } else {
            check(count == 1, "backward", "grad can be implicitly created only for one-element outputs, got shape \(describe(shape: shape))",
                  file: file, line: line)
            seed = Tensor(shape: shape, dtype: .float32, storage: [1], int64Storage: [])
        }
        withNoGrad { Tensor.runBackward(from: self, seed: seed, retainGraph: retainGraph) }
    }

    private static func runBackward(from root: Tensor, seed: Tensor, retainGraph: Bool) {
        // Topological order of the non-leaf tensors reachable from root (iterative DFS: ResNet-152
        // graphs are deep enough to overflow a recursive walk's stack).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(root, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            let id = ObjectIdentifier(tensor)
            if visited.contains(id) { continue }
            visited.insert(id)
            guard let fn = tensor.gradFn else { continue }
            stack.append((tensor, true))
            for input in fn.inputs where input.gradFn != nil && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        // Reverse topological order. Popping drops this walk's reference to each intermediate
        // tensor as soon as its backward ran, so its activation memory can go while the rest of
        // the backward pass still runs (holding them all until the end raised the peak).
        while let tensor = order.popLast() {
            guard let fn = tensor.gradFn else { continue }
            guard let gradOut = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
            let grads = fn.apply(gradOut)
            for (input, grad) in zip(fn.inputs, grads) {
                guard let grad, input.requiresGrad else { continue }
                if input.gradFn != nil {
                    let key = ObjectIdentifier(input)
                    if var existing = pending.removeValue(forKey: key) {
                        // One gradient object may have been handed to several inputs: add in place
                        // only into an object nobody else holds (its storage is copy-on-write too).
                        if isKnownUniquelyReferenced(&existing) {
                            existing.addUnrecordedInPlace(grad)
                            pending[key] = existing
                        } else {
                            pending[key] = existing.addingUnrecorded(grad)
                        }
                    } else {
                        pending[key] = grad
                    }
                } else {
                    input.accumulateGrad(grad)
                }
            }
            if !retainGraph { fn.release() }
        }
        if root.gradFn == nil, root.leafRequiresGrad { root.accumulateGrad(seed) }
    }

    private func accumulateGrad(_ g: Tensor) {
        if let existing = grad {
            grad = existing.addingUnrecorded(g)
        } else {
            // Own a private copy: the incoming gradient may be shared with other branches.
            grad = g.detach()
        }
    }

    /// `self += other` for same-shaped gradients, without recording.
    func addUnrecordedInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "gradient shapes differ: \(shape) vs \(other.shape)")
        let n = count
        storage.withUnsafeMutableBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                guard let x = a.baseAddress, let y = b.baseAddress else { return }
                Threads.parallelFor(n) { r in
                    vectorAdd(x + r.lowerBound, y + r.lowerBound, x + r.lowerBound, r.count, reLU: false)
                }
            }
        }
    }

    /// `self + other` for same-shaped gradients, without recording.
    func addingUnrecorded(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "gradient shapes differ: \(shape) vs \(other.shape)")
        return Tensor.make(shape: shape) { out in
            storage.withUnsafeBufferPointer { a in
                other.storage.withUnsafeBufferPointer { b in
                    guard let x = a.baseAddress, let y = b.baseAddress, let o = out.baseAddress else { return }
                    Threads.parallelFor(out.count) { r in
                        vectorAdd(x + r.lowerBound, y + r.lowerBound, o + r.lowerBound, r.count, reLU: false)
                    }
                }
            }
        }
    }
}

