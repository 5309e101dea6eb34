import NN
import Torch

/// torchvision's VGG: `features` (convolutions, optional batch norm, ReLU, max pools, with
/// torchvision's indices), `avgpool` (adaptive, 7x7) and `classifier`, with the same state-dict keys
/// (`features.0.weight`, `classifier.6.bias`, ...). Build one with `vgg11()`, `vgg16Bn()`, ...
public final class VGG: Module {
    /// A layer configuration: a number is a 3x3 convolution's output width, `nil` a 2x2 max pool.
    public typealias Configuration = [Int?]

    public static let configurations: [String: Configuration] = [
        "A": [64, nil, 128, nil, 256, 256, nil, 512, 512, nil, 512, 512, nil],
        "B": [64, 64, nil, 128, 128, nil, 256, 256, nil, 512, 512, nil, 512, 512, nil],
        "D": [64, 64, nil, 128, 128, nil, 256, 256, 256, nil, 512, 512, 512, nil, 512, 512, 512, nil],
        "E": [64, 64, nil, 128, 128, nil, 256, 256, 256, 256, nil, 512, 512, 512, 512, nil, 512, 512, 512, 512, nil],
    ]

    @Child public var features: Sequential
    @Child public var avgpool: Module
    @Child public var classifier: Sequential

    /// `features` is usually `VGG.makeFeatures(...)`; `initWeights` applies torchvision's scheme
    /// (convolutions kaiming-normal, linear layers N(0, 0.01), biases 0).
    public init(features: Sequential, numClasses: Int = 1000, initWeights: Bool = true, dropout: Float = 0.5) {
        self.features = features
        avgpool = AdaptiveAvgPool2d((7, 7))
        func makeClassifier() -> Sequential {
            Sequential(Linear(512 * 7 * 7, 4096), ReLU(inplace: true), Dropout(p: dropout),
                       Linear(4096, 4096), ReLU(inplace: true), Dropout(p: dropout),
                       Linear(4096, numClasses))
        }
        // Linear layers are re-initialised below when initWeights is set; skip the default draw then.
        classifier = initWeights ? Init.withoutDefaultInitialization(makeClassifier) : makeClassifier()
        super.init()
        if initWeights {
            for m in modules() {
                if let conv = m as? Conv2d {
                    Init.kaimingNormal(conv.weight, mode: .fanOut, nonlinearity: .relu)
                    if let b = conv.bias { Init.zeros(b) }
                } else if let bn = m as? BatchNorm, let w = bn.weight, let b = bn.bias {
                    Init.ones(w)
                    Init.zeros(b)
                } else if let fc = m as? Linear {
                    Init.normal(fc.weight, mean: 0, std: 0.01)
                    if let b = fc.bias { Init.zeros(b) }
                }
            }
        }
    }

    /// torchvision's `make_layers`: conv3x3(padding 1) [+ BN] + ReLU per width, MaxPool2d(2, 2) per nil.
    public static func makeFeatures(_ configuration: Configuration, batchNorm: Bool, inChannels: Int = 3) -> Sequential {
        var layers: [Module] = []
        var channels = inChannels
        for entry in configuration {
            guard let width = entry else {
                layers.append(MaxPool2d(kernelSize: 2, stride: 2))
                continue
            }
            layers.append(Conv2d(channels, width, kernelSize: 3, padding: 1))
            if batchNorm { layers.append(BatchNorm2d(width)) }
            layers.append(ReLU(inplace: true))
            channels = width
        }
        return Sequential(layers)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        classifier(avgpool(features(input)).flatten(startDim: 1))
    }
}

private func vgg(_ config: String, batchNorm: Bool, numClasses: Int, inChannels: Int) -> VGG {
    let features = Init.withoutDefaultInitialization {
        VGG.makeFeatures(VGG.configurations[config]!, batchNorm: batchNorm, inChannels: inChannels)
    }
    return VGG(features: features, numClasses: numClasses)
}

/// VGG-11 (configuration "A").
public func vgg11(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("A", batchNorm: false, numClasses: numClasses, inChannels: inChannels) }
/// VGG-11 with batch normalisation.
public func vgg11Bn(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("A", batchNorm: true, numClasses: numClasses, inChannels: inChannels) }
/// VGG-13 (configuration "B").
public func vgg13(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("B", batchNorm: false, numClasses: numClasses, inChannels: inChannels) }
/// VGG-13 with batch normalisation.
public func vgg13Bn(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("B", batchNorm: true, numClasses: numClasses, inChannels: inChannels) }
/// VGG-16 (configuration "D").
public func vgg16(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("D", batchNorm: false, numClasses: numClasses, inChannels: inChannels) }
/// VGG-16 with batch normalisation.
public func vgg16Bn(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("D", batchNorm: true, numClasses: numClasses, inChannels: inChannels) }
/// VGG-19 (configuration "E").
public func vgg19(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("E", batchNorm: false, numClasses: numClasses, inChannels: inChannels) }
/// VGG-19 with batch normalisation.
public func vgg19Bn(numClasses: Int = 1000, inChannels: Int = 3) -> VGG { vgg("E", batchNorm: true, numClasses: numClasses, inChannels: inChannels) }
