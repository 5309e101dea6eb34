import Torch

/// A size given as one number or a pair; printed back the way it was given, as PyTorch does.
public enum Size2: Equatable, CustomStringConvertible {
    case square(Int)
    case pair(Int, Int)

    public var pair: (Int, Int) {
        switch self {
        case .square(let n): return (n, n)
        case .pair(let a, let b): return (a, b)
        }
    }

    public var description: String {
        switch self {
        case .square(let n): return "\(n)"
        case .pair(let a, let b): return "(\(a), \(b))"
        }
    }
}

/// 2-D max pooling (`nn.MaxPool2d`); stride defaults to the kernel size.
public final class MaxPool2d: Module {
    public let kernelSize: Size2
    public let stride: Size2
    public let padding: Size2
    public let dilation: Size2
    public let ceilMode: Bool

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        self.kernelSize = .square(kernelSize)
        self.stride = .square(stride ?? kernelSize)
        self.padding = .square(padding)
        self.dilation = .square(dilation)
        self.ceilMode = ceilMode
    }

    /// Pairs; omitted padding and dilation print as PyTorch's defaults (`padding=0, dilation=1`).
    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int)? = nil,
                dilation: (Int, Int)? = nil, ceilMode: Bool = false) {
        self.kernelSize = .pair(kernelSize.0, kernelSize.1)
        let s = stride ?? kernelSize
        self.stride = .pair(s.0, s.1)
        self.padding = padding.map { .pair($0.0, $0.1) } ?? .square(0)
        self.dilation = dilation.map { .pair($0.0, $0.1) } ?? .square(1)
        self.ceilMode = ceilMode
    }

    public override func forward(_ input: Tensor) -> Tensor {
        maxPool2d(input, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair,
                  dilation: dilation.pair, ceilMode: ceilMode)
    }

    public override var extraDescription: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=\(pythonBool(ceilMode))"
    }
}

/// 2-D average pooling (`nn.AvgPool2d`); stride defaults to the kernel size.
public final class AvgPool2d: Module {
    public let kernelSize: Size2
    public let stride: Size2
    public let padding: Size2
    public let ceilMode: Bool
    public let countIncludePad: Bool

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernelSize = .square(kernelSize)
        self.stride = .square(stride ?? kernelSize)
        self.padding = .square(padding)
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int)? = nil,
                ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernelSize = .pair(kernelSize.0, kernelSize.1)
        let s = stride ?? kernelSize
        self.stride = .pair(s.0, s.1)
        self.padding = padding.map { .pair($0.0, $0.1) } ?? .square(0)
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    public override func forward(_ input: Tensor) -> Tensor {
        avgPool2d(input, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair,
                  ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    public override var extraDescription: String { "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" }
}

/// Average pooling to a fixed output size (`nn.AdaptiveAvgPool2d`); `(1, 1)` is global average pooling.
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: Size2

    public init(_ outputSize: (Int, Int)) { self.outputSize = .pair(outputSize.0, outputSize.1) }
    public init(_ outputSize: Int) { self.outputSize = .square(outputSize) }
    public convenience init(outputSize: (Int, Int)) { self.init(outputSize) }

    public override func forward(_ input: Tensor) -> Tensor { adaptiveAvgPool2d(input, outputSize: outputSize.pair) }

    public override var extraDescription: String { "output_size=\(outputSize)" }
}
