import Torch

/// An indexable list of submodules named "0", "1", ... (`nn.ModuleList`); it has no `forward`.
open class ModuleList: Module {
    var slots: [Child<Module>] = []

    public init(_ modules: [Module]) {
        super.init()
        for m in modules { append(m) }
    }

    public convenience override init() { self.init([]) }

    /// Indexed children after any declared by a subclass.
    override func entries() -> [Entry] {
        super.entries() + slots.enumerated().map { .child(String($0.offset), $0.element) }
    }

    /// Number of modules.
    public var count: Int { slots.count }

    /// The module at `index`; setting replaces it (and its entry in names and state dicts).
    public subscript(index: Int) -> Module {
        get {
            guard slots.indices.contains(index) else {
                engineFailure(typeName, "index \(index) is out of range for \(slots.count) modules", file: #fileID, line: #line)
            }
            return slots[index].wrappedValue
        }
        set {
            guard slots.indices.contains(index) else {
                engineFailure(typeName, "index \(index) is out of range for \(slots.count) modules", file: #fileID, line: #line)
            }
            slots[index].wrappedValue = newValue
        }
    }

    /// Adds a module at the end, named by its index.
    public func append(_ module: Module) {
        slots.append(Child(wrappedValue: module))
    }

    /// The modules in order.
    public var elements: [Module] { slots.map(\.wrappedValue) }
}

/// Modules applied one after another (`nn.Sequential`), named "0", "1", ...
///
///     let head = Sequential(Dropout(p: 0.2), Linear(512, 10))
///     let net = Sequential { Linear(2, 8); ReLU(); Linear(8, 1) }
public final class Sequential: ModuleList {
    public convenience init(_ modules: Module...) { self.init(modules) }
    public convenience init(@SequentialBuilder _ build: () -> [Module]) { self.init(build()) }

    public override func forward(_ input: Tensor) -> Tensor {
        var x = input
        for slot in slots { x = slot.wrappedValue.forward(x) }
        return x
    }
}

/// Builds the module list of `Sequential { ... }`; supports `if`, `for` and optional modules.
@resultBuilder
public enum SequentialBuilder {
    public static func buildExpression(_ m: Module) -> [Module] { [m] }
    public static func buildExpression(_ ms: [Module]) -> [Module] { ms }
    public static func buildBlock(_ parts: [Module]...) -> [Module] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Module]?) -> [Module] { part ?? [] }
    public static func buildEither(first: [Module]) -> [Module] { first }
    public static func buildEither(second: [Module]) -> [Module] { second }
    public static func buildArray(_ parts: [[Module]]) -> [Module] { parts.flatMap { $0 } }
}
