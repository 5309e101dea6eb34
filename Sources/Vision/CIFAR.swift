import Foundation
import Torch

/// CIFAR-10 / CIFAR-100 in their binary distributions (`cifar-10-batches-bin`,
/// `cifar-100-binary`): records of label byte(s) then 3072 pixel bytes (1024 red, 1024 green,
/// 1024 blue, each 32x32 row-major). Samples are 32x32 RGB `Image`s.
public struct CIFAR: Dataset {
    public enum Variant: Sendable {
        case cifar10
        /// CIFAR-100 with its 100 fine labels, or its 20 coarse superclasses.
        case cifar100(coarse: Bool)
    }

    public let variant: Variant
    public let classes: [String]
    public let count: Int
    /// Pixels as stored: per record 3 planes of 32x32.
    let planes: [UInt8]
    let targets: [UInt8]
    public let transform: (any Transform)?

    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"]

    /// Reads the training or test split from `root`, which is either the extracted folder
    /// (`cifar-10-batches-bin`, `cifar-100-binary`) or its parent.
    public init(_ variant: Variant = .cifar10, root: URL, train: Bool = true, transform: (any Transform)? = nil) throws {
        let folderName: String, files: [String], labelBytes: Int, labelOffset: Int, namesFile: String, classCount: Int
        switch variant {
        case .cifar10:
            folderName = "cifar-10-batches-bin"
            files = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
            labelBytes = 1; labelOffset = 0; namesFile = "batches.meta.txt"; classCount = 10
        case .cifar100(let coarse):
            folderName = "cifar-100-binary"
            files = [train ? "train.bin" : "test.bin"]
            labelBytes = 2; labelOffset = coarse ? 0 : 1
            namesFile = coarse ? "coarse_label_names.txt" : "fine_label_names.txt"
            classCount = coarse ? 20 : 100
        }
        let fm = FileManager.default
        let nested = root.appendingPathComponent(folderName)
        let folder = fm.fileExists(atPath: nested.path) ? nested : root
        let recordSize = labelBytes + 3072
        var planes: [UInt8] = [], targets: [UInt8] = []
        for name in files {
            let url = folder.appendingPathComponent(name)
            guard fm.fileExists(atPath: url.path) else {
                throw VisionError(file: url.path, "CIFAR file not found (download the binary version and pass its folder as root:)")
            }
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw VisionError(file: url.path, "cannot read: \(Image.reason(error))")
            }
            guard data.count > 0, data.count % recordSize == 0 else {
                throw VisionError(file: url.path, "size \(data.count) is not a multiple of the \(recordSize)-byte record (truncated or not a CIFAR binary file)")
            }
            let records = data.count / recordSize
            planes.reserveCapacity(planes.count + records * 3072)
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let bytes = raw.bindMemory(to: UInt8.self)
                for r in 0..<records {
                    let base = r * recordSize
                    let label = bytes[base + labelOffset]
                    guard Int(label) < classCount else {
                        throw VisionError(file: url.path, "record \(r) has label \(label); only \(classCount) classes exist")
                    }
                    targets.append(label)
                    planes.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[(base + labelBytes)..<(base + recordSize)]))
                }
            }
        }
        var names: [String] = []
        if let text = try? String(contentsOf: folder.appendingPathComponent(namesFile), encoding: .utf8) {
            names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if names.count != classCount {
            if case .cifar10 = variant { names = Self.cifar10Classes } else { names = (0..<classCount).map { "class \($0)" } }
        }
        self.variant = variant
        classes = names
        count = targets.count
        self.planes = planes
        self.targets = targets
        self.transform = transform
    }

    /// The raw 32x32 RGB image at `index`.
    public func image(at index: Int) -> Image {
        checkIndex(index, count, "CIFAR")
        return planes.withUnsafeBufferPointer { src in
            Image.make(width: 32, height: 32, channels: 3) { dst in
                let base = index * 3072
                for i in 0..<1024 {
                    dst[3 * i] = src[base + i]; dst[3 * i + 1] = src[base + 1024 + i]; dst[3 * i + 2] = src[base + 2048 + i]
                }
            }
        }
    }

    public func label(at index: Int) -> Int {
        checkIndex(index, count, "CIFAR")
        return Int(targets[index])
    }

    public func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        (applying(transform, .image(image(at: index)), generator), label(at: index))
    }
}
