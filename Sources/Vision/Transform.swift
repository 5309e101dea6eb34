import Torch

/// What flows through a transform pipeline: an 8-bit image before `ToTensor()`, a Float tensor
/// after it (torchvision likewise mixes PIL images and tensors in one `Compose`).
public enum ImageOrTensor {
    case image(Image)
    case tensor(Tensor)

    /// The image; stops with a clear message if this is a tensor.
    public var image: Image {
        switch self {
        case .image(let image): return image
        case .tensor(let tensor):
            visionFailure("ImageOrTensor.image", "expected an Image but got a tensor of shape \(describe(shape: tensor.shape))",
                          file: #fileID, line: #line)
        }
    }

    /// The tensor; stops with a clear message if this is still an image (add `ToTensor()`).
    public var tensor: Tensor {
        switch self {
        case .tensor(let tensor): return tensor
        case .image(let image):
            visionFailure("ImageOrTensor.tensor", "expected a Tensor but got a \(image.summary) Image; add ToTensor() to the transforms",
                          file: #fileID, line: #line)
        }
    }

    /// "Image 28x28 gray" or "Tensor [1, 28, 28]", for error messages.
    public var summary: String {
        switch self {
        case .image(let image): return "Image \(image.summary)"
        case .tensor(let tensor): return "Tensor \(describe(shape: tensor.shape))"
        }
    }
}

/// A (possibly random) transformation of an image or tensor, as in `torchvision.transforms`.
/// All randomness comes from `generator`, so a pipeline is reproducible and safe to run on many
/// threads at once (each DataLoader sample gets its own generator).
public protocol Transform {
    func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor
}

extension Transform {
    /// Applies the transform to an image. Without a generator the process-wide default is used
    /// (fine interactively; not from worker threads).
    public func callAsFunction(_ image: Image, generator: Generator? = nil) -> ImageOrTensor {
        self(.image(image), generator: generator ?? Generator.default)
    }

    /// Applies the transform to a tensor.
    public func callAsFunction(_ tensor: Tensor, generator: Generator? = nil) -> ImageOrTensor {
        self(.tensor(tensor), generator: generator ?? Generator.default)
    }

    var name: String { String(describing: type(of: self)) }
}

/// A transform of images only (before `ToTensor()`).
public protocol ImageTransform: Transform {
    func apply(_ image: Image, generator: Generator) -> Image
}

/// A transform of Float tensors only (after `ToTensor()`).
public protocol TensorTransform: Transform {
    func apply(_ tensor: Tensor, generator: Generator) -> Tensor
}

extension ImageTransform {
    public func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor {
        switch input {
        case .image(let image): return .image(apply(image, generator: generator))
        case .tensor(let tensor):
            visionFailure(name, "works on images, got a tensor of shape \(describe(shape: tensor.shape)); put it before ToTensor()",
                          file: #fileID, line: #line)
        }
    }
}

extension TensorTransform {
    public func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor {
        switch input {
        case .tensor(let tensor): return .tensor(apply(tensor, generator: generator))
        case .image(let image):
            visionFailure(name, "works on tensors, got a \(image.summary) Image; put ToTensor() before it",
                          file: #fileID, line: #line)
        }
    }
}

/// A transform with both an image and a tensor version (crops, flips).
public protocol ImageAndTensorTransform: ImageTransform, TensorTransform {}

extension ImageAndTensorTransform {
    public func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor {
        switch input {
        case .image(let image): return .image(apply(image, generator: generator))
        case .tensor(let tensor): return .tensor(apply(tensor, generator: generator))
        }
    }
}

/// Applies transforms in order, as `transforms.Compose`.
public struct Compose: Transform {
    public let transforms: [any Transform]

    public init(_ transforms: [any Transform]) { self.transforms = transforms }

    public func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor {
        var value = input
        for transform in transforms { value = transform(value, generator: generator) }
        return value
    }
}

/// A transform from a closure, as `transforms.Lambda`.
public struct Lambda: Transform {
    let body: (ImageOrTensor, Generator) -> ImageOrTensor

    public init(_ body: @escaping (ImageOrTensor, Generator) -> ImageOrTensor) { self.body = body }

    public func callAsFunction(_ input: ImageOrTensor, generator: Generator) -> ImageOrTensor { body(input, generator) }
}

extension Generator {
    /// Uniform in [low, high), as `torch.empty(1).uniform_(low, high)`.
    func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextDouble() }
}
