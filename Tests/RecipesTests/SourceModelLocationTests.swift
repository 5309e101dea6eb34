import Foundation
import Recipes
import XCTest

/// `loadSourceModel()` finds the package's `models/` wherever the lesson runs.
final class SourceModelLocationTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("source-model-\(UUID().uuidString)")
        let models = root.appendingPathComponent("package/models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try Data([1]).write(to: models.appendingPathComponent(SourceModelManifest.defaultWeightsFile))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("package/.workbook/build/lesson"),
                                                withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("elsewhere/notes"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    var package: URL { root.appendingPathComponent("package") }
    var expected: String { package.appendingPathComponent("models").standardizedFileURL.path }

    func testThePackageRootFromTheEnvironmentComesFirst() throws {
        let found = try SourceModelManifest.packageModelsFolder(
            environment: ["WORKBOOK_PACKAGE_ROOT": package.path],
            currentFolder: root.appendingPathComponent("elsewhere/notes"), executable: nil)
        XCTAssertEqual(found.standardizedFileURL.path, expected)
    }

    func testParentsOfTheCurrentFolderThenOfTheProgramAreSearched() throws {
        let fromInside = try SourceModelManifest.packageModelsFolder(
            environment: [:], currentFolder: package.appendingPathComponent(".workbook/build"), executable: nil)
        XCTAssertEqual(fromInside.standardizedFileURL.path, expected)
        // A lesson outside the package: its program is built inside the package's .workbook/.
        let program = package.appendingPathComponent(".workbook/build/lesson/program")
        let fromProgram = try SourceModelManifest.packageModelsFolder(
            environment: [:], currentFolder: root.appendingPathComponent("elsewhere/notes"), executable: program)
        XCTAssertEqual(fromProgram.standardizedFileURL.path, expected)
    }

    func testNotFoundSaysWhereItLookedAndWhatToDo() {
        XCTAssertThrowsError(try SourceModelManifest.packageModelsFolder(
            environment: ["WORKBOOK_PACKAGE_ROOT": root.appendingPathComponent("elsewhere").path],
            currentFolder: root.appendingPathComponent("elsewhere/notes"), executable: nil)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("WORKBOOK_PACKAGE_ROOT"), text)
            XCTAssertTrue(text.contains("elsewhere/models"), text)
            XCTAssertTrue(text.contains("loadSourceModel(folder:)"), text)
        }
    }
}
