import Foundation
import XCTest
@testable import Checkpoint

/// The .pth inputs in fuzz/regressions (pickle bombs that expanded without end) are refused.
final class RegressionFixtureTests: XCTestCase {
    func testPthRegressionsAreRefused() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../fuzz/regressions/pth").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(names, ["shared-lists-2pow40.pth", "shared-tuples-2pow40.pth"])
        for name in names {
            assertCheckpointError(.unsupported, mentions: [name, "PyTorchCheckpoint.maximumObjects"]) {
                _ = try Checkpoint.loadPyTorchObject(folder.appendingPathComponent(name))
            }
        }
    }
}
