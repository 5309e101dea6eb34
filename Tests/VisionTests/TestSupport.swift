import Foundation
import XCTest
@testable import Vision

/// Locates committed fixtures (copied into the test bundle as `Fixtures`).
enum Fixtures {
    static let root: URL = {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) { return url }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }()
    static func image(_ name: String) -> URL { root.appendingPathComponent("images/\(name)") }
    static func reference(_ name: String) -> URL { root.appendingPathComponent("references/\(name)") }
}

/// A fresh temporary folder removed at the end of the test.
func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("VisionTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Largest absolute difference between two images' samples (they must have the same geometry).
func maxDifference(_ a: Image, _ b: Image, file: StaticString = #filePath, line: UInt = #line) -> Int {
    XCTAssertEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], "geometry", file: file, line: line)
    guard a.pixels.count == b.pixels.count else { return Int.max }
    return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
}
