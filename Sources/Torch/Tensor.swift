import Foundation

/// An n-dimensional array of Float32 (or Int64/Bool) values in contiguous row-major storage,
/// with define-by-run reverse-mode autograd.
///
/// Like `torch.Tensor`, a tensor is a reference: parameters are updated in place by optimizers and
/// every holder sees the change.
public final class Tensor {
    /// Sizes of each dimension; `[]` for a scalar.
    public internal(set) var shape: [Int]
    /// Element type.
    public let dtype: DType
    /// Float32 and Bool elements (Bool as 0/1). Empty for Int64 tensors.
    @usableFromInline var storage: [Float] {
        didSet { version &+= 1 }  // no `oldValue`: in-place writes stay in place (SE-0268)
    }
    /// Counts writes to `storage`, so values derived from the elements (a convolution's transformed
    /// weights) can tell when they are stale.
    @usableFromInline var version: UInt64 = 0
    /// Winograd-transformed copies of this tensor as a convolution weight, by tile size, each with
    /// the `version` it was computed from (see `ConvGeometry.cachedWinogradWeights`).
    var winogradWeights: [Int: (version: UInt64, values: [Float])] = [:]
    /// Int64 elements. Empty for Float32/Bool tensors.
    @usableFromInline var int64Storage: [Int64]

    /// Gradient accumulated by `backward()` for a leaf that requires it.
    public var grad: Tensor?
    /// The recorded operation that produced this tensor; nil for leaves.
    public internal(set) var gradFn: GradientFunction?
    var leafRequiresGrad = false

    // MARK: Creation from values

    /// A Float32 tensor of the given shape holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float], file: StaticString = #fileID, line: UInt = #line) {
        check(shape.allSatisfy { $0 >= 0 }, "Tensor(shape:scalars:)",
              "negative size in shape \(describe(shape: shape))", file: file, line: line)
        check(Shape.count(shape) == scalars.count, "Tensor(shape:scalars:)",
              "shape \(describe(shape: shape)) needs \(Shape.count(shape)) values, got \(scalars.count)",
              file: file, line: line)
        self.shape = shape
        self.dtype = .float32
        self.storage = scalars
        self.int64Storage = []
    }

    /// An Int64 tensor (labels, indices) of the given shape.
    public init(shape: [Int], int64Scalars: [Int64], file: StaticString = #fileID, line: UInt = #line) {
        check(Shape.count(shape) == int64Scalars.count, "Tensor(shape:int64Scalars:)",
              "shape \(describe(shape: shape)) needs \(Shape.count(shape)) values, got \(int64Scalars.count)",
              file: file, line: line)
        self.shape = shape
        self.dtype = .int64
        self.storage = []
        self.int64Storage = int64Scalars
    }

    /// Internal designated initializer that takes ownership of prepared storage.
    @usableFromInline
    init(shape: [Int], dtype: DType, storage: [Float], int64Storage: [Int64]) {
        _ = MemoryTuning.applied
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.int64Storage = int64Storage
    }

    /// A one-dimensional Float32 tensor, or one reshaped to `shape`.
    public convenience init(_ scalars: [Float], shape: [Int]? = nil,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init(shape: shape ?? [scalars.count], scalars: scalars, file: file, line: line)
    }

    /// A Float32 tensor from nested rows, e.g. `Tensor([[1, 2], [3, 4]])`.
    public convenience init(_ rows: [[Float]], file: StaticString = #fileID, line: UInt = #line) {
        let width = rows.first?.count ?? 0
        check(rows.allSatisfy { $0.count == width }, "Tensor(_:)",
              "rows have different lengths \(rows.map(\.count))", file: file, line: line)
        self.init(shape: [rows.count, width], scalars: rows.flatMap { $0 }, file: file, line: line)
    }

    /// A one-dimensional tensor of the given type from integers, e.g. class labels:
    /// `Tensor([3, 1, 4], dtype: .int64)`. (Unlabelled integer literals make Float32 tensors.)
    public convenience init(_ values: [Int], dtype: DType, file: StaticString = #fileID, line: UInt = #line) {
        switch dtype {
        case .int64: self.init(shape: [values.count], int64Scalars: values.map(Int64.init), file: file, line: line)
        case .float32: self.init(shape: [values.count], scalars: values.map(Float.init), file: file, line: line)
        case .bool:
            self.init(shape: [values.count], dtype: .bool, storage: values.map { $0 != 0 ? 1 : 0 }, int64Storage: [])
        }
    }

    /// A zero-dimensional Float32 tensor.
    public convenience init(_ value: Float) {
        self.init(shape: [], dtype: .float32, storage: [value], int64Storage: [])
    }

    // MARK: Properties

    /// Number of elements (`numel()` in PyTorch).
    public var count: Int { Shape.count(shape) }
    /// Number of elements, PyTorch spelling.
    public func numel() -> Int { count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of dimensions, PyTorch spelling.
    public func dim() -> Int { shape.count }

    /// Size of one dimension; negative indices count from the end.
    public func size(_ dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Int {
        guard let d = Shape.normalize(dim: dim, rank: rank), rank > 0 else {
            engineFailure("size", "dimension \(dim) out of range for shape \(describe(shape: shape))",
                          file: file, line: line)
        }
        return shape[d]
    }

    /// The single value of a one-element tensor, as Float.
    public func item(file: StaticString = #fileID, line: UInt = #line) -> Float {
        check(count == 1, "item", "only one-element tensors can be converted to a number, got shape \(describe(shape: shape))",
              file: file, line: line)
        return dtype == .int64 ? Float(int64Storage[0]) : storage[0]
    }

    /// The single value of a one-element Int64 tensor.
    public func intItem(file: StaticString = #fileID, line: UInt = #line) -> Int {
        check(count == 1, "intItem", "only one-element tensors can be converted to a number, got shape \(describe(shape: shape))",
              file: file, line: line)
        return dtype == .int64 ? Int(int64Storage[0]) : Int(storage[0])
    }

    /// All elements as Float in row-major order (Int64 converted).
    public var scalars: [Float] {
        dtype == .int64 ? int64Storage.map { Float($0) } : storage
    }

    /// All elements as Int64 in row-major order (Float truncated toward zero).
    public var int64Scalars: [Int64] {
        dtype == .int64 ? int64Storage : storage.map { Int64($0) }
    }

    // MARK: Raw access for kernels

    /// Read access to Float32/Bool elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// In-place write access to Float32/Bool elements (optimizers, initializers, loaders).
    /// Writes bypass autograd, like PyTorch's `with torch.no_grad(): p.copy_(...)`.
    @inlinable
    public func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Read access to Int64 elements.
    @inlinable
    public func withUnsafeInt64BufferPointer<R>(_ body: (UnsafeBufferPointer<Int64>) throws -> R) rethrows -> R {
        try int64Storage.withUnsafeBufferPointer(body)
    }

    /// In-place write access to Int64 elements.
    @inlinable
    public func withUnsafeMutableInt64BufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Int64>) throws -> R) rethrows -> R {
        try int64Storage.withUnsafeMutableBufferPointer(body)
    }

    /// Replaces the values (not the identity) of this tensor with `other`'s, without recording
    /// autograd history: what loading a checkpoint into a parameter does.
    public func copy_(from other: Tensor, file: StaticString = #fileID, line: UInt = #line) {
        check(other.shape == shape, "copy_", "shape \(describe(shape: other.shape)) cannot be copied into \(describe(shape: shape))",
              file: file, line: line)
        switch dtype {
        case .int64: int64Storage = other.int64Scalars
        case .float32, .bool: storage = other.dtype == .int64 ? other.scalars : other.storage
        }
    }

    /// A Float32 tensor of `shape` whose storage the caller fills through `body`.
    /// Memory is not zeroed first; `body` must write every element.
    @inlinable
    public static func make(shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
        let n = Shape.count(shape)
        let values = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            body(buffer)
            initialized = n
        }
        return Tensor(shape: shape, dtype: .float32, storage: values, int64Storage: [])
    }

    /// An Int64 tensor of `shape` whose storage the caller fills through `body`.
    @inlinable
    public static func makeInt64(shape: [Int], _ body: (UnsafeMutableBufferPointer<Int64>) -> Void) -> Tensor {
        let n = Shape.count(shape)
        let values = [Int64](unsafeUninitializedCapacity: n) { buffer, initialized in
            body(buffer)
            initialized = n
        }
        return Tensor(shape: shape, dtype: .int64, storage: [], int64Storage: values)
    }

    /// A Bool tensor (0/1) of `shape` whose storage the caller fills through `body`.
    @inlinable
    public static func makeBool(shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
        let n = Shape.count(shape)
        let values = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            body(buffer)
            initialized = n
        }
        return Tensor(shape: shape, dtype: .bool, storage: values, int64Storage: [])
    }

    /// This tensor's values as Float32 (a copy for Int64/Bool, self for Float32).
    public func float() -> Tensor {
        switch dtype {
        case .float32: return self
        case .bool: return Tensor(shape: shape, dtype: .float32, storage: storage, int64Storage: [])
        case .int64: return Tensor(shape: shape, dtype: .float32, storage: scalars, int64Storage: [])
        }
    }

    /// This tensor's values as Int64 (truncated toward zero).
    public func long() -> Tensor {
        dtype == .int64 ? self : Tensor(shape: shape, dtype: .int64, storage: [], int64Storage: int64Scalars)
    }
}
