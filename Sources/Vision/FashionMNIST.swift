import Foundation
import Torch

/// Images and labels in the MNIST IDX layout: `[N, H, W]` unsigned bytes and `[N]` labels.
/// Samples are `H x W` gray `Image`s (apply `ToTensor()` for tensors).
public struct IDXImageDataset: Dataset {
    public let classes: [String]
    public let count: Int
    public let height: Int
    public let width: Int
    /// All pixels, `[N, H, W]` row-major.
    public let pixels: [UInt8]
    /// All labels.
    public let targets: [UInt8]
    public let transform: (any Transform)?

    /// Reads and validates an images file and a labels file (raw or gzip).
    public init(images: URL, labels: URL, classes: [String], transform: (any Transform)? = nil) throws {
        let imageArray = try IDX.read(images)
        let labelArray = try IDX.read(labels)
        guard imageArray.shape.count == 3 else {
            throw VisionError(file: images.path, "expected 3 dimensions [N, H, W] for images, found \(imageArray.shape)")
        }
        guard labelArray.shape.count == 1 else {
            throw VisionError(file: labels.path, "expected 1 dimension [N] for labels, found \(labelArray.shape)")
        }
        guard imageArray.shape[0] == labelArray.shape[0] else {
            throw VisionError(file: labels.path, "\(labelArray.shape[0]) labels for \(imageArray.shape[0]) images in \(images.lastPathComponent)")
        }
        if let bad = labelArray.bytes.firstIndex(where: { Int($0) >= classes.count }) {
            throw VisionError(file: labels.path, "label \(labelArray.bytes[bad]) of sample \(bad) is not one of the \(classes.count) classes")
        }
        self.classes = classes
        count = imageArray.shape[0]
        height = imageArray.shape[1]
        width = imageArray.shape[2]
        pixels = imageArray.bytes
        targets = labelArray.bytes
        self.transform = transform
    }

    /// The raw image at `index`.
    public func image(at index: Int) -> Image {
        checkIndex(index, count, "IDXImageDataset")
        let size = height * width
        // Borrowing the buffer (rather than slicing the array) avoids touching its shared
        // reference count, which worker threads would otherwise contend on.
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: height, channels: 1) { dst in
                dst.baseAddress!.update(from: src.baseAddress! + index * size, count: size)
            }
        }
    }

    public func label(at index: Int) -> Int {
        checkIndex(index, count, "IDXImageDataset")
        return Int(targets[index])
    }

    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        (applying(transform, .image(image(at: index)), generator), label(at: index))
    }

    /// Every image as one `[N, 1, H, W]` Float tensor in [0, 1] and the labels as Int64 `[N]`.
    public func tensors() -> (images: Tensor, labels: Tensor) {
        let images = pixels.withUnsafeBufferPointer { src in
            Tensor.make(shape: [count, 1, height, width]) { dst in
                for i in 0..<src.count { dst[i] = Float(src[i]) / 255 }
            }
        }
        let labels = Tensor.makeInt64(shape: [count]) { dst in for i in 0..<count { dst[i] = Int64(targets[i]) } }
        return (images, labels)
    }
}

/// Fashion-MNIST (Zalando): 28x28 gray images of 10 clothing classes, 60,000 for training and
/// 10,000 for testing, read from the Debian package `dataset-fashion-mnist` by default.
/// Samples are `Image`s until a transform makes them tensors.
public struct FashionMNIST: Dataset {
    /// Where `apt-get install dataset-fashion-mnist` puts the files.
    public static let defaultRoot = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Per-pixel mean and standard deviation of the training images (for `Normalize`).
    public static let mean: [Float] = [0.2860]
    public static let std: [Float] = [0.3530]

    /// The images and labels.
    public let data: IDXImageDataset

    /// The training (`train: true`) or test split. Files may be gzip-compressed or not.
    public init(train: Bool = true, root: URL = FashionMNIST.defaultRoot, transform: (any Transform)? = nil) throws {
        let prefix = train ? "train" : "t10k"
        func locate(_ name: String) throws -> URL {
            for candidate in [name + ".gz", name] {
                let url = root.appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
            throw VisionError(file: root.appendingPathComponent(name + ".gz").path,
                              "Fashion-MNIST is not installed here. Install it with `sudo apt-get install dataset-fashion-mnist`, or pass root: pointing at a folder with \(name)(.gz)")
        }
        let images = try locate("\(prefix)-images-idx3-ubyte")
        let labels = try locate("\(prefix)-labels-idx1-ubyte")
        data = try IDXImageDataset(images: images, labels: labels, classes: Self.classNames, transform: transform)
    }

    /// True when the Debian package's files are present.
    public static var isInstalled: Bool {
        FileManager.default.fileExists(atPath: defaultRoot.appendingPathComponent("train-images-idx3-ubyte.gz").path)
    }

    public var count: Int { data.count }
    public var classes: [String] { data.classes }
    public func label(at index: Int) -> Int { data.label(at: index) }
    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) { data.sample(at: index, generator: generator) }
    /// The raw 28x28 image at `index`.
    public func image(at index: Int) -> Image { data.image(at: index) }
    /// Every image as `[N, 1, 28, 28]` Float in [0, 1], and the Int64 labels.
    public func tensors() -> (images: Tensor, labels: Tensor) { data.tensors() }
}
