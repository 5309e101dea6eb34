import NN
import Torch

/// A small CIFAR-style ResNet for 1x28x28 or 3x32x32 images, trainable on a CPU in minutes:
/// stem conv3x3(inChannels→16) + BN + ReLU; three stages of two `BasicBlock`s with widths 16, 32, 64
/// (stride 2 and a 1x1 conv + BN projection at the start of stages 2 and 3); global average pooling;
/// `fc` Linear(64 → classes). 174,970 parameters for 1 input channel and 10 classes.
public final class SmallResNet: Module {
    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    @Child public var relu: Module
    @Child public var layer1: Sequential
    @Child public var layer2: Sequential
    @Child public var layer3: Sequential
    @Child public var avgpool: Module
    @Child public var fc: Module

    public init(numClasses: Int = 10, inChannels: Int = 1, zeroInitResidual: Bool = false) {
        var inPlanes = 16
        (conv1, layer1, layer2, layer3) = Init.withoutDefaultInitialization {
            (conv3x3(inChannels, 16),
             makeResidualStage(.basic, inPlanes: &inPlanes, planes: 16, blocks: 2),
             makeResidualStage(.basic, inPlanes: &inPlanes, planes: 32, blocks: 2, stride: 2),
             makeResidualStage(.basic, inPlanes: &inPlanes, planes: 64, blocks: 2, stride: 2))
        }
        bn1 = BatchNorm2d(16)
        relu = ReLU(inplace: true)
        avgpool = AdaptiveAvgPool2d((1, 1))
        fc = Linear(64, numClasses)
        super.init()
        initializeResNet(self, zeroInitResidual: zeroInitResidual)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let x = layer3(layer2(layer1(convBatchNormReLU(conv1, bn1, relu, input))))
        return fc(avgpool(x).flatten(startDim: 1))
    }
}

/// The small CIFAR-style ResNet (see `SmallResNet`); 1 input channel (28x28 digits) by default.
public func smallResNet(numClasses: Int = 10, inChannels: Int = 1) -> SmallResNet {
    SmallResNet(numClasses: numClasses, inChannels: inChannels)
}
