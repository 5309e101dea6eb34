import Checkpoint
import Foundation
import Models
import NN
import Torch
import XCTest

/// `weights:` on the model constructors, and checkpoints by String path.
final class ModelWeightsTests: XCTestCase {
    func testStringPathsSaveAndLoad() throws {
        let folder = TemporaryDirectory()
        let model = smallResNet(numClasses: 3)
        let path = folder.file("model.pth").path
        try Checkpoint.save(model.stateDict(), to: path)
        XCTAssertEqual(try Checkpoint.format(of: path), .pytorch)
        let copy = smallResNet(numClasses: 3)
        try copy.loadStateDict(Checkpoint.load(path))
        XCTAssertEqual(copy.fc.parameters()[0].scalars, model.fc.parameters()[0].scalars)
        let safetensors = folder.file("model.safetensors").path
        try model.stateDict().save(to: safetensors)
        XCTAssertEqual(try StateDict(contentsOf: safetensors).keys, model.stateDict().keys)
        XCTAssertThrowsError(try Checkpoint.load(folder.file("missing.pth").path)) { error in
            XCTAssertTrue("\(error)".contains("missing.pth"), "\(error)")
        }
    }

    func testWeightsFromAFileByPathURLOrLiteral() throws {
        let folder = TemporaryDirectory()
        let source = smallResNet(numClasses: 4)
        let path = folder.file("small.safetensors").path
        try Checkpoint.save(source.stateDict(), to: path)
        for weights in [Weights(path: path), Weights(contentsOf: URL(fileURLWithPath: path)), Weights(stringLiteral: path)] {
            let model = try smallResNet(weights: weights, numClasses: 4)
            XCTAssertEqual(model.conv1.weight.scalars, source.conv1.weight.scalars)
        }
        XCTAssertNil(try smallResNet(weights: nil, numClasses: 4).conv1.weight.grad)
        // A file that does not fit names the call, the file and the mismatch.
        XCTAssertThrowsError(try smallResNet(weights: Weights(path: path), numClasses: 10)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("smallResNet(weights:"), text)
            XCTAssertTrue(text.contains("small.safetensors"), text)
            XCTAssertTrue(text.contains("fc.weight"), text)
        }
        XCTAssertThrowsError(try smallResNet(weights: Weights(path: folder.file("none.pth").path))) { error in
            XCTAssertTrue("\(error)".contains("none.pth"), "\(error)")
        }
    }

    func testResNetWeightsFromAFileKeepTorchvisionKeys() throws {
        let folder = TemporaryDirectory()
        let source = ResNet(block: .basic, layers: [1, 1, 1, 1], stageWidths: [8, 8, 8, 8])
        let path = folder.file("tiny.pth").path
        try Checkpoint.save(source.stateDict(), to: path)
        // resnet18's real layout does not fit the tiny file: the error says so, nothing crashes.
        XCTAssertThrowsError(try resnet18(weights: Weights(path: path))) { error in
            XCTAssertTrue("\(error)".contains("size mismatch") || "\(error)".contains("Missing key"), "\(error)")
        }
    }

    func testNamedWeightsThatAreNotHereSayWhichFileToPutWhere() throws {
        let folder = TemporaryDirectory()
        setenv("TORCH_HOME", folder.url.path, 1)
        defer { unsetenv("TORCH_HOME") }
        XCTAssertThrowsError(try resnet50(weights: .imagenet1kV2)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("resnet50(weights: .imagenet1kV2)"), text)
            XCTAssertTrue(text.contains("resnet50-11ad3fa6.pth"), text)
            XCTAssertTrue(text.contains("https://download.pytorch.org/models/resnet50-11ad3fa6.pth"), text)
            XCTAssertTrue(text.contains("models"), text)
            XCTAssertTrue(text.contains("\(folder.url.path)/hub/checkpoints"), text)
        }
        XCTAssertThrowsError(try resnet18(weights: ResNet18Weights.DEFAULT)) { error in
            XCTAssertTrue("\(error)".contains("resnet18-f37072fd.pth"), "\(error)")
        }
        XCTAssertThrowsError(try resnet18(weights: "IMAGENET1K_V2")) { error in
            XCTAssertTrue("\(error)".contains("torchvision has no IMAGENET1K_V2 weights for resnet18"), "\(error)")
        }
        XCTAssertThrowsError(try vgg16Bn(weights: .imagenet1kV1)) { error in
            XCTAssertTrue("\(error)".contains("vgg16_bn-6c64b313.pth"), "\(error)")
        }
        XCTAssertThrowsError(try resnet50(weights: .imagenet1kV1, numClasses: 10)) { error in
            XCTAssertTrue("\(error)".contains("model.fc = Linear(model.fc.inFeatures, 10)"), "\(error)")
        }
        XCTAssertThrowsError(try smallResNet(weights: .default)) { error in
            XCTAssertTrue("\(error)".contains("no pretrained weights"), "\(error)")
        }
    }

    func testNamedWeightsAreFoundInTorchsCache() throws {
        let folder = TemporaryDirectory()
        let cache = folder.url.appendingPathComponent("hub/checkpoints")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let source = resnet18()
        // torchvision's file name (as safetensors); any checkpoint with the right keys loads.
        try Checkpoint.save(source.stateDict(), to: cache.appendingPathComponent("resnet18-f37072fd.safetensors"))
        setenv("TORCH_HOME", folder.url.path, 1)
        defer { unsetenv("TORCH_HOME") }
        let model = try resnet18(weights: ResNet18Weights.IMAGENET1K_V1)
        XCTAssertEqual(model.fc.parameters()[1].scalars, source.fc.parameters()[1].scalars)
        XCTAssertEqual(model.layer4[1].parameters()[0].scalars, source.layer4[1].parameters()[0].scalars)
    }
}
