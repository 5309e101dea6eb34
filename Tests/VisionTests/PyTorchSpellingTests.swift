import Foundation
import Torch
@testable import Vision
import XCTest

/// torchvision's argument labels and tuple forms, its dataset classes, and its RGB loader.
final class PyTorchSpellingTests: XCTestCase {
    let picture = Image(width: 40, height: 30, channels: 3, fill: [200, 100, 50])

    func testResizeAndCropSizesAsTorchvisionWritesThem() {
        XCTAssertEqual(Resize([224, 224]).size?.height, 224)
        XCTAssertEqual(Resize([20, 10]).outputSize(height: 30, width: 40).width, 10)
        XCTAssertEqual(Resize([15]).shorterSide, 15)
        XCTAssertEqual(Resize(size: 15).shorterSide, 15)
        XCTAssertEqual(Resize((12, 8)).outputSize(height: 30, width: 40).height, 12)
        XCTAssertEqual(Resize(size: [12, 8]).size?.width, 8)
        XCTAssertEqual(Resize(size: (12, 8)).size?.width, 8)
        XCTAssertEqual(Resize([224, 224])(picture).image.width, 224)
        XCTAssertEqual([CenterCrop(size: 10).height, CenterCrop([10, 6]).width, CenterCrop((7, 5)).height], [10, 6, 7])
        XCTAssertEqual(CenterCrop(size: [9, 4]).width, 4)
        let crop = RandomCrop(size: 32, padding: 4)
        XCTAssertEqual([crop.height, crop.width, crop.padding.left], [32, 32, 4])
        XCTAssertEqual(RandomCrop([8, 6], padding: 2).width, 6)
    }

    func testRandomResizedCropTakesTuples() {
        let crop = RandomResizedCrop(size: 256, scale: (0.8, 1.0))
        XCTAssertEqual([crop.height, crop.width], [256, 256])
        XCTAssertEqual(crop.scale, 0.8...1.0)
        XCTAssertEqual(crop.ratio, (3.0 / 4)...(4.0 / 3))
        let unlabelled = RandomResizedCrop(224, scale: (0.5, 1.0), ratio: (0.9, 1.1))
        XCTAssertEqual(unlabelled.ratio, 0.9...1.1)
        XCTAssertEqual(RandomResizedCrop(size: [20, 10]).width, 10)
        XCTAssertEqual(RandomResizedCrop(224).scale, 0.08...1.0, "the Swift spelling is unchanged")
        let image = crop(picture, generator: Generator(seed: 1)).image
        XCTAssertEqual([image.width, image.height], [256, 256])
    }

    func testRandomRotationDegreesAndOtherLabels() {
        XCTAssertEqual(RandomRotation(degrees: 15).degrees, -15...15)
        XCTAssertEqual(RandomRotation(degrees: (-10, 30)).degrees, -10...30)
        XCTAssertEqual(RandomRotation((0, 5)).degrees, 0...5)
        XCTAssertEqual(RandomRotation(15).degrees, -15...15)
        let normalize = Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        XCTAssertEqual(normalize.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(Grayscale(3).numOutputChannels, 3)
        let loader = DataLoader(dataset: Subset(SolidColors(), indices: [0, 1, 2]), batchSize: 2, shuffle: true)
        XCTAssertEqual(loader.count, 2)
    }

    func testCIFAR10ByTorchvisionsNameReadsTheBinaryFiles() throws {
        let root = try temporaryFolder(self)
        let folder = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let record = [UInt8(7)] + [UInt8](repeating: 9, count: 3072)
        for k in 1...5 { try Data(record).write(to: folder.appendingPathComponent("data_batch_\(k).bin")) }
        try Data(record + record).write(to: folder.appendingPathComponent("test_batch.bin"))
        let train = try CIFAR10(root: root.path, train: true, download: true, transform: ToTensor())
        XCTAssertEqual(train.count, 5)
        XCTAssertEqual(train[0].0.tensor.shape, [3, 32, 32])
        XCTAssertEqual(train.classes[7], "horse")
        let test = try CIFAR10(root: root, train: false, transform: nil, download: false)
        XCTAssertEqual(test.labels, [7, 7])
        XCTAssertEqual(try CIFAR(root: root.path).count, 5)
    }

    func testCIFARDownloadFailsOfflineSayingWhatToFetchAndWhere() throws {
        let root = try temporaryFolder(self)
        XCTAssertThrowsError(try CIFAR10(root: root.path, train: true, download: true)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("CIFAR10(download: true)"), text)
            XCTAssertTrue(text.contains("nothing is downloaded"), text)
            XCTAssertTrue(text.contains("cifar-10-binary.tar.gz"), text)
            XCTAssertTrue(text.contains(root.appendingPathComponent("cifar-10-batches-bin/data_batch_1.bin").path), text)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("cifar-100-python"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try CIFAR100(root: root.path, train: false)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("cifar-100-binary.tar.gz") && text.contains("test.bin"), text)
            XCTAssertTrue(text.contains("Python (pickle) version"), text)
        }
    }

    func testFashionMNISTWithTorchvisionArguments() throws {
        let root = try temporaryFolder(self)
        XCTAssertThrowsError(try FashionMNIST(root: root.path, train: true, download: true)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("nothing is downloaded") && text.contains("apt-get install dataset-fashion-mnist"), text)
        }
        guard FashionMNIST.isInstalled else { return }
        let test = try FashionMNIST(root: FashionMNIST.defaultRoot.path, train: false, transform: ToTensor(), download: true)
        XCTAssertEqual(test.count, 10_000)
    }

    func testImageFolderLoadsRGBByDefaultAndTakesStringPaths() throws {
        let root = try temporaryFolder(self)
        for (name, channels) in [("gray", 1), ("rgba", 4)] {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Image(width: 4, height: 3, channels: channels, fill: [UInt8](repeating: 60, count: channels))
                .write(to: folder.appendingPathComponent("a.png"))
        }
        let dataset = try ImageFolder(root: root.path, transform: Compose([ToTensor(), Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])]))
        XCTAssertEqual(dataset.classes, ["gray", "rgba"])
        XCTAssertEqual(dataset[0].0.tensor.shape, [3, 3, 4])
        XCTAssertEqual(dataset[1].0.tensor.shape, [3, 3, 4])
        XCTAssertEqual(try ImageFolder(root.path).loadImage(at: 0).channels, 3)
        XCTAssertEqual(try ImageFolder(root: root, loader: .asStored).loadImage(at: 1).channels, 4)
        XCTAssertEqual(try ImageFolder(root: root, loader: .grayscale).loadImage(at: 1).channels, 1)
    }
}

/// Three 2x2 RGB images of different colours.
private struct SolidColors: Dataset {
    var count: Int { 3 }
    var classes: [String] { ["r", "g", "b"] }
    func label(at index: Int) -> Int { index }
    func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
        var fill: [UInt8] = [0, 0, 0]
        fill[index] = 255
        return (.tensor(Image(width: 2, height: 2, channels: 3, fill: fill).toTensor()), index)
    }
}
