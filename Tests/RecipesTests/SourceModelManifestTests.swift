import Checkpoint
import Foundation
import Models
import NN
import Recipes
import XCTest

/// The committed source model (`models/`) must match its manifest.
final class SourceModelManifestTests: XCTestCase {
    private var modelsFolder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models")
    }

    func testManifestMatchesTheWeightsFile() throws {
        let manifestURL = modelsFolder.appendingPathComponent("manifest.json")
        let manifest = try SourceModelManifest.load(manifestURL)
        XCTAssertEqual(manifest.weightsFile, SourceModelManifest.defaultWeightsFile)
        let weightsURL = modelsFolder.appendingPathComponent(manifest.weightsFile)
        let bytes = try Data(contentsOf: weightsURL)
        XCTAssertEqual(sha256Hex(bytes), manifest.sha256, "models/\(manifest.weightsFile) is not the file the manifest describes")

        let model = smallResNet(numClasses: 5)
        XCTAssertEqual(model.parameterCount, manifest.parameterCount)
        XCTAssertEqual(manifest.parameterCount, 174_645)
        let weights = try Checkpoint.load(weightsURL)
        XCTAssertNoThrow(try model.loadStateDict(weights, strict: true))
        XCTAssertEqual(Set(weights.keys), Set(model.stateDict().keys))

        XCTAssertEqual(manifest.classes, FashionTask.a.classNames)
        XCTAssertEqual(manifest.recipe.batchSize, 128)
        XCTAssertEqual(manifest.testImages, 5_000)
        XCTAssertTrue((0...1).contains(manifest.testAccuracy))
        if manifest.recipe.epochs != PretrainRecipe().epochs {
            XCTAssertNotNil(manifest.deviation, "a shortened recipe must say why in the manifest")
        }
    }
}
