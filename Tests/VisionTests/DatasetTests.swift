import Foundation
import Torch
import XCTest
@testable import Vision

/// A small in-memory dataset: sample i is a 1x2x2 tensor filled with i, label i % classes.
struct CountingDataset: Dataset {
    let count: Int
    let classes: [String]
    init(count: Int, classCount: Int) {
        self.count = count
        classes = (0..<classCount).map { "c\($0)" }
    }
    func label(at index: Int) -> Int { index % classes.count }
    func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        (.tensor(Tensor.full([1, 2, 2], Float(index))), label(at: index))
    }
}

final class DatasetTests: XCTestCase {
    // MARK: IDX and Fashion-MNIST

    func writeIDX(_ url: URL, magic: [UInt8], dims: [Int], data: [UInt8]) throws {
        var bytes = magic
        for d in dims { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        try Data(bytes + data).write(to: url)
    }

    func testIDXValidation() throws {
        let folder = try temporaryFolder(self)
        let good = folder.appendingPathComponent("images")
        try writeIDX(good, magic: [0, 0, 8, 3], dims: [2, 3, 2], data: Array(0..<12))
        let array = try IDX.read(good)
        XCTAssertEqual(array.shape, [2, 3, 2])
        XCTAssertEqual(array.bytes, Array(0..<12))
        func expectError(_ name: String, magic: [UInt8], dims: [Int], data: [UInt8], _ fragment: String) throws {
            let url = folder.appendingPathComponent(name)
            try writeIDX(url, magic: magic, dims: dims, data: data)
            XCTAssertThrowsError(try IDX.read(url)) { error in
                XCTAssertTrue("\(error)".contains(name) && "\(error)".contains(fragment), "\(error)")
            }
        }
        try expectError("badmagic", magic: [1, 2, 8, 3], dims: [1, 1, 1], data: [0], "not an IDX file")
        try expectError("floats", magic: [0, 0, 0x0D, 1], dims: [1], data: [0, 0, 0, 0], "not supported")
        try expectError("short", magic: [0, 0, 8, 3], dims: [2, 28, 28], data: Array(repeating: 0, count: 100), "truncated")
        try expectError("long", magic: [0, 0, 8, 1], dims: [3], data: [1, 2, 3, 4], "unexpected data")
        try expectError("huge", magic: [0, 0, 8, 3], dims: [0x7fff_ffff, 0x7fff_ffff, 4], data: [], "more than")
        XCTAssertThrowsError(try IDX.read(folder.appendingPathComponent("missing"))) { XCTAssertTrue("\($0)".contains("missing")) }
    }

    func testIDXDatasetChecksCounts() throws {
        let folder = try temporaryFolder(self)
        let images = folder.appendingPathComponent("img"), labels = folder.appendingPathComponent("lab")
        try writeIDX(images, magic: [0, 0, 8, 3], dims: [3, 2, 2], data: Array(0..<12))
        try writeIDX(labels, magic: [0, 0, 8, 1], dims: [2], data: [0, 1])
        XCTAssertThrowsError(try IDXImageDataset(images: images, labels: labels, classes: ["a", "b"])) {
            XCTAssertTrue("\($0)".contains("2 labels for 3 images"), "\($0)")
        }
        try writeIDX(labels, magic: [0, 0, 8, 1], dims: [3], data: [0, 1, 5])
        XCTAssertThrowsError(try IDXImageDataset(images: images, labels: labels, classes: ["a", "b"])) {
            XCTAssertTrue("\($0)".contains("label 5 of sample 2"), "\($0)")
        }
        try writeIDX(labels, magic: [0, 0, 8, 1], dims: [3], data: [0, 1, 1])
        let dataset = try IDXImageDataset(images: images, labels: labels, classes: ["a", "b"])
        XCTAssertEqual(dataset.image(at: 2), Image(width: 2, height: 2, channels: 1, pixels: [8, 9, 10, 11]))
        XCTAssertEqual(dataset.labels, [0, 1, 1])
    }

    func testFashionMNISTLoads() throws {
        try XCTSkipUnless(FashionMNIST.isInstalled,
                          "Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist` to run this test")
        let train = try FashionMNIST(train: true)
        let test = try FashionMNIST(train: false)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(train.classes.count, 10)
        XCTAssertEqual(train.classes[0], "T-shirt/top")
        XCTAssertEqual(Array(train.labels.prefix(10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        XCTAssertEqual(Array(test.labels.prefix(5)), [9, 2, 1, 1, 6])
        // 6,000 of each class in training (checked once with Python's gzip module).
        var perClass = [Int](repeating: 0, count: 10)
        for l in train.data.targets { perClass[Int(l)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 6000, count: 10))
        let first = train.image(at: 0)
        XCTAssertEqual([first.width, first.height, first.channels], [28, 28, 1])
        XCTAssertEqual(first.pixels.reduce(0) { $0 + Int($1) }, 76_247)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the first image's bytes
        for b in first.pixels { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        XCTAssertEqual(hash, 0x01fd_f725_9054_1338)
        // With a transform, samples become normalised tensors.
        let tensors = try FashionMNIST(train: false, transform: Compose([ToTensor(), Normalize(mean: FashionMNIST.mean, std: FashionMNIST.std)]))
        let (t, label) = tensors[0]
        XCTAssertEqual(label, 9)
        XCTAssertEqual(t.tensor.shape, [1, 28, 28])
        // Test-set statistics (population std over all pixels; the train set gives 0.2860/0.3530).
        let stats = channelStatistics(test)
        XCTAssertEqual(stats.mean[0], 0.28685, accuracy: 1e-4)
        XCTAssertEqual(stats.std[0], 0.35244, accuracy: 1e-4)
    }

    func testMissingFashionMNISTExplainsHowToInstall() {
        XCTAssertThrowsError(try FashionMNIST(train: true, root: URL(fileURLWithPath: "/nonexistent"))) { error in
            XCTAssertTrue("\(error)".contains("apt-get install dataset-fashion-mnist"), "\(error)")
            XCTAssertTrue("\(error)".contains("/nonexistent/train-images-idx3-ubyte"), "\(error)")
        }
    }

    // MARK: ImageFolder

    func makeFolder() throws -> URL {
        let root = try temporaryFolder(self)
        let fm = FileManager.default
        for name in ["dog", "cat", "empty-ish"] { try fm.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true) }
        try Image(width: 3, height: 2, channels: 3, fill: [200, 10, 10]).write(to: root.appendingPathComponent("dog/b.png"))
        try Image(width: 3, height: 2, channels: 1, fill: [7]).write(to: root.appendingPathComponent("dog/A.PNG"))
        try fm.createDirectory(at: root.appendingPathComponent("dog/nested"), withIntermediateDirectories: true)
        try Image(width: 4, height: 4, channels: 3, fill: [1, 2, 3]).write(to: root.appendingPathComponent("dog/nested/c.jpg"))
        try Image(width: 2, height: 2, channels: 3, fill: [0, 255, 0]).write(to: root.appendingPathComponent("cat/x.jpeg"))
        try Data("not an image".utf8).write(to: root.appendingPathComponent("cat/notes.txt"))
        try Image(width: 2, height: 2, channels: 1, fill: [9]).write(to: root.appendingPathComponent("empty-ish/ok.png"))
        return root
    }

    func testImageFolderScansSortsAndFilters() throws {
        let root = try makeFolder()
        let folder = try ImageFolder(root: root)
        XCTAssertEqual(folder.classes, ["cat", "dog", "empty-ish"])
        XCTAssertEqual(folder.classToIndex, ["cat": 0, "dog": 1, "empty-ish": 2])
        XCTAssertEqual(folder.samples.map { $0.url.lastPathComponent }, ["x.jpeg", "A.PNG", "b.png", "c.jpg", "ok.png"])
        XCTAssertEqual(folder.labels, [0, 1, 1, 1, 2])
        XCTAssertEqual(folder[2].0.image, Image(width: 3, height: 2, channels: 3, fill: [200, 10, 10]))
        XCTAssertEqual(try ImageFolder(root: root, extensions: [".png", "JPEG"]).count, 4)
        XCTAssertThrowsError(try ImageFolder(root: root, extensions: ["png"])) { error in
            XCTAssertTrue("\(error)".contains("no image files") && "\(error)".contains("class 'cat'"), "\(error)")
        }
        let withTransform = try ImageFolder(root: root, transform: Compose([Resize(height: 5, width: 5), ToTensor()]))
        XCTAssertEqual(withTransform[0].0.tensor.shape, [3, 5, 5])
    }

    func testImageFolderReportsEveryBadFile() throws {
        let root = try makeFolder()
        try Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]).write(to: root.appendingPathComponent("cat/broken.png"))
        let good = try Image(width: 3, height: 3, channels: 3).jpegData()
        try good.prefix(good.count / 2).write(to: root.appendingPathComponent("dog/half.jpg"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("bird"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolder(root: root)) { error in
            guard let error = error as? DatasetLoadingError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.problems.count, 3, "\(error)")
            let text = "\(error)"
            XCTAssertTrue(text.contains("cat/broken.png") && text.contains("dog/half.jpg") && text.contains("bird"), text)
        }
        XCTAssertThrowsError(try ImageFolder(root: root.appendingPathComponent("nope")))
    }

    func testWriteImageFolderRoundTrips() throws {
        let root = try temporaryFolder(self)
        let images = (0..<6).map { Image(width: 2, height: 3, channels: 1, fill: [UInt8($0 * 40)]) }
        struct Images: Dataset {
            let images: [Image]
            var count: Int { images.count }
            let classes = ["a/b", "c"]
            func label(at index: Int) -> Int { index % 2 }
            func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
                index == 5 ? (.tensor(images[index].toTensor()), 1) : (.image(images[index]), label(at: index))
            }
        }
        try writeImageFolder(Images(images: images), to: root)
        let back = try ImageFolder(root: root)
        XCTAssertEqual(back.classes, ["a-b", "c"])
        XCTAssertEqual(back.samples.map { $0.url.lastPathComponent }, ["0.png", "2.png", "4.png", "1.png", "3.png", "5.png"])
        // As torchvision's default loader, gray files come back RGB; `.asStored` keeps one channel.
        XCTAssertEqual(back[5].0.image, images[5].rgb())
        XCTAssertEqual(back[1].0.image, images[2].rgb())
        let asStored = try ImageFolder(root: root, loader: .asStored)
        XCTAssertEqual(asStored[5].0.image, images[5])
        XCTAssertEqual(asStored[1].0.image, images[2])
    }

    // MARK: CIFAR

    func testCIFARBinaryReader() throws {
        let root = try temporaryFolder(self)
        let folder = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func record(_ label: UInt8, _ r: UInt8, _ g: UInt8, _ b: UInt8) -> [UInt8] {
            [label] + [UInt8](repeating: r, count: 1024) + [UInt8](repeating: g, count: 1024) + [UInt8](repeating: b, count: 1024)
        }
        for k in 1...5 { try Data(record(UInt8(k), 10, 20, UInt8(k))).write(to: folder.appendingPathComponent("data_batch_\(k).bin")) }
        var test = record(3, 1, 2, 3) + record(9, 4, 5, 6)
        test[1 + 1024 + 33] = 99  // green of pixel (row 1, column 1)
        try Data(test).write(to: folder.appendingPathComponent("test_batch.bin"))
        let train = try CIFAR(.cifar10, root: root, train: true)
        XCTAssertEqual(train.count, 5)
        XCTAssertEqual(train.labels, [1, 2, 3, 4, 5])
        XCTAssertEqual(train.classes[3], "cat")
        let testSet = try CIFAR(.cifar10, root: folder, train: false)
        let image = testSet.image(at: 0)
        XCTAssertEqual([image.width, image.height, image.channels], [32, 32, 3])
        XCTAssertEqual([image[0, 0, 0], image[0, 0, 1], image[0, 0, 2]], [1, 2, 3])
        XCTAssertEqual(image[1, 1, 1], 99)
        XCTAssertEqual(testSet[1].1, 9)
        // Truncated files and bad labels are errors naming the file.
        try Data(test.dropLast(5)).write(to: folder.appendingPathComponent("test_batch.bin"))
        XCTAssertThrowsError(try CIFAR(.cifar10, root: root, train: false)) { XCTAssertTrue("\($0)".contains("test_batch.bin"), "\($0)") }
        try Data(record(10, 0, 0, 0)).write(to: folder.appendingPathComponent("test_batch.bin"))
        XCTAssertThrowsError(try CIFAR(.cifar10, root: root, train: false)) { XCTAssertTrue("\($0)".contains("label 10"), "\($0)") }
        // CIFAR-100: coarse then fine label bytes.
        let hundred = root.appendingPathComponent("cifar-100-binary")
        try FileManager.default.createDirectory(at: hundred, withIntermediateDirectories: true)
        try Data([4, 77] + [UInt8](repeating: 0, count: 3072)).write(to: hundred.appendingPathComponent("test.bin"))
        try "a\nb\n".write(to: hundred.appendingPathComponent("coarse_label_names.txt"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try CIFAR(.cifar100(coarse: false), root: root, train: false).labels, [77])
        let coarse = try CIFAR(.cifar100(coarse: true), root: root, train: false)
        XCTAssertEqual(coarse.labels, [4])
        XCTAssertEqual(coarse.classes.count, 20, "names file with the wrong count falls back to numbered names")
    }

    // MARK: Subsets, splits, relabelling, k-shot

    func testRandomSplitIsDeterministicAndDisjoint() {
        let data = CountingDataset(count: 103, classCount: 10)
        let a = randomSplit(data, fractions: [0.7, 0.2, 0.1], generator: Generator(seed: 42))
        let b = randomSplit(data, fractions: [0.7, 0.2, 0.1], generator: Generator(seed: 42))
        let c = randomSplit(data, fractions: [0.7, 0.2, 0.1], generator: Generator(seed: 43))
        // PyTorch: floor(72.1, 20.6, 10.3) = 72, 20, 10, remainder 1 goes to the first part.
        XCTAssertEqual(a.map(\.count), [73, 20, 10])
        XCTAssertEqual(a.map(\.indices), b.map(\.indices))
        XCTAssertNotEqual(a[0].indices, c[0].indices)
        XCTAssertEqual(Set(a.flatMap(\.indices)).count, 103)
        XCTAssertEqual(splitLengths(count: 10, fractions: [0.33, 0.33, 0.34]), [4, 3, 3])
        let byLength = randomSplit(data, lengths: [100, 3], generator: Generator(seed: 1))
        XCTAssertEqual(byLength[1].count, 3)
        XCTAssertEqual(byLength[1][0].1, byLength[1].indices[0] % 10)
    }

    func testSelectingClassesRelabels() {
        let data = CountingDataset(count: 40, classCount: 10)
        let taskA = data.selectingClasses(Array(0...4)), taskB = data.selectingClasses(Array(5...9))
        XCTAssertEqual(taskA.count, 20)
        XCTAssertEqual(taskB.classes, ["c5", "c6", "c7", "c8", "c9"])
        XCTAssertEqual(Set(taskB.labels), Set(0...4))
        for i in 0..<taskB.count {
            let (value, label) = taskB[i]
            let original = Int(value.tensor.scalars[0])
            XCTAssertEqual(original % 10, label + 5)
        }
        let reordered = data.selectingClasses([7, 2])
        XCTAssertEqual(reordered.classes, ["c7", "c2"])
        XCTAssertEqual(Set(reordered.labels.enumerated().map { reordered.indices[$0.offset] % 10 == 7 ? $0.element == 0 : $0.element == 1 }), [true])
    }

    func testKShotIsStratifiedAndSeeded() throws {
        let data = CountingDataset(count: 200, classCount: 10)
        let a = try kShotSubset(data, shots: 5, generator: Generator(seed: 3))
        let b = try kShotSubset(data, shots: 5, generator: Generator(seed: 3))
        let c = try kShotSubset(data, shots: 5, generator: Generator(seed: 4))
        XCTAssertEqual(a.count, 50)
        XCTAssertEqual(a.indices, b.indices)
        XCTAssertNotEqual(a.indices, c.indices)
        var perClass = [Int](repeating: 0, count: 10)
        for l in a.labels { perClass[l] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 5, count: 10))
        XCTAssertEqual(Set(a.indices).count, 50)
        XCTAssertThrowsError(try kShotSubset(data, shots: 21, generator: Generator(seed: 0))) {
            XCTAssertTrue("\($0)".contains("fewer than the 21 shots"), "\($0)")
        }
    }

    func testTransformedDatasetAndStatistics() {
        let data = CountingDataset(count: 4, classCount: 2)
        let doubled = data.transformed(by: Lambda { value, _ in .tensor(value.tensor * 2) })
        XCTAssertEqual(doubled[3].0.tensor.scalars, [6, 6, 6, 6])
        let stats = channelStatistics(data)  // values 0, 1, 2, 3 each 4 times
        XCTAssertEqual(stats.mean[0], 1.5, accuracy: 1e-6)
        XCTAssertEqual(stats.std[0], Float(1.25.squareRoot()), accuracy: 1e-6)
    }

    func testGridAndTensorImages() {
        let a = Image(width: 2, height: 2, channels: 1, fill: [10]), b = Image(width: 3, height: 1, channels: 3, fill: [1, 2, 3])
        let grid = makeGrid([a, b, a], columns: 2, padding: 1, background: 255)
        XCTAssertEqual([grid.width, grid.height, grid.channels], [2 * 3 + 3, 2 * 2 + 3, 3])
        XCTAssertEqual([grid[1, 1, 0], grid[1, 1, 1]], [10, 10])
        XCTAssertEqual([grid[1, 5, 0], grid[1, 5, 1], grid[1, 5, 2]], [1, 2, 3])
        XCTAssertEqual(grid[0, 0, 0], 255)
        XCTAssertEqual(grid[4, 5, 0], 255, "empty cell stays background")
        let batch = Tensor(shape: [2, 1, 1, 2], scalars: [0, 1, 0.5, -3])
        let tensorGrid = makeGrid(batch, columns: 2, padding: 0)
        XCTAssertEqual(tensorGrid.pixels, [0, 255, 128, 0])
        let normalised = makeGrid(batch, columns: 1, padding: 0, mean: [0.5], std: [0.5])
        XCTAssertEqual(normalised.pixels, [128, 255, 191, 0])
    }
}
