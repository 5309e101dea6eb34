import NN
import Torch

// The constructors with torchvision's `weights:` argument. They throw because a file may be
// missing or not fit; without `weights:` the non-throwing constructors build random weights.

/// Finds `weights`' file (before building anything), builds the model with `make`, loads the file.
private func pretrained<M: Module>(_ weights: Weights?, architecture: String?, call: String, numClasses: Int,
                                   make: () -> M) throws -> M {
    let url = try resolve(weights, architecture: architecture, call: call, numClasses: numClasses)
    let model = make()
    try load(url, from: weights, into: model, call: call, numClasses: numClasses)
    return model
}

/// ResNet-18 with `weights` loaded (torchvision's `resnet18(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet18(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    try pretrained(weights, architecture: "resnet18", call: "resnet18", numClasses: numClasses) {
        resnet18(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    }
}

/// ResNet-34 with `weights` loaded (torchvision's `resnet34(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet34(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    try pretrained(weights, architecture: "resnet34", call: "resnet34", numClasses: numClasses) {
        resnet34(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    }
}

/// ResNet-50 with `weights` loaded (torchvision's `resnet50(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet50(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    try pretrained(weights, architecture: "resnet50", call: "resnet50", numClasses: numClasses) {
        resnet50(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    }
}

/// ResNet-101 with `weights` loaded (torchvision's `resnet101(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet101(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    try pretrained(weights, architecture: "resnet101", call: "resnet101", numClasses: numClasses) {
        resnet101(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    }
}

/// ResNet-152 with `weights` loaded (torchvision's `resnet152(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet152(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    try pretrained(weights, architecture: "resnet152", call: "resnet152", numClasses: numClasses) {
        resnet152(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    }
}

/// `vgg11()` with `weights` loaded (torchvision's `vgg11(weights=...)`). See `Weights`.
public func vgg11(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg11", call: "vgg11", numClasses: numClasses) {
        vgg11(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg11Bn()` with `weights` loaded (torchvision's `vgg11_bn(weights=...)`). See `Weights`.
public func vgg11Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg11_bn", call: "vgg11Bn", numClasses: numClasses) {
        vgg11Bn(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg13()` with `weights` loaded (torchvision's `vgg13(weights=...)`). See `Weights`.
public func vgg13(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg13", call: "vgg13", numClasses: numClasses) {
        vgg13(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg13Bn()` with `weights` loaded (torchvision's `vgg13_bn(weights=...)`). See `Weights`.
public func vgg13Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg13_bn", call: "vgg13Bn", numClasses: numClasses) {
        vgg13Bn(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg16()` with `weights` loaded (torchvision's `vgg16(weights=...)`). See `Weights`.
public func vgg16(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg16", call: "vgg16", numClasses: numClasses) {
        vgg16(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg16Bn()` with `weights` loaded (torchvision's `vgg16_bn(weights=...)`). See `Weights`.
public func vgg16Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg16_bn", call: "vgg16Bn", numClasses: numClasses) {
        vgg16Bn(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg19()` with `weights` loaded (torchvision's `vgg19(weights=...)`). See `Weights`.
public func vgg19(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg19", call: "vgg19", numClasses: numClasses) {
        vgg19(numClasses: numClasses, inChannels: inChannels)
    }
}

/// `vgg19Bn()` with `weights` loaded (torchvision's `vgg19_bn(weights=...)`). See `Weights`.
public func vgg19Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    try pretrained(weights, architecture: "vgg19_bn", call: "vgg19Bn", numClasses: numClasses) {
        vgg19Bn(numClasses: numClasses, inChannels: inChannels)
    }
}

/// The small ResNet with `weights` loaded from a checkpoint file (it has no named pretrained
/// weights; the course's source model is `loadSourceModel()`).
public func smallResNet(weights: Weights?, numClasses: Int = 10, inChannels: Int = 1) throws -> SmallResNet {
    try pretrained(weights, architecture: nil, call: "smallResNet", numClasses: numClasses) {
        smallResNet(numClasses: numClasses, inChannels: inChannels)
    }
}
