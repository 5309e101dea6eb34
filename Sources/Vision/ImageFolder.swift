import Dispatch
import Foundation
import Torch

/// Problems found while loading a dataset from disk: every bad file is listed, not just the first.
public struct DatasetLoadingError: Error, CustomStringConvertible, LocalizedError {
    public let root: String
    public let problems: [VisionError]

    public var description: String {
        "\(root): \(problems.count) problem\(problems.count == 1 ? "" : "s") found while loading the dataset:\n"
            + problems.map { "  \($0)" }.joined(separator: "\n")
    }
    public var errorDescription: String? { description }
}

/// Images stored one sub-folder per class (`root/cat/001.jpg`, `root/dog/xyz.png`), as
/// `torchvision.datasets.ImageFolder`: class names are the sorted folder names, files are found
/// recursively and sorted, and only the given extensions are kept (case-insensitive). As with
/// torchvision's default loader, every image is converted to RGB (gray replicated, alpha
/// dropped); `loader: .asStored` keeps the channels of the file.
public struct ImageFolder: Dataset {
    /// Turns a decoded file into the sample image (torchvision's `loader`).
    public struct Loader: Sendable {
        let convert: @Sendable (Image) -> Image

        /// A custom conversion of each decoded image.
        public init(_ convert: @escaping @Sendable (Image) -> Image) { self.convert = convert }

        /// RGB, as torchvision's default loader (`PIL.Image.open(path).convert("RGB")`).
        public static let rgb = Loader { $0.rgb() }
        /// The file's own channels (1 for gray PNGs, 4 with alpha).
        public static let asStored = Loader { $0 }
        /// One gray channel (`convert("L")`).
        public static let grayscale = Loader { $0.grayscale() }
    }

    public let root: URL
    public let classes: [String]
    /// Every image file and its label, sorted by class then path.
    public let samples: [(url: URL, label: Int)]
    public let transform: (any Transform)?
    public let limits: ImageDecodingLimits
    public let loader: Loader

    public static let defaultExtensions = ["jpg", "jpeg", "png"]

    /// Scans `root`. With `verify` (the default) every file is decoded once, in parallel, and all
    /// unreadable files are reported together in one `DatasetLoadingError`, so a damaged file
    /// fails at load time rather than in the middle of an epoch.
    public init(root: URL, extensions: [String] = ImageFolder.defaultExtensions, transform: (any Transform)? = nil,
                loader: Loader = .rgb, verify: Bool = true, limits: ImageDecodingLimits = .default) throws {
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw VisionError(file: root.path, "no such folder")
        }
        let allowed = Set(extensions.map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".")) })
        let entries: [String]
        do {
            entries = try fm.contentsOfDirectory(atPath: root.path)
        } catch {
            throw VisionError(file: root.path, "cannot list the folder: \(Image.reason(error))")
        }
        let classNames = entries.filter { name in
            var folder: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &folder) && folder.boolValue
        }.sorted()
        guard !classNames.isEmpty else {
            throw VisionError(file: root.path, "no class sub-folders (ImageFolder expects root/<class>/<image>)")
        }
        var problems: [VisionError] = []
        var samples: [(url: URL, label: Int)] = []
        for (label, name) in classNames.enumerated() {
            let folder = root.appendingPathComponent(name)
            var files: [URL] = []
            if let walker = fm.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [],
                                          errorHandler: { url, error in
                                              problems.append(VisionError(file: url.path, "cannot list: \(Image.reason(error))"))
                                              return true
                                          }) {
                for case let url as URL in walker where allowed.contains(url.pathExtension.lowercased()) {
                    if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { files.append(url) }
                }
            }
            if files.isEmpty {
                problems.append(VisionError(file: folder.path, "no image files with extensions \(allowed.sorted()) in class '\(name)'"))
            }
            samples += files.sorted { $0.path < $1.path }.map { ($0, label) }
        }
        if verify && !samples.isEmpty {
            var failures = [VisionError?](repeating: nil, count: samples.count)
            let chunks = min(samples.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
            failures.withUnsafeMutableBufferPointer { out in
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    for i in (samples.count * c / chunks)..<(samples.count * (c + 1) / chunks) {
                        do {
                            _ = try Image(contentsOf: samples[i].url, limits: limits)
                        } catch let error as VisionError {
                            out[i] = error
                        } catch {
                            out[i] = VisionError(file: samples[i].url.path, "\(error)")
                        }
                    }
                }
            }
            problems += failures.compactMap { $0 }
        }
        guard problems.isEmpty else { throw DatasetLoadingError(root: root.path, problems: problems) }
        self.root = root
        classes = classNames
        self.samples = samples
        self.transform = transform
        self.limits = limits
        self.loader = loader
    }

    /// `ImageFolder(root: "data/train", transform: t)`: the folder by path, as torchvision takes it.
    public init(root: String, extensions: [String] = ImageFolder.defaultExtensions, transform: (any Transform)? = nil,
                loader: Loader = .rgb, verify: Bool = true, limits: ImageDecodingLimits = .default) throws {
        try self.init(root: URL(fileURLWithPath: root), extensions: extensions, transform: transform, loader: loader,
                      verify: verify, limits: limits)
    }

    /// `ImageFolder("data/train", transform: t)`, as torchvision's positional root.
    public init(_ root: String, transform: (any Transform)? = nil, loader: Loader = .rgb) throws {
        try self.init(root: URL(fileURLWithPath: root), transform: transform, loader: loader)
    }

    public var count: Int { samples.count }

    public func label(at index: Int) -> Int {
        checkIndex(index, samples.count, "ImageFolder")
        return samples[index].label
    }

    /// The image at `index` as the loader makes it (RGB by default), or the error if the file can
    /// no longer be read.
    public func loadImage(at index: Int) throws -> Image {
        checkIndex(index, samples.count, "ImageFolder")
        return loader.convert(try Image(contentsOf: samples[index].url, limits: limits))
    }

    /// Decodes (and transforms) sample `index`. A file that became unreadable after loading
    /// stops the program with its path and the reason.
    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        do {
            let image = try loadImage(at: index)
            return (applying(transform, .image(image), generator), samples[index].label)
        } catch {
            visionFailure("ImageFolder", "sample \(index): \(error)", file: #fileID, line: #line)
        }
    }
}

/// Writes a dataset as an ImageFolder of PNGs: `root/<class name>/<index>.png`, one sub-folder per
/// class (a "/" in a class name becomes "-"). Samples must be images or `[C, H, W]` Float tensors
/// in [0, 1]. Files are written atomically. Note that ImageFolder orders classes by folder name,
/// so reading back can number classes differently from the source dataset.
public func writeImageFolder(_ dataset: any Dataset, to root: String, generator: Generator = Generator(seed: 0)) throws {
    try writeImageFolder(dataset, to: URL(fileURLWithPath: root), generator: generator)
}

/// Writes a dataset as an ImageFolder of PNGs (see the `String` overload).
public func writeImageFolder(_ dataset: any Dataset, to root: URL, generator: Generator = Generator(seed: 0)) throws {
    let fm = FileManager.default
    let names = dataset.classes.map { $0.replacingOccurrences(of: "/", with: "-") }
    guard Set(names).count == names.count else {
        throw VisionError(file: root.path, "class names \(dataset.classes) collide as folder names")
    }
    do {
        for name in names { try fm.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true) }
    } catch {
        throw VisionError(file: root.path, "cannot create the class folders: \(Image.reason(error))")
    }
    let digits = String(max(0, dataset.count - 1)).count
    for i in 0..<dataset.count {
        let (value, label) = dataset.sample(at: i, generator: generator)
        guard label >= 0 && label < names.count else {
            throw VisionError(file: root.path, "sample \(i) has label \(label), outside the \(names.count) classes")
        }
        let image: Image
        switch value {
        case .image(let img): image = img
        case .tensor(let tensor): image = Image(tensor: tensor)
        }
        let number = String(i)
        let fileName = String(repeating: "0", count: max(0, digits - number.count)) + number + ".png"
        try image.write(to: root.appendingPathComponent(names[label]).appendingPathComponent(fileName))
    }
}
