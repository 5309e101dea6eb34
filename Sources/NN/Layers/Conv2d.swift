import Torch

/// 2-D convolution (`nn.Conv2d`) over `[N, C, H, W]`, weight `[out, in/groups, kh, kw]`. PyTorch's
/// initialisation: kaiming-uniform with a = √5, bias U(-1/√fan_in, 1/√fan_in).
public final class Conv2d: Module {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                file: StaticString = #fileID, line: UInt = #line) {
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            engineFailure("Conv2d", "in_channels \(inChannels) and out_channels \(outChannels) must be divisible by groups \(groups)",
                          file: file, line: line)
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let initialize = !Init.skipsDefaultInitialization
        let w = Tensor.zeros([outChannels, inChannels / groups, kernelSize.0, kernelSize.1])
        self.weight = initialize ? Init.kaimingUniform(w, a: 5.0.squareRoot()) : w
        let fanIn = Init.fans(w).fanIn
        let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
        let b = Tensor.zeros([outChannels])
        self.bias = bias ? (initialize ? Init.uniform(b, low: -bound, high: bound) : b) : nil
        super.init()
    }

    /// Square kernel, stride, padding and dilation: `Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                            file: StaticString = #fileID, line: UInt = #line) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias, file: file, line: line)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public override var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(pythonPair(kernelSize)), stride=\(pythonPair(stride))"
        if padding != (0, 0) { s += ", padding=\(pythonPair(padding))" }
        if dilation != (1, 1) { s += ", dilation=\(pythonPair(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}
