import Torch

// Modules declare their state with three property wrappers, found in declaration order with
// `Mirror` (superclass first), which gives PyTorch's definition order for names and state dicts:
//
//     final class Net: Module {
//         @Parameter var weight: Tensor
//         @Buffer("running_mean") var runningMean = Tensor.zeros([10])
//         @Child var fc: Module = Linear(512, 10)
//     }
//
// A property whose key is given (`@Buffer("running_mean")`) cannot be initialised by assignment in
// `init` (a Swift rule for wrapper attributes with arguments): give it an initial value, or assign
// the backing store, `_runningMean = Buffer(wrappedValue: t, "running_mean")`.
//
// Each wrapper is a small reference box, so a slot found by name (`replaceChild`, `loadStateDict`)
// and the Swift property always see the same value.

/// What a `@Parameter`/`@Buffer` property may hold: `Tensor` or `Tensor?`.
public protocol TensorSlotValue {
    var slotTensor: Tensor? { get }
    static func fromSlot(_ tensor: Tensor?) -> Self
}

extension Tensor: TensorSlotValue {
    public var slotTensor: Tensor? { self }
    public static func fromSlot(_ tensor: Tensor?) -> Tensor { tensor! }
}

extension Optional: TensorSlotValue where Wrapped == Tensor {
    public var slotTensor: Tensor? { self }
    public static func fromSlot(_ tensor: Tensor?) -> Tensor? { tensor }
}

/// What a `@Child` property may hold: a module type or an optional one.
public protocol ModuleSlotValue {
    var slotModule: Module? { get }
    static func fromSlot(_ module: Module?) -> Self
    static func accepts(_ module: Module?) -> Bool
    static var slotTypeName: String { get }
}

extension Module: ModuleSlotValue {
    public var slotModule: Module? { self }
    public static func fromSlot(_ module: Module?) -> Self { module as! Self }
    public static func accepts(_ module: Module?) -> Bool { module is Self }
    public static var slotTypeName: String { String(describing: self) }
}

extension Optional: ModuleSlotValue where Wrapped: Module {
    public var slotModule: Module? { self }
    public static func fromSlot(_ module: Module?) -> Wrapped? { module.map { $0 as! Wrapped } }
    public static func accepts(_ module: Module?) -> Bool { module == nil || module is Wrapped }
    public static var slotTypeName: String { String(describing: Wrapped.self) + "?" }
}

/// Type-erased views of the boxes, for discovery.
protocol ParameterSlot: AnyObject {
    var key: String? { get }
    var tensor: Tensor? { get set }
}

protocol BufferSlot: AnyObject {
    var key: String? { get }
    var tensor: Tensor? { get set }
    var persistent: Bool { get }
}

protocol ChildSlot: AnyObject {
    var key: String? { get }
    var module: Module? { get }
    var typeName: String { get }
    func accepts(_ module: Module?) -> Bool
    func set(_ module: Module?)
}

/// A learnable tensor of a module (`nn.Parameter`): a leaf that requires a gradient, listed by
/// `parameters()` and saved in `stateDict()`. `@Parameter("name")` sets the PyTorch key when it
/// differs from the Swift property name. Assigning a tensor makes it a parameter: a leaf (history is
/// detached) that requires a gradient.
@propertyWrapper
public final class Parameter<Value: TensorSlotValue>: ParameterSlot {
    let key: String?
    var tensor: Tensor?

    public init(wrappedValue: Value, _ name: String? = nil) {
        key = name
        tensor = Parameter.asParameter(wrappedValue.slotTensor)
    }

    public var wrappedValue: Value {
        get { Value.fromSlot(tensor) }
        set { tensor = Parameter.asParameter(newValue.slotTensor) }
    }

    static func asParameter(_ t: Tensor?) -> Tensor? {
        guard let t else { return nil }
        let leaf = t.isLeaf ? t : t.detach()
        if leaf.dtype == .float32 { leaf.requiresGrad = true }
        return leaf
    }
}

/// A tensor of module state that is not learned (`register_buffer`): running statistics, counters.
/// Saved in `stateDict()` unless `persistent` is false; `@Buffer("running_mean")` sets the PyTorch key.
@propertyWrapper
public final class Buffer<Value: TensorSlotValue>: BufferSlot {
    let key: String?
    let persistent: Bool
    var tensor: Tensor?

    public init(wrappedValue: Value, _ name: String? = nil, persistent: Bool = true) {
        key = name
        self.persistent = persistent
        tensor = wrappedValue.slotTensor
    }

    public var wrappedValue: Value {
        get { Value.fromSlot(tensor) }
        set { tensor = newValue.slotTensor }
    }
}

/// A submodule (`self.fc = nn.Linear(...)` in PyTorch). Declaring children with `@Child` lets them be
/// replaced by name as well as by property (`model.replaceChild("fc", with: Linear(512, 10))`).
/// A nil optional child is skipped, as PyTorch skips `self.downsample = None`.
@propertyWrapper
public final class Child<Value: ModuleSlotValue>: ChildSlot {
    let key: String?
    var module: Module?

    public init(wrappedValue: Value, _ name: String? = nil) {
        key = name
        module = wrappedValue.slotModule
    }

    public var wrappedValue: Value {
        get { Value.fromSlot(module) }
        set { module = newValue.slotModule }
    }

    var typeName: String { Value.slotTypeName }
    func accepts(_ module: Module?) -> Bool { Value.accepts(module) }
    func set(_ module: Module?) { self.module = module }
}
