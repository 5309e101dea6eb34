import Foundation
import Torch

/// HWC UInt8 image -> CHW Float tensor in [0, 1], as `transforms.ToTensor`.
public struct ToTensor: Transform {
    public init() {}

    public func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor {
        switch input {
        case .image(let image): return .tensor(image.toTensor())
        case .tensor: return input
        }
    }
}

/// `(x - mean[c]) / std[c]` per channel of a `[C, H, W]` (or `[N, C, H, W]`) Float tensor, as
/// `transforms.Normalize`.
public struct Normalize: TensorTransform {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty, "Normalize: mean and std need the same number of channels")
        precondition(std.allSatisfy { $0 != 0 }, "Normalize: std must be non-zero, got \(std)")
        self.mean = mean
        self.std = std
    }

    public func apply(_ tensor: Tensor, generator: Generator) -> Tensor {
        guard tensor.rank >= 3, tensor.dtype == .float32 else {
            visionFailure("Normalize", "expects a Float tensor [C, H, W], got \(tensor.dtype) \(describe(shape: tensor.shape))",
                          file: #fileID, line: #line)
        }
        let channels = tensor.shape[tensor.rank - 3]
        guard channels == mean.count || mean.count == 1 else {
            visionFailure("Normalize", "tensor \(describe(shape: tensor.shape)) has \(channels) channels but mean/std have \(mean.count)",
                          file: #fileID, line: #line)
        }
        let plane = tensor.shape[tensor.rank - 1] * tensor.shape[tensor.rank - 2]
        let mean = self.mean, inverse = std.map { 1 / $0 }
        return tensor.withUnsafeBufferPointer { src in
            Tensor.make(shape: tensor.shape) { dst in
                for p in 0..<(tensor.count / max(1, plane)) {
                    let c = mean.count == 1 ? 0 : p % channels
                    let m = mean[c], s = inverse[c]
                    for i in (p * plane)..<((p + 1) * plane) { dst[i] = (src[i] - m) * s }
                }
            }
        }
    }
}

/// ImageNet's channel statistics, used by every torchvision pretrained model.
public enum ImageNet {
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]

    /// The evaluation preset: Resize(256) -> CenterCrop(224) -> ToTensor() -> Normalize(ImageNet).
    public static var evaluationTransform: Compose {
        Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean: mean, std: std)])
    }

    /// A standard training preset: RandomResizedCrop(224) -> RandomHorizontalFlip() -> ToTensor() -> Normalize.
    public static var trainingTransform: Compose {
        Compose([RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(), Normalize(mean: mean, std: std)])
    }
}

extension Image {
    /// A `[C, H, W]` Float tensor with values in [0, 1].
    public func toTensor() -> Tensor {
        let c = channels, plane = width * height
        return pixels.withUnsafeBufferPointer { src in
            Tensor.make(shape: [c, height, width]) { dst in
                let scale: Float = 1 / 255
                if c == 1 {
                    for i in 0..<plane { dst[i] = Float(src[i]) * scale }
                } else {
                    for i in 0..<plane { for ch in 0..<c { dst[ch * plane + i] = Float(src[i * c + ch]) * scale } }
                }
            }
        }
    }

    /// An image from a `[C, H, W]` (C = 1, 3 or 4) or `[H, W]` Float tensor in [0, 1]; with `mean`
    /// and `std` the tensor is un-normalised first (`x * std + mean`). Values are clamped and
    /// rounded to 8 bits.
    public init(tensor: Tensor, mean: [Float]? = nil, std: [Float]? = nil,
                file: StaticString = #fileID, line: UInt = #line) {
        guard tensor.dtype == .float32, tensor.rank == 2 || (tensor.rank == 3 && [1, 3, 4].contains(tensor.shape[0])) else {
            visionFailure("Image(tensor:)", "expects a Float tensor [C, H, W] with C in 1, 3, 4 (or [H, W]), got \(tensor.dtype) \(describe(shape: tensor.shape))",
                          file: file, line: line)
        }
        let c = tensor.rank == 3 ? tensor.shape[0] : 1
        let h = tensor.shape[tensor.rank - 2], w = tensor.shape[tensor.rank - 1]
        let mean = mean ?? [0], std = std ?? [1]
        guard (mean.count == 1 || mean.count == c), (std.count == 1 || std.count == c) else {
            visionFailure("Image(tensor:)", "mean/std have \(mean.count)/\(std.count) values for \(c) channels", file: file, line: line)
        }
        let plane = h * w
        self = tensor.withUnsafeBufferPointer { src in
            Image.make(width: w, height: h, channels: c) { dst in
                for ch in 0..<c {
                    let m = mean.count == 1 ? mean[0] : mean[ch], s = std.count == 1 ? std[0] : std[ch]
                    for i in 0..<plane {
                        let v = (src[ch * plane + i] * s + m) * 255 + 0.5
                        dst[i * c + ch] = v.isNaN ? 0 : UInt8(max(0, min(255, v)))
                    }
                }
            }
        }
    }
}
