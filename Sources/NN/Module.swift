import Foundation
import Torch

/// The base class of every layer and model (`torch.nn.Module`).
///
/// Subclasses declare parameters, buffers and submodules as properties (see `@Parameter`,
/// `@Buffer`, `@Child`) and override `forward(_:)`. Names follow PyTorch: a property's name (or the
/// key given to its wrapper), joined with dots (`layer1.0.conv1.weight`), in declaration order.
/// A plain stored property holding a module is also a child, but can be replaced only through the
/// property, not by name.
open class Module: CustomStringConvertible {
    /// Whether the module is in training mode (dropout active, batch norm using batch statistics).
    public private(set) var isTraining = true

    public init() {}

    /// The computation; subclasses override it.
    open func forward(_ input: Tensor) -> Tensor {
        engineFailure("forward", "\(typeName) does not override forward(_:)", file: #fileID, line: #line)
    }

    /// Runs `forward`, as calling a module does in PyTorch. The outermost call on a thread marks
    /// its module as the model being run, so layers can name themselves in warnings.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        ModelCall.run(self) { forward(input) }
    }

    /// Set once the model has printed the frozen-batch-norm warning (see `BatchNorm`).
    var hasWarnedAboutUntrainedStatistics = false

    /// The input width of this module's first `Linear` layer: PyTorch's `in_features`, so
    /// `model.fc.inFeatures` reads the same with `fc` typed `Module`
    /// (`model.fc = Linear(model.fc.inFeatures, 10)`). A `Linear` answers its own width; a module
    /// without any `Linear` stops with a message. `ResNet.featureCount` is the same number for a
    /// ResNet whatever its head. A custom module that knows its width overrides it with a computed
    /// property (`override var inFeatures: Int { width }`); a stored `let inFeatures` cannot.
    open var inFeatures: Int {
        guard let linear = modules().lazy.compactMap({ $0 as? Linear }).first else {
            engineFailure("inFeatures", "\(typeName) has no Linear layer, so no in_features (it is a property of nn.Linear)",
                          file: #fileID, line: #line)
        }
        return linear.inFeatures
    }

    /// The output width of this module's last `Linear` layer: PyTorch's `out_features`
    /// (`model.fc.outFeatures` is the number of classes). Stops with a message without a `Linear`.
    open var outFeatures: Int {
        guard let linear = modules().last(where: { $0 is Linear }) as? Linear else {
            engineFailure("outFeatures", "\(typeName) has no Linear layer, so no out_features (it is a property of nn.Linear)",
                          file: #fileID, line: #line)
        }
        return linear.outFeatures
    }

    // MARK: Discovery

    struct ChildEntry {
        let name: String
        let module: Module
        let slot: ChildSlot?
    }

    enum Entry {
        case parameter(String, ParameterSlot)
        case buffer(String, BufferSlot)
        case child(String, ChildSlot)
        case plainChild(String, Module)
    }

    /// Own slots in declaration order (superclass first). Containers override this.
    func entries() -> [Entry] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror {
            mirrors.append(m)
            mirror = m.superclassMirror
        }
        var result: [Entry] = []
        for m in mirrors.reversed() {
            for (label, value) in m.children {
                guard let label else { continue }
                let propertyName = label.hasPrefix("_") ? String(label.dropFirst()) : label
                switch value {
                case let slot as ParameterSlot: result.append(.parameter(slot.key ?? propertyName, slot))
                case let slot as BufferSlot: result.append(.buffer(slot.key ?? propertyName, slot))
                case let slot as ChildSlot: result.append(.child(slot.key ?? propertyName, slot))
                case let module as Module: result.append(.plainChild(label, module))
                default: continue
                }
            }
        }
        return result
    }

    /// Own (non-recursive) parameters with local names; nil ones skipped.
    func ownParameters() -> [(String, Tensor)] {
        entries().compactMap { if case .parameter(let n, let s) = $0, let t = s.tensor { return (n, t) } else { return nil } }
    }

    /// Own buffers with local names; nil ones skipped.
    func ownBuffers(persistentOnly: Bool = false) -> [(String, Tensor)] {
        entries().compactMap {
            if case .buffer(let n, let s) = $0, let t = s.tensor, !persistentOnly || s.persistent { return (n, t) }
            return nil
        }
    }

    func childEntries() -> [ChildEntry] {
        entries().compactMap {
            switch $0 {
            case .child(let n, let s): return s.module.map { ChildEntry(name: n, module: $0, slot: s) }
            case .plainChild(let n, let m): return ChildEntry(name: n, module: m, slot: nil)
            default: return nil
            }
        }
    }

    // MARK: Children and modules

    /// Direct submodules.
    public func children() -> [Module] { namedChildren().map(\.1) }

    /// Direct submodules with their names.
    public func namedChildren() -> [(String, Module)] { childEntries().map { ($0.name, $0.module) } }

    /// This module (named "") and every submodule, depth first, each once.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Module)] = []
        func visit(_ m: Module, _ name: String) {
            guard seen.insert(ObjectIdentifier(m)).inserted else { return }
            result.append((name, m))
            for (child, sub) in m.namedChildren() { visit(sub, name.isEmpty ? child : name + "." + child) }
        }
        visit(self, prefix)
        return result
    }

    /// This module and every submodule.
    public func modules() -> [Module] { namedModules().map(\.1) }

    /// The submodule at a dotted path (`"layer4.1.conv2"`), or nil; `""` is self.
    public func module(named path: String) -> Module? {
        if path.isEmpty { return self }
        var current: Module = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current.childEntries().first(where: { $0.name == part })?.module else { return nil }
            current = next
        }
        return current
    }

    /// Replaces the direct child `name` (which must be declared with `@Child`, or be a container's
    /// element) by `module`; the new module's type must fit the property's declared type.
    public func replaceChild(_ name: String, with module: Module?,
                             file: StaticString = #fileID, line: UInt = #line) {
        for entry in entries() {
            switch entry {
            case .child(let n, let slot) where n == name:
                guard slot.accepts(module) else {
                    engineFailure("replaceChild", "\(typeName).\(name) is declared as \(slot.typeName); cannot put "
                                  + "\(module.map { $0.typeName } ?? "nil") there", file: file, line: line)
                }
                slot.set(module)
                return
            case .plainChild(let n, _) where n == name:
                engineFailure("replaceChild", "\(typeName).\(name) is a plain stored property; declare it with @Child "
                              + "to replace it by name, or assign the property", file: file, line: line)
            default: continue
            }
        }
        let names = namedChildren().map(\.0)
        engineFailure("replaceChild", "\(typeName) has no child named \"\(name)\" (children: \(names.joined(separator: ", ")))",
                      file: file, line: line)
    }

    /// Replaces the submodule at a dotted path (`setModule("layer4.1", BasicBlock(...))`), as
    /// PyTorch's `set_submodule`.
    public func setModule(_ path: String, _ module: Module, file: StaticString = #fileID, line: UInt = #line) {
        var parts = path.split(separator: ".").map(String.init)
        guard let last = parts.popLast() else {
            engineFailure("setModule", "empty module path", file: file, line: line)
        }
        let parentPath = parts.joined(separator: ".")
        guard let parent = self.module(named: parentPath) else {
            engineFailure("setModule", "\(typeName) has no submodule \"\(parentPath)\"", file: file, line: line)
        }
        parent.replaceChild(last, with: module, file: file, line: line)
    }

    // MARK: Parameters and buffers

    /// Every parameter with its dotted name, each tensor once (shared parameters listed under
    /// their first name), in definition order.
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Tensor)] = []
        for (prefix, m) in namedModules() {
            for (n, t) in m.ownParameters() where seen.insert(ObjectIdentifier(t)).inserted {
                result.append((prefix.isEmpty ? n : prefix + "." + n, t))
            }
        }
        return result
    }

    /// Every parameter, in definition order.
    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Every buffer with its dotted name.
    public func namedBuffers() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Tensor)] = []
        for (prefix, m) in namedModules() {
            for (n, t) in m.ownBuffers() where seen.insert(ObjectIdentifier(t)).inserted {
                result.append((prefix.isEmpty ? n : prefix + "." + n, t))
            }
        }
        return result
    }

    /// Every buffer, in definition order.
    public func buffers() -> [Tensor] { namedBuffers().map(\.1) }

    /// Number of parameter elements.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Number of parameter elements that require a gradient.
    public var trainableParameterCount: Int {
        parameters().filter(\.requiresGrad).reduce(0) { $0 + $1.count }
    }

    /// Clears the gradient of every parameter.
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }

    /// Stops gradients for every parameter (`requires_grad_(False)`). Frozen batch-norm layers also
    /// keep their running statistics; see `BatchNorm`.
    @discardableResult
    public func freeze() -> Self {
        for p in parameters() { p.requiresGrad = false }
        return self
    }

    /// Sets `requiresGrad` on every parameter and returns the module: PyTorch's
    /// `model.requires_grad_(False)` is `model.requiresGrad(false)` (or `freeze()`).
    @discardableResult
    public func requiresGrad(_ requiresGrad: Bool = true) -> Self {
        for p in parameters() { p.requiresGrad = requiresGrad }
        return self
    }

    /// Makes every parameter trainable again.
    @discardableResult
    public func unfreeze() -> Self {
        for p in parameters() { p.requiresGrad = true }
        return self
    }

    // MARK: Modes

    /// Sets training mode on this module and all submodules.
    @discardableResult
    public func train(_ mode: Bool = true) -> Self {
        for m in modules() { m.isTraining = mode }
        return self
    }

    /// Sets evaluation mode (`train(false)`).
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Calls `body` on every submodule and then on self (PyTorch's `apply`, e.g. for initialisation).
    @discardableResult
    public func apply(_ body: (Module) -> Void) -> Self {
        for child in children() { child.apply(body) }
        body(self)
        return self
    }

    // MARK: Description

    /// The class name shown by `description`.
    open var typeName: String { String(describing: type(of: self)) }

    /// The layer's settings shown between the parentheses (PyTorch's `extra_repr`).
    open var extraDescription: String { "" }

    /// The module tree in the layout of PyTorch's `print(model)`.
    public var description: String {
        let extraLines = extraDescription.isEmpty ? [] : extraDescription.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let childLines = namedChildren().map { name, module in
            "(\(name)): " + module.description.replacingOccurrences(of: "\n", with: "\n  ")
        }
        var text = typeName + "("
        let lines = extraLines + childLines
        if !lines.isEmpty {
            if extraLines.count == 1 && childLines.isEmpty {
                text += extraLines[0]
            } else {
                text += "\n  " + lines.joined(separator: "\n  ") + "\n"
            }
        }
        return text + ")"
    }
}
