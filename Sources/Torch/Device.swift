/// Where tensors live and computations run (`torch.device`).
///
/// This engine computes on the CPU only (OpenBLAS and its own threaded kernels), so `.cpu` is the
/// one available device. The accelerator devices exist as values, so PyTorch's device-selection
/// idiom compiles and reads the same:
///
///     let device: Device = Device.cuda.isAvailable ? .cuda : .cpu   // torch.cuda.is_available()
///     let device = Device.default                                   // the best available: .cpu
///     model.to(device)                                              // model.to(device)
///     let x = images.to(device)                                     // images.to(device)
///
/// Moving anything to an unavailable device stops with a message saying so; nothing is silently
/// run on the CPU instead.
public struct Device: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The kind of device (`torch.device(...).type`).
    public enum Kind: String, Sendable, CaseIterable {
        case cpu
        /// NVIDIA GPUs (`"cuda"`).
        case cuda
        /// Apple GPUs through Metal (`"mps"`).
        case mps
    }

    /// `device.type` in PyTorch.
    public let kind: Kind
    /// The device index (`cuda:1`), if one was given.
    public let index: Int?

    public init(_ kind: Kind, index: Int? = nil) {
        self.kind = kind
        self.index = index
    }

    /// Parses PyTorch's device strings: `"cpu"`, `"cuda"`, `"cuda:0"`, `"mps"`.
    /// An unknown name stops with a message listing the known ones.
    public init(_ name: String, file: StaticString = #fileID, line: UInt = #line) {
        let parts = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = Kind(rawValue: parts[0].lowercased()) else {
            engineFailure("Device", "unknown device \"\(name)\"; expected one of \(Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")) (optionally with an index, \"cuda:0\")",
                          file: file, line: line)
        }
        var index: Int?
        if parts.count == 2 {
            guard let i = Int(parts[1]), i >= 0 else {
                engineFailure("Device", "bad device index in \"\(name)\"; expected a number >= 0 after the colon", file: file, line: line)
            }
            index = i
        }
        self.init(kind, index: index)
    }

    /// `model.to("cpu")`, as PyTorch accepts device strings.
    public init(stringLiteral value: String) { self.init(value) }

    /// The CPU: always available.
    public static let cpu = Device(.cpu)
    /// An NVIDIA GPU (`torch.device("cuda")`); never available in this engine.
    public static let cuda = Device(.cuda)
    /// An Apple GPU (`torch.device("mps")`); never available in this engine.
    public static let mps = Device(.mps)
    /// The NVIDIA GPU with this index (`"cuda:1"`).
    public static func cuda(_ index: Int) -> Device { Device(.cuda, index: index) }

    /// The best available device: always `.cpu` here (PyTorch's
    /// `"cuda" if torch.cuda.is_available() else "cpu"`).
    public static var `default`: Device { .cpu }

    /// Whether computations can run there (`torch.cuda.is_available()` for `.cuda`): true for the
    /// CPU only.
    public var isAvailable: Bool { kind == .cpu }

    /// Every device computations can run on here: `[.cpu]`.
    public static var available: [Device] { [.cpu] }

    /// `"cpu"`, `"cuda"`, `"cuda:1"`, as PyTorch prints a device.
    public var description: String { index.map { "\(kind.rawValue):\($0)" } ?? kind.rawValue }

    /// Stops with a clear message unless this device is available; `op` names the caller's operation.
    public func checkAvailable(_ op: String, file: StaticString = #fileID, line: UInt = #line) {
        guard !isAvailable else { return }
        engineFailure(op, "device \(self) is not available: this engine computes on the CPU only (OpenBLAS); "
                      + "use .cpu or Device.default (the idiom `Device.cuda.isAvailable ? .cuda : .cpu` picks it)",
                      file: file, line: line)
    }
}

extension Tensor {
    /// The device holding this tensor (`tensor.device`): always `.cpu`.
    public var device: Device { .cpu }

    /// This tensor on `device` (`tensor.to(device)`): the tensor itself for the CPU, as PyTorch
    /// returns `self` when nothing moves. An unavailable device stops with a message.
    @discardableResult
    public func to(_ device: Device, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        device.checkAvailable("to", file: file, line: line)
        return self
    }

    /// This tensor converted to `dtype` (`tensor.to(torch.float32)`); the tensor itself when it
    /// already has that type.
    public func to(_ dtype: DType, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        switch dtype {
        case .float32: return float()
        case .int64: return long()
        case .bool: return dtype == self.dtype ? self : self.ne(0)
        }
    }

    /// This tensor on the CPU (`tensor.cpu()`): the tensor itself.
    public func cpu() -> Tensor { self }
}
