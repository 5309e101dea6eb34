import NN
import Torch

/// 3x3 convolution with padding, no bias (torchvision's `conv3x3`).
func conv3x3(_ inPlanes: Int, _ outPlanes: Int, stride: Int = 1, groups: Int = 1, dilation: Int = 1) -> Conv2d {
    Conv2d(inPlanes, outPlanes, kernelSize: 3, stride: stride, padding: dilation, dilation: dilation, groups: groups, bias: false)
}

/// 1x1 convolution, no bias (torchvision's `conv1x1`).
func conv1x1(_ inPlanes: Int, _ outPlanes: Int, stride: Int = 1) -> Conv2d {
    Conv2d(inPlanes, outPlanes, kernelSize: 1, stride: stride, bias: false)
}

/// `relu(bn(conv(x)))`, the batch norm and ReLU fused when `relu` is the stock `ReLU` (a replaced
/// activation, e.g. `block.relu = LeakyReLU()`, runs as written): in one pass over memory, or,
/// with running statistics and no gradient recorded, inside the convolution's output
/// (`BatchNorm.forward(convolving:with:reLU:)`).
func convBatchNormReLU(_ conv: Conv2d, _ bn: BatchNorm2d, _ relu: Module, _ x: Tensor) -> Tensor {
    relu is ReLU ? bn.forward(convolving: x, with: conv, reLU: true) : relu(bn(conv(x)))
}

/// `bn(conv(x))`, folded together when the batch norm uses its running statistics and no gradient is recorded.
func convBatchNorm(_ conv: Conv2d, _ bn: BatchNorm2d, _ x: Tensor) -> Tensor {
    bn.forward(convolving: x, with: conv, reLU: false)
}

/// The residual branch: `x`, or `downsample(x)`, folded like `convBatchNorm` when it is
/// torchvision's `Sequential(conv1x1, BatchNorm2d)`.
func shortcut(_ downsample: Sequential?, _ x: Tensor) -> Tensor {
    guard let downsample else { return x }
    if downsample.count == 2, let conv = downsample[0] as? Conv2d, let bn = downsample[1] as? BatchNorm2d {
        return convBatchNorm(conv, bn, x)
    }
    return downsample(x)
}

/// `relu(bn(conv(x)) + identity)`, the end of a residual block: with the stock `ReLU`, the add and
/// ReLU run as one op, or inside the convolution's output like `convBatchNorm`.
func convBatchNormAddReLU(_ conv: Conv2d, _ bn: BatchNorm2d, _ identity: Tensor, _ relu: Module, _ x: Tensor) -> Tensor {
    relu is ReLU ? bn.forward(convolving: x, with: conv, adding: identity, reLU: true) : relu(bn(conv(x)) + identity)
}

/// The two-convolution residual block of ResNet-18/34 (torchvision's `BasicBlock`):
/// conv3x3-BN-ReLU-conv3x3-BN, plus the input (through `downsample` when the shape changes), then ReLU.
public final class BasicBlock: Module {
    public static let expansion = 1
    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    @Child public var relu: Module
    @Child public var conv2: Conv2d
    @Child public var bn2: BatchNorm2d
    @Child public var downsample: Sequential?
    public let stride: Int

    public init(inPlanes: Int, planes: Int, stride: Int = 1, downsample: Sequential? = nil) {
        self.conv1 = conv3x3(inPlanes, planes, stride: stride)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU(inplace: true)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let out = convBatchNormReLU(conv1, bn1, relu, x)
        return convBatchNormAddReLU(conv2, bn2, shortcut(downsample, x), relu, out)
    }
}

/// The 1x1-3x3-1x1 bottleneck block of ResNet-50/101/152, torchvision's "v1.5": the stride sits on
/// the 3x3 convolution. Output channels are `planes * 4`.
public final class Bottleneck: Module {
    public static let expansion = 4
    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    @Child public var conv2: Conv2d
    @Child public var bn2: BatchNorm2d
    @Child public var conv3: Conv2d
    @Child public var bn3: BatchNorm2d
    @Child public var relu: Module
    @Child public var downsample: Sequential?
    public let stride: Int

    public init(inPlanes: Int, planes: Int, stride: Int = 1, downsample: Sequential? = nil,
                groups: Int = 1, baseWidth: Int = 64) {
        let width = Int(Double(planes) * (Double(baseWidth) / 64)) * groups
        self.conv1 = conv1x1(inPlanes, width)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride: stride, groups: groups)
        self.bn2 = BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * Bottleneck.expansion)
        self.bn3 = BatchNorm2d(planes * Bottleneck.expansion)
        self.relu = ReLU(inplace: true)
        self.downsample = downsample
        self.stride = stride
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var out = convBatchNormReLU(conv1, bn1, relu, x)
        out = convBatchNormReLU(conv2, bn2, relu, out)
        return convBatchNormAddReLU(conv3, bn3, shortcut(downsample, x), relu, out)
    }
}

/// torchvision's weight initialisation for ResNets: convolutions kaiming-normal (fan_out, ReLU),
/// batch norms weight 1 and bias 0; with `zeroInitResidual`, the last BN of each residual block
/// starts at 0 so every block begins as the identity.
func initializeResNet(_ model: Module, zeroInitResidual: Bool) {
    for m in model.modules() {
        if let conv = m as? Conv2d {
            Init.kaimingNormal(conv.weight, mode: .fanOut, nonlinearity: .relu)
        } else if let bn = m as? BatchNorm, let w = bn.weight, let b = bn.bias {
            Init.ones(w)
            Init.zeros(b)
        }
    }
    if zeroInitResidual {
        for m in model.modules() {
            if let block = m as? Bottleneck, let w = block.bn3.weight { Init.zeros(w) }
            if let block = m as? BasicBlock, let w = block.bn2.weight { Init.zeros(w) }
        }
    }
}

/// A stage of residual blocks (torchvision's `_make_layer`): the first block may change stride and
/// width (with a 1x1 conv + BN projection shortcut), the rest keep them. Updates `inPlanes`.
func makeResidualStage(_ kind: ResNet.BlockKind, inPlanes: inout Int, planes: Int, blocks: Int, stride: Int = 1,
                       groups: Int = 1, baseWidth: Int = 64) -> Sequential {
    let expansion = kind == .basic ? BasicBlock.expansion : Bottleneck.expansion
    var downsample: Sequential? = nil
    if stride != 1 || inPlanes != planes * expansion {
        downsample = Sequential(conv1x1(inPlanes, planes * expansion, stride: stride), BatchNorm2d(planes * expansion))
    }
    var layers: [Module] = []
    func block(_ inP: Int, _ s: Int, _ ds: Sequential?) -> Module {
        switch kind {
        case .basic: return BasicBlock(inPlanes: inP, planes: planes, stride: s, downsample: ds)
        case .bottleneck: return Bottleneck(inPlanes: inP, planes: planes, stride: s, downsample: ds, groups: groups, baseWidth: baseWidth)
        }
    }
    layers.append(block(inPlanes, stride, downsample))
    inPlanes = planes * expansion
    for _ in 1..<max(blocks, 1) { layers.append(block(inPlanes, 1, nil)) }
    return Sequential(layers)
}
