import Foundation
import Torch
import Vision

/// Images already decoded into one tensor, with their labels: the in-memory form every recipe
/// trains on (the whole of Fashion-MNIST is 47 MB as floats, so there is no reason to decode
/// samples one by one in the training loop).
public struct LabelledImages {
    /// `[N, C, H, W]` raw pixels in [0, 1] (not normalised; see `FashionNormalization`).
    public let images: Tensor
    /// Int64 `[N]` class indices.
    public let labels: Tensor
    /// Class names; label `i` is `classes[i]`.
    public let classes: [String]

    public init(images: Tensor, labels: Tensor, classes: [String], file: StaticString = #fileID, line: UInt = #line) {
        guard images.rank == 4, images.dtype == .float32 else {
            engineFailure("LabelledImages", "images must be a Float [N, C, H, W] tensor, got \(images.dtype) \(images.shape)", file: file, line: line)
        }
        guard labels.rank == 1, labels.dtype == .int64, labels.shape[0] == images.shape[0] else {
            engineFailure("LabelledImages", "labels must be Int64 [\(images.shape[0])], got \(labels.dtype) \(labels.shape)", file: file, line: line)
        }
        if let bad = labels.int64Scalars.first(where: { $0 < 0 || Int($0) >= classes.count }) {
            engineFailure("LabelledImages", "label \(bad) is not one of the \(classes.count) classes", file: file, line: line)
        }
        self.images = images
        self.labels = labels
        self.classes = classes
    }

    public var count: Int { images.shape[0] }
    /// The labels as Swift integers.
    public var labelArray: [Int] { labels.int64Scalars.map { Int($0) } }

    /// The images and labels at `indices`, in that order.
    public func batch(_ indices: [Int]) -> (images: Tensor, labels: Tensor) {
        let per = images.shape[1] * images.shape[2] * images.shape[3]
        let out = images.withUnsafeBufferPointer { src in
            Tensor.make(shape: [indices.count] + Array(images.shape.dropFirst())) { dst in
                for (row, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "LabelledImages.batch: index \(i) out of range 0..<\(count)")
                    (dst.baseAddress! + row * per).update(from: src.baseAddress! + i * per, count: per)
                }
            }
        }
        let all = labels.int64Scalars
        return (out, Tensor(shape: [indices.count], int64Scalars: indices.map { all[$0] }))
    }

    /// A new set holding the samples at `indices`.
    public func subset(_ indices: [Int]) -> LabelledImages {
        let (x, y) = batch(indices)
        return LabelledImages(images: x, labels: y, classes: classes)
    }

    /// The first `n` samples (or all of them).
    public func prefix(_ n: Int) -> LabelledImages { subset(Array(0..<Swift.min(n, count))) }

    /// `k` samples of every class, drawn with `seed` (stratified: the same `k` and `seed` always
    /// give the same images), class by class, each class's picks in their original order.
    public func kShot(_ k: Int, seed: UInt64, file: StaticString = #fileID, line: UInt = #line) -> LabelledImages {
        var byClass = [[Int]](repeating: [], count: classes.count)
        for (i, label) in labelArray.enumerated() { byClass[label].append(i) }
        let generator = Generator(seed: seed)
        var picked: [Int] = []
        for (c, members) in byClass.enumerated() {
            guard members.count >= k else {
                engineFailure("kShot", "class \(c) (\(classes[c])) has \(members.count) samples, fewer than k = \(k)", file: file, line: line)
            }
            picked += generator.permutation(members.count).prefix(k).sorted().map { members[$0] }
        }
        return subset(picked)
    }

    /// Samples per class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for l in labelArray { counts[l] += 1 }
        return counts
    }
}

/// The pixel statistics of Fashion-MNIST's training images; every recipe normalises with them,
/// before pre-training and after, so a transferred backbone sees inputs like the ones it learnt on.
public enum FashionNormalization {
    public static let mean: Float = 0.2860
    public static let std: Float = 0.3530

    /// `(x - mean) / std`, elementwise (no autograd: inputs never need gradients).
    public static func apply(_ images: Tensor) -> Tensor {
        let m = mean, inv = 1 / std
        return images.withUnsafeBufferPointer { src in
            Tensor.make(shape: images.shape) { dst in for i in 0..<src.count { dst[i] = (src[i] - m) * inv } }
        }
    }
}

/// The course's split of Fashion-MNIST into two tasks of five classes each: A (tops, trousers,
/// dresses, coats: the source task the model is pre-trained on) and B (sandals, shirts, sneakers,
/// bags, ankle boots: the target task it is transferred to).
public enum FashionTask: String, CaseIterable, Sendable {
    case a = "A"
    case b = "B"

    /// Fashion-MNIST labels in this task; new label `i` is old label `originalClasses[i]`.
    public var originalClasses: [Int] { self == .a ? [0, 1, 2, 3, 4] : [5, 6, 7, 8, 9] }
    public var classNames: [String] { originalClasses.map { FashionMNIST.classNames[$0] } }

    /// The task's training (30,000 images) or test (5,000) split, relabelled 0...4.
    public func load(train: Bool, root: URL = FashionMNIST.defaultRoot) throws -> LabelledImages {
        try load(from: FashionMNIST(train: train, root: root))
    }

    /// The task's samples of an already loaded Fashion-MNIST split.
    public func load(from dataset: FashionMNIST) -> LabelledImages {
        let data = dataset.data
        let relabel = Dictionary(uniqueKeysWithValues: originalClasses.enumerated().map { ($1, $0) })
        let kept = (0..<data.count).filter { relabel[Int(data.targets[$0])] != nil }
        let size = data.height * data.width
        let images = data.pixels.withUnsafeBufferPointer { src in
            Tensor.make(shape: [kept.count, 1, data.height, data.width]) { dst in
                for (row, i) in kept.enumerated() {
                    for p in 0..<size { dst[row * size + p] = Float(src[i * size + p]) / 255 }
                }
            }
        }
        let labels = Tensor(shape: [kept.count], int64Scalars: kept.map { Int64(relabel[Int(data.targets[$0])]!) })
        return LabelledImages(images: images, labels: labels, classes: classNames)
    }
}
