import NN
import Torch

// The constructors with torchvision's `weights:` argument. They throw because a file may be
// missing or not fit; without `weights:` the non-throwing constructors build random weights.

/// ResNet-18 with `weights` loaded (torchvision's `resnet18(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet18(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    let url = try resolve(weights, architecture: "resnet18", call: "resnet18", numClasses: numClasses)
    let model = resnet18(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    try load(url, from: weights, into: model, call: "resnet18", numClasses: numClasses)
    return model
}

/// ResNet-34 with `weights` loaded (torchvision's `resnet34(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet34(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    let url = try resolve(weights, architecture: "resnet34", call: "resnet34", numClasses: numClasses)
    let model = resnet34(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    try load(url, from: weights, into: model, call: "resnet34", numClasses: numClasses)
    return model
}

/// ResNet-50 with `weights` loaded (torchvision's `resnet50(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet50(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    let url = try resolve(weights, architecture: "resnet50", call: "resnet50", numClasses: numClasses)
    let model = resnet50(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    try load(url, from: weights, into: model, call: "resnet50", numClasses: numClasses)
    return model
}

/// ResNet-101 with `weights` loaded (torchvision's `resnet101(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet101(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    let url = try resolve(weights, architecture: "resnet101", call: "resnet101", numClasses: numClasses)
    let model = resnet101(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    try load(url, from: weights, into: model, call: "resnet101", numClasses: numClasses)
    return model
}

/// ResNet-152 with `weights` loaded (torchvision's `resnet152(weights=...)`): `.imagenet1kV1`,
/// `"path/to/file.pth"`, or nil for random weights. See `Weights`.
public func resnet152(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3, zeroInitResidual: Bool = false) throws -> ResNet {
    let url = try resolve(weights, architecture: "resnet152", call: "resnet152", numClasses: numClasses)
    let model = resnet152(numClasses: numClasses, inChannels: inChannels, zeroInitResidual: zeroInitResidual)
    try load(url, from: weights, into: model, call: "resnet152", numClasses: numClasses)
    return model
}

/// `vgg11()` with `weights` loaded (torchvision's `vgg11(weights=...)`). See `Weights`.
public func vgg11(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg11", call: "vgg11", numClasses: numClasses)
    let model = vgg11(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg11", numClasses: numClasses)
    return model
}

/// `vgg11Bn()` with `weights` loaded (torchvision's `vgg11_bn(weights=...)`). See `Weights`.
public func vgg11Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg11_bn", call: "vgg11Bn", numClasses: numClasses)
    let model = vgg11Bn(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg11Bn", numClasses: numClasses)
    return model
}

/// `vgg13()` with `weights` loaded (torchvision's `vgg13(weights=...)`). See `Weights`.
public func vgg13(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg13", call: "vgg13", numClasses: numClasses)
    let model = vgg13(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg13", numClasses: numClasses)
    return model
}

/// `vgg13Bn()` with `weights` loaded (torchvision's `vgg13_bn(weights=...)`). See `Weights`.
public func vgg13Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg13_bn", call: "vgg13Bn", numClasses: numClasses)
    let model = vgg13Bn(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg13Bn", numClasses: numClasses)
    return model
}

/// `vgg16()` with `weights` loaded (torchvision's `vgg16(weights=...)`). See `Weights`.
public func vgg16(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg16", call: "vgg16", numClasses: numClasses)
    let model = vgg16(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg16", numClasses: numClasses)
    return model
}

/// `vgg16Bn()` with `weights` loaded (torchvision's `vgg16_bn(weights=...)`). See `Weights`.
public func vgg16Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg16_bn", call: "vgg16Bn", numClasses: numClasses)
    let model = vgg16Bn(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg16Bn", numClasses: numClasses)
    return model
}

/// `vgg19()` with `weights` loaded (torchvision's `vgg19(weights=...)`). See `Weights`.
public func vgg19(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg19", call: "vgg19", numClasses: numClasses)
    let model = vgg19(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg19", numClasses: numClasses)
    return model
}

/// `vgg19Bn()` with `weights` loaded (torchvision's `vgg19_bn(weights=...)`). See `Weights`.
public func vgg19Bn(weights: Weights?, numClasses: Int = 1000, inChannels: Int = 3) throws -> VGG {
    let url = try resolve(weights, architecture: "vgg19_bn", call: "vgg19Bn", numClasses: numClasses)
    let model = vgg19Bn(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "vgg19Bn", numClasses: numClasses)
    return model
}

/// The small ResNet with `weights` loaded from a checkpoint file (it has no named pretrained
/// weights; the course's source model is `loadSourceModel()`).
public func smallResNet(weights: Weights?, numClasses: Int = 10, inChannels: Int = 1) throws -> SmallResNet {
    let url = try resolve(weights, architecture: nil, call: "smallResNet", numClasses: numClasses)
    let model = smallResNet(numClasses: numClasses, inChannels: inChannels)
    try load(url, from: weights, into: model, call: "smallResNet", numClasses: numClasses)
    return model
}
