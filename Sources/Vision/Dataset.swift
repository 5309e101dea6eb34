import Foundation
import Torch

/// A labelled collection of images or tensors, as `torch.utils.data.Dataset` for classification.
///
/// Implementations must be safe to read from several threads at once (DataLoader workers):
/// keep them immutable. Random transforms draw only from the `generator` passed in.
public protocol Dataset {
    /// Number of samples.
    var count: Int { get }
    /// Class names; label `i` is `classes[i]`.
    var classes: [String] { get }
    /// The sample at `index` (after the dataset's own transform, if any) and its label.
    func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int)
    /// The label of sample `index`, without decoding or transforming it.
    func label(at index: Int) -> Int
}

extension Dataset {
    /// The sample at `index`, drawing randomness from `Generator.default` (interactive use;
    /// the DataLoader gives each sample its own generator instead).
    public subscript(index: Int) -> (ImageOrTensor, Int) {
        sample(at: index, generator: Generator.default)
    }

    /// Class name -> label.
    public var classToIndex: [String: Int] {
        Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
    }

    /// Every sample's label, in order.
    public var labels: [Int] { (0..<count).map { label(at: $0) } }

    /// The same samples passed through `transform` (e.g. training augmentation on one split of
    /// `randomSplit`, evaluation preprocessing on the other).
    public func transformed(by transform: any Transform) -> TransformedDataset {
        TransformedDataset(self, transform: transform)
    }

    /// Only the samples of `keptClasses` (labels), relabelled 0..<keptClasses.count in the order
    /// given, with their class names: `selectingClasses(Array(5...9))` is "task B" of a split
    /// Fashion-MNIST.
    public func selectingClasses(_ keptClasses: [Int], file: StaticString = #fileID, line: UInt = #line) -> ClassSubset {
        ClassSubset(self, classes: keptClasses, file: file, line: line)
    }
}

@inline(__always)
func checkIndex(_ index: Int, _ count: Int, _ op: String) {
    if index < 0 || index >= count {
        visionFailure(op, "index \(index) is out of range for a dataset of \(count) samples", file: #fileID, line: #line)
    }
}

/// Applies an optional transform to a dataset's raw sample.
@inline(__always)
func applying(_ transform: (any Transform)?, _ value: ImageOrTensor, _ generator: Generator) -> ImageOrTensor {
    transform.map { $0(value, generator: generator) } ?? value
}

/// A dataset's samples passed through a transform.
public struct TransformedDataset: Dataset {
    public let base: any Dataset
    public let transform: any Transform

    public init(_ base: any Dataset, transform: any Transform) {
        self.base = base
        self.transform = transform
    }

    public var count: Int { base.count }
    public var classes: [String] { base.classes }
    public func label(at index: Int) -> Int { base.label(at: index) }
    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        let (value, label) = base.sample(at: index, generator: generator)
        return (transform(value, generator: generator), label)
    }
}

/// The samples of `base` at `indices`, in that order, as `torch.utils.data.Subset`.
public struct Subset: Dataset {
    public let base: any Dataset
    public let indices: [Int]

    public init(_ base: any Dataset, indices: [Int], file: StaticString = #fileID, line: UInt = #line) {
        if let bad = indices.first(where: { $0 < 0 || $0 >= base.count }) {
            visionFailure("Subset", "index \(bad) is out of range for a dataset of \(base.count) samples", file: file, line: line)
        }
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public var classes: [String] { base.classes }
    public func label(at index: Int) -> Int {
        checkIndex(index, indices.count, "Subset")
        return base.label(at: indices[index])
    }
    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        checkIndex(index, indices.count, "Subset")
        return base.sample(at: indices[index], generator: generator)
    }
}

/// The samples of some classes of `base`, relabelled 0..<k in the order the classes were given.
public struct ClassSubset: Dataset {
    public let base: any Dataset
    /// Labels of `base` that were kept; new label `i` is old label `keptClasses[i]`.
    public let keptClasses: [Int]
    /// Indices into `base`, in their original order.
    public let indices: [Int]
    public let classes: [String]
    private let relabel: [Int: Int]

    public init(_ base: any Dataset, classes kept: [Int], file: StaticString = #fileID, line: UInt = #line) {
        let names = base.classes
        if let bad = kept.first(where: { $0 < 0 || $0 >= names.count }) {
            visionFailure("selectingClasses", "class \(bad) does not exist; the dataset has \(names.count) classes", file: file, line: line)
        }
        guard Set(kept).count == kept.count else {
            visionFailure("selectingClasses", "classes \(kept) contain duplicates", file: file, line: line)
        }
        self.base = base
        keptClasses = kept
        classes = kept.map { names[$0] }
        let map = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        relabel = map
        indices = (0..<base.count).filter { map[base.label(at: $0)] != nil }
    }

    public var count: Int { indices.count }
    public func label(at index: Int) -> Int {
        checkIndex(index, indices.count, "ClassSubset")
        return relabel[base.label(at: indices[index])]!
    }
    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        checkIndex(index, indices.count, "ClassSubset")
        let (value, old) = base.sample(at: indices[index], generator: generator)
        return (value, relabel[old]!)
    }
}

/// Splits a dataset into non-overlapping random subsets of the given sizes, as
/// `torch.utils.data.random_split`.
public func randomSplit(_ dataset: any Dataset, lengths: [Int], generator: Generator,
                        file: StaticString = #fileID, line: UInt = #line) -> [Subset] {
    guard lengths.allSatisfy({ $0 >= 0 }), lengths.reduce(0, +) == dataset.count else {
        visionFailure("randomSplit", "lengths \(lengths) must be non-negative and sum to the dataset size \(dataset.count)",
                      file: file, line: line)
    }
    let permutation = generator.permutation(dataset.count)
    var start = 0
    return lengths.map { length in
        defer { start += length }
        return Subset(dataset, indices: Array(permutation[start..<(start + length)]))
    }
}

/// Splits by fractions summing to 1 with PyTorch's rounding: each part gets floor(n * fraction),
/// then the remaining samples go one each to the parts in order, round-robin.
public func randomSplit(_ dataset: any Dataset, fractions: [Double], generator: Generator,
                        file: StaticString = #fileID, line: UInt = #line) -> [Subset] {
    guard !fractions.isEmpty, fractions.allSatisfy({ $0 >= 0 && $0 <= 1 }), abs(fractions.reduce(0, +) - 1) < 1e-6 else {
        visionFailure("randomSplit", "fractions \(fractions) must be in [0, 1] and sum to 1", file: file, line: line)
    }
    let lengths = splitLengths(count: dataset.count, fractions: fractions)
    return randomSplit(dataset, lengths: lengths, generator: generator, file: file, line: line)
}

/// PyTorch's `random_split` sizes for fractions.
public func splitLengths(count n: Int, fractions: [Double]) -> [Int] {
    var lengths = fractions.map { Int((Double(n) * $0).rounded(.down)) }
    let remainder = n - lengths.reduce(0, +)
    for i in 0..<remainder { lengths[i % lengths.count] += 1 }
    return lengths
}

/// `shots` random samples of every class (seeded), as a few-shot training set: class by class,
/// each class's picks in dataset order. Throws if a class has fewer than `shots` samples.
public func kShotSubset(_ dataset: any Dataset, shots: Int, generator: Generator,
                        file: StaticString = #fileID, line: UInt = #line) throws -> Subset {
    guard shots > 0 else { visionFailure("kShotSubset", "shots must be positive, got \(shots)", file: file, line: line) }
    var byClass = [[Int]](repeating: [], count: dataset.classes.count)
    for i in 0..<dataset.count {
        let label = dataset.label(at: i)
        guard label >= 0 && label < byClass.count else {
            throw VisionError("sample \(i) has label \(label), outside the \(byClass.count) classes")
        }
        byClass[label].append(i)
    }
    var picked: [Int] = []
    for (label, members) in byClass.enumerated() {
        guard members.count >= shots else {
            throw VisionError("class \(label) ('\(dataset.classes[label])') has \(members.count) samples, fewer than the \(shots) shots asked for")
        }
        let order = generator.permutation(members.count)
        picked += order.prefix(shots).sorted().map { members[$0] }
    }
    return Subset(dataset, indices: picked)
}
