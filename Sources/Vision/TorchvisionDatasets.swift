import Foundation
import Torch

// torchvision's dataset classes by their own names and arguments: `CIFAR10(root: "data",
// train: true, download: true, transform: t)`. Nothing is downloaded here (no code may reach the
// internet): with `download: true` the files must already be under `root`, and when they are not
// the error says which archive to fetch and where to extract it. Both argument orders of the
// tutorials are accepted (`download:` before or after `transform:`).

/// Where a CIFAR split's binary files are, and the message for when they are not.
enum CIFARFiles {
    static func missing(_ variant: CIFAR.Variant, root: URL, train: Bool, download: Bool) -> VisionError? {
        let (folder, archive, python) = names(variant)
        let first: String
        switch variant {
        case .cifar10: first = train ? "data_batch_1.bin" : "test_batch.bin"
        case .cifar100: first = train ? "train.bin" : "test.bin"
        }
        let fm = FileManager.default
        let candidates = [root.appendingPathComponent(folder).appendingPathComponent(first), root.appendingPathComponent(first)]
        if candidates.contains(where: { fm.fileExists(atPath: $0.path) }) { return nil }
        let name = { if case .cifar10 = variant { return "CIFAR10" } else { return "CIFAR100" } }()
        var message = download
            ? "\(name)(download: true): the dataset is not under \(root.path), and nothing is downloaded here (no internet at run time). "
            : "\(name): the dataset is not under \(root.path). "
        message += "Fetch the binary version, \(archive) from https://www.cs.toronto.edu/~kriz/cifar.html, on a machine with internet, "
            + "and extract it into \(root.path) (so that \(root.appendingPathComponent(folder).appendingPathComponent(first).path) exists)"
        if fm.fileExists(atPath: root.appendingPathComponent(python).path) {
            message += "; the folder \(python) found there is the Python (pickle) version, which this engine does not read"
        }
        return VisionError(file: root.path, message)
    }

    static func names(_ variant: CIFAR.Variant) -> (folder: String, archive: String, python: String) {
        switch variant {
        case .cifar10: return ("cifar-10-batches-bin", "cifar-10-binary.tar.gz", "cifar-10-batches-py")
        case .cifar100: return ("cifar-100-binary", "cifar-100-binary.tar.gz", "cifar-100-python")
        }
    }
}

/// What `CIFAR10` and `CIFAR100` share: torchvision's initialisers over one `CIFAR` reader.
/// `download: true` downloads nothing: it fails with a message saying what to fetch and where to
/// put it when the files are missing. See `CIFAR` for the reader itself.
public protocol TorchvisionCIFAR: Dataset {
    static var variant: CIFAR.Variant { get }
    /// The underlying reader (`CIFAR`).
    var base: CIFAR { get }
    init(base: CIFAR)
}

extension TorchvisionCIFAR {
    /// `CIFAR10(root: "data", train: true, download: true, transform: t)`.
    public init(root: URL, train: Bool = true, download: Bool = false, transform: (any Transform)? = nil) throws {
        if let problem = CIFARFiles.missing(Self.variant, root: root, train: train, download: download) { throw problem }
        self.init(base: try CIFAR(Self.variant, root: root, train: train, transform: transform))
    }

    /// `CIFAR10(root: "data", train: true, download: true, transform: t)`, with the root as a path.
    public init(root: String, train: Bool = true, download: Bool = false, transform: (any Transform)? = nil) throws {
        try self.init(root: URL(fileURLWithPath: root), train: train, download: download, transform: transform)
    }

    /// torchvision's own argument order: `CIFAR10(root: "data", train: true, transform: t, download: true)`.
    public init(root: URL, train: Bool = true, transform: (any Transform)?, download: Bool) throws {
        try self.init(root: root, train: train, download: download, transform: transform)
    }

    /// torchvision's own argument order, with the root as a path.
    public init(root: String, train: Bool = true, transform: (any Transform)?, download: Bool) throws {
        try self.init(root: URL(fileURLWithPath: root), train: train, download: download, transform: transform)
    }

    public var count: Int { base.count }
    public var classes: [String] { base.classes }
    public var transform: (any Transform)? { base.transform }
    /// The raw 32x32 RGB image at `index`.
    public func image(at index: Int) -> Image { base.image(at: index) }
    public func label(at index: Int) -> Int { base.label(at: index) }
    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) { base.sample(at: index, generator: generator) }
}

/// CIFAR-10 (`torchvision.datasets.CIFAR10`): 50,000 training and 10,000 test 32x32 RGB images
/// in 10 classes, from the binary distribution (`cifar-10-batches-bin`) under `root`.
public struct CIFAR10: TorchvisionCIFAR {
    public static var variant: CIFAR.Variant { .cifar10 }
    public let base: CIFAR
    public init(base: CIFAR) { self.base = base }
}

/// CIFAR-100 (`torchvision.datasets.CIFAR100`): 100 fine classes, from the binary distribution
/// (`cifar-100-binary`) under `root`.
public struct CIFAR100: TorchvisionCIFAR {
    public static var variant: CIFAR.Variant { .cifar100(coarse: false) }
    public let base: CIFAR
    public init(base: CIFAR) { self.base = base }
}

extension CIFAR {
    /// `CIFAR(.cifar10, root: "data")`: the root as a path.
    public init(_ variant: Variant = .cifar10, root: String, train: Bool = true, transform: (any Transform)? = nil) throws {
        try self.init(variant, root: URL(fileURLWithPath: root), train: train, transform: transform)
    }
}

extension FashionMNIST {
    /// `FashionMNIST(root: "data", train: true, download: true, transform: t)`, as torchvision.
    /// `root` may hold the four IDX files (gzip-compressed or not) or torchvision's layout
    /// (`root/FashionMNIST/raw/...`). Nothing is downloaded: with the files missing the error says
    /// how to install them (`apt-get install dataset-fashion-mnist`, the default root).
    public init(root: String, train: Bool = true, download: Bool = false, transform: (any Transform)? = nil) throws {
        let url = URL(fileURLWithPath: root)
        let torchvisionLayout = url.appendingPathComponent("FashionMNIST/raw")
        let folder = FileManager.default.fileExists(atPath: torchvisionLayout.path) ? torchvisionLayout : url
        do {
            try self.init(train: train, root: folder, transform: transform)
        } catch let error as VisionError where download {
            throw VisionError(file: error.file, "FashionMNIST(download: true): nothing is downloaded here (no internet at run time). "
                              + error.message)
        }
    }

    /// torchvision's own argument order: `FashionMNIST(root: "data", train: true, transform: t, download: true)`.
    public init(root: String, train: Bool = true, transform: (any Transform)?, download: Bool) throws {
        try self.init(root: root, train: train, download: download, transform: transform)
    }
}
