import Foundation
import Torch

// torchvision's argument labels and tuple/list forms, next to the Swift ones, so a transform
// typed from a PyTorch tutorial compiles: `Resize([224, 224])`, `RandomRotation(degrees: 15)`,
// `RandomResizedCrop(size: 224, scale: (0.8, 1.0))`, `Normalize([0.485, ...], [0.229, ...])`.
// torchvision's `size` is an int (the shorter side, or a square crop) or a `(h, w)` sequence;
// its ranges are `(min, max)` tuples where Swift spells a `ClosedRange`.

/// A torchvision `(min, max)` tuple as a range; stops with the transform's name when reversed.
func closedRange(_ pair: (Double, Double), _ op: String, _ label: String, file: StaticString, line: UInt) -> ClosedRange<Double> {
    guard pair.0 <= pair.1 else {
        visionFailure(op, "\(label) should be (min, max) with min <= max, got (\(pair.0), \(pair.1))", file: file, line: line)
    }
    return pair.0...pair.1
}

/// A torchvision size sequence `[h, w]` (or `[s]` for a square), as (height, width).
func heightWidth(_ size: [Int], _ op: String, file: StaticString, line: UInt) -> (Int, Int) {
    switch size.count {
    case 1: return (size[0], size[0])
    case 2: return (size[0], size[1])
    default: visionFailure(op, "size should be [size] or [height, width], got \(size)", file: file, line: line)
    }
}

extension Resize {
    /// `Resize(size: 256)`: the shorter side to 256 (`transforms.Resize(size=256)`).
    public init(size: Int) { self.init(size) }

    /// `Resize([224, 224])`: exactly height x width, as `transforms.Resize([224, 224])`; a
    /// one-element list `[256]` sets the shorter side, as in torchvision.
    public init(_ size: [Int], file: StaticString = #fileID, line: UInt = #line) {
        switch size.count {
        case 1: self.init(size[0])
        case 2: self.init(height: size[0], width: size[1])
        default: visionFailure("Resize", "size should be [shorter side] or [height, width], got \(size)", file: file, line: line)
        }
    }

    /// `Resize(size: [224, 224])`.
    public init(size: [Int], file: StaticString = #fileID, line: UInt = #line) { self.init(size, file: file, line: line) }

    /// `Resize((224, 224))`: exactly height x width, as torchvision's tuple form.
    public init(_ size: (Int, Int)) { self.init(height: size.0, width: size.1) }

    /// `Resize(size: (224, 224))`.
    public init(size: (Int, Int)) { self.init(height: size.0, width: size.1) }
}

extension CenterCrop {
    /// `CenterCrop(size: 224)`, as `transforms.CenterCrop(size=224)`.
    public init(size: Int) { self.init(size) }
    /// `CenterCrop([224, 224])`: height x width.
    public init(_ size: [Int], file: StaticString = #fileID, line: UInt = #line) {
        let (h, w) = heightWidth(size, "CenterCrop", file: file, line: line)
        self.init(height: h, width: w)
    }
    /// `CenterCrop(size: [224, 224])`.
    public init(size: [Int], file: StaticString = #fileID, line: UInt = #line) { self.init(size, file: file, line: line) }
    /// `CenterCrop((224, 224))`.
    public init(_ size: (Int, Int)) { self.init(height: size.0, width: size.1) }
}

extension RandomCrop {
    /// `RandomCrop(size: 32, padding: 4)`, as `transforms.RandomCrop(size=32, padding=4)`.
    public init(size: Int, padding: Int = 0, padIfNeeded: Bool = false, fill: Float = 0) {
        self.init(size, padding: padding, padIfNeeded: padIfNeeded, fill: fill)
    }
    /// `RandomCrop([h, w], padding: 4)`.
    public init(_ size: [Int], padding: Int = 0, padIfNeeded: Bool = false, fill: Float = 0,
                file: StaticString = #fileID, line: UInt = #line) {
        let (h, w) = heightWidth(size, "RandomCrop", file: file, line: line)
        self.init(height: h, width: w, padding: (padding, padding, padding, padding), padIfNeeded: padIfNeeded, fill: fill)
    }
}

extension RandomResizedCrop {
    /// `RandomResizedCrop(size: 224, scale: (0.8, 1.0))`, torchvision's labels and `(min, max)`
    /// tuples (`scale=(0.08, 1.0)`, `ratio=(3/4, 4/3)` by default).
    public init(size: Int, scale: (Double, Double) = (0.08, 1.0), ratio: (Double, Double) = (3.0 / 4, 4.0 / 3),
                file: StaticString = #fileID, line: UInt = #line) {
        self.init(height: size, width: size, scale: closedRange(scale, "RandomResizedCrop", "scale", file: file, line: line),
                  ratio: closedRange(ratio, "RandomResizedCrop", "ratio", file: file, line: line))
    }

    /// `RandomResizedCrop(size: [h, w], scale: (0.8, 1.0))`.
    public init(size: [Int], scale: (Double, Double) = (0.08, 1.0), ratio: (Double, Double) = (3.0 / 4, 4.0 / 3),
                file: StaticString = #fileID, line: UInt = #line) {
        let (h, w) = heightWidth(size, "RandomResizedCrop", file: file, line: line)
        self.init(height: h, width: w, scale: closedRange(scale, "RandomResizedCrop", "scale", file: file, line: line),
                  ratio: closedRange(ratio, "RandomResizedCrop", "ratio", file: file, line: line))
    }

    /// `RandomResizedCrop(224, scale: (0.8, 1.0))`: the size unlabelled, the ranges as tuples.
    public init(_ size: Int, scale: (Double, Double), ratio: (Double, Double) = (3.0 / 4, 4.0 / 3),
                file: StaticString = #fileID, line: UInt = #line) {
        self.init(size: size, scale: scale, ratio: ratio, file: file, line: line)
    }
}

extension RandomRotation {
    /// `RandomRotation(degrees: 15)`: angles in [-15, 15], as `transforms.RandomRotation(degrees=15)`.
    public init(degrees: Double, interpolation: Image.Interpolation = .nearest, fill: [UInt8] = [0]) {
        self.init(degrees, interpolation: interpolation, fill: fill)
    }

    /// `RandomRotation(degrees: (-10, 30))`: angles in [min, max].
    public init(degrees: (Double, Double), interpolation: Image.Interpolation = .nearest, fill: [UInt8] = [0],
                file: StaticString = #fileID, line: UInt = #line) {
        self.init(range: closedRange(degrees, "RandomRotation", "degrees", file: file, line: line),
                  interpolation: interpolation, fill: fill)
    }

    /// `RandomRotation((-10, 30))`.
    public init(_ degrees: (Double, Double), interpolation: Image.Interpolation = .nearest, fill: [UInt8] = [0],
                file: StaticString = #fileID, line: UInt = #line) {
        self.init(degrees: degrees, interpolation: interpolation, fill: fill, file: file, line: line)
    }
}

extension Normalize {
    /// `Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`: mean and std unlabelled, as
    /// torchvision allows.
    public init(_ mean: [Float], _ std: [Float]) { self.init(mean: mean, std: std) }
}

extension Grayscale {
    /// `Grayscale(3)`, as `transforms.Grayscale(3)`.
    public init(_ numOutputChannels: Int) { self.init(numOutputChannels: numOutputChannels) }
}

extension DataLoader {
    /// `DataLoader(dataset: ds, batchSize: 32, shuffle: true)`, as
    /// `DataLoader(dataset=ds, batch_size=32, shuffle=True)`.
    public convenience init(dataset: any Dataset, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            numWorkers: Int = 0, prefetchFactor: Int = 2, seed: UInt64? = nil, generator: Torch.Generator? = nil,
                            transform: (any Transform)? = nil, file: StaticString = #fileID, line: UInt = #line) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, dropLast: dropLast, numWorkers: numWorkers,
                  prefetchFactor: prefetchFactor, seed: seed, generator: generator, transform: transform, file: file, line: line)
    }
}
