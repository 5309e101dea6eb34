import NN
import Torch

/// torchvision's ResNet: the same layers, attribute names, state-dict keys and shapes
/// (`conv1`, `bn1`, `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, ..., `fc.weight`), so
/// torchvision checkpoints load directly. Build one with `resnet18()` ... `resnet152()`.
///
/// `fc` is typed `Module` so a new head of any kind can be assigned:
/// `model.fc = Sequential(Dropout(p: 0.2), Linear(512, 10))`.
public final class ResNet: Module {
    public enum BlockKind { case basic, bottleneck }

    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    @Child public var relu: Module
    @Child public var maxpool: Module
    @Child public var layer1: Sequential
    @Child public var layer2: Sequential
    @Child public var layer3: Sequential
    @Child public var layer4: Sequential
    @Child public var avgpool: Module
    @Child public var fc: Module
    public let blockKind: BlockKind

    /// - Parameters:
    ///   - layers: blocks per stage, e.g. `[2, 2, 2, 2]` for ResNet-18.
    ///   - inChannels: input channels of `conv1` (3 for RGB).
    ///   - stageWidths: planes of the four stages; torchvision's `[64, 128, 256, 512]`. Narrower
    ///     widths keep torchvision's structure and key names (useful for small parity tests).
    public init(block: BlockKind, layers: [Int], numClasses: Int = 1000, inChannels: Int = 3,
                zeroInitResidual: Bool = false, groups: Int = 1, widthPerGroup: Int = 64,
                stageWidths: [Int] = [64, 128, 256, 512],
                file: StaticString = #fileID, line: UInt = #line) {
        guard layers.count == 4, layers.allSatisfy({ $0 > 0 }) else {
            engineFailure("ResNet", "layers must list 4 positive block counts, got \(layers)", file: file, line: line)
        }
        guard stageWidths.count == 4, stageWidths.allSatisfy({ $0 > 0 }) else {
            engineFailure("ResNet", "stageWidths must list 4 positive widths, got \(stageWidths)", file: file, line: line)
        }
        blockKind = block
        let w = stageWidths
        var inPlanes = w[0]
        // Convolutions are re-initialised below (torchvision's scheme), so skip their default draw.
        (conv1, layer1, layer2, layer3, layer4) = Init.withoutDefaultInitialization {
            (Conv2d(inChannels, w[0], kernelSize: 7, stride: 2, padding: 3, bias: false),
             makeResidualStage(block, inPlanes: &inPlanes, planes: w[0], blocks: layers[0], groups: groups, baseWidth: widthPerGroup),
             makeResidualStage(block, inPlanes: &inPlanes, planes: w[1], blocks: layers[1], stride: 2, groups: groups, baseWidth: widthPerGroup),
             makeResidualStage(block, inPlanes: &inPlanes, planes: w[2], blocks: layers[2], stride: 2, groups: groups, baseWidth: widthPerGroup),
             makeResidualStage(block, inPlanes: &inPlanes, planes: w[3], blocks: layers[3], stride: 2, groups: groups, baseWidth: widthPerGroup))
        }
        bn1 = BatchNorm2d(w[0])
        relu = ReLU(inplace: true)
        maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        avgpool = AdaptiveAvgPool2d((1, 1))
        fc = Linear(inPlanes, numClasses)
        super.init()
        initializeResNet(self, zeroInitResidual: zeroInitResidual)
    }

    /// Width of the features entering `fc` (512 for ResNet-18/34, 2048 for deeper ones).
    public var featureCount: Int { layer4.children().last.map(Self.outputWidth) ?? 0 }

    private static func outputWidth(of block: Module) -> Int {
        if let b = block as? BasicBlock { return b.conv2.outChannels }
        if let b = block as? Bottleneck { return b.conv3.outChannels }
        return 0
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var x = maxpool(convBatchNormReLU(conv1, bn1, relu, input))
        x = layer4(layer3(layer2(layer1(x))))
        return fc(avgpool(x).flatten(startDim: 1))
    }
}

/// ResNet-18 (11,689,512 parameters with 1000 classes).
public func resnet18(numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
}

/// ResNet-34.
public func resnet34(numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .basic, layers: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
}

/// ResNet-50 (25,557,032 parameters with 1000 classes).
public func resnet50(numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
}

/// ResNet-101.
public func resnet101(numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 23, 3], numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
}

/// ResNet-152.
public func resnet152(numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 8, 36, 3], numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
}
