import Foundation
import XCTest
@testable import Vision

/// The IDX inputs in fuzz/regressions (files that once allocated gigabytes) are refused at once.
final class RegressionFixtureTests: XCTestCase {
    func testIDXRegressionsAreRefusedQuicklyAndCheaply() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../fuzz/regressions/idx").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(names, ["declares-2GiB-in-24-bytes.idx", "declares-2GiB-in-24-bytes.idx.gz"])
        for name in names {
            let url = folder.appendingPathComponent(name)
            var message = ""
            let cost = try measureCost { XCTAssertThrowsError(try IDX.read(url)) { message = "\($0)" } }
            XCTAssertLessThan(cost.seconds, 0.1, name)
            if let megabytes = cost.megabytes { XCTAssertLessThan(megabytes, 50, name) }
            XCTAssertTrue(message.contains(name) && message.contains("limit"), message)
        }
    }
}
