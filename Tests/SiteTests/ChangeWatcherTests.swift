import Foundation
@testable import Site
import XCTest

final class ChangeWatcherTests: XCTestCase {
    func testNoticesNewEditedAndRemovedFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var watcher = ChangeWatcher(folders: [dir])
        XCTAssertFalse(watcher.changed())
        let file = dir.appendingPathComponent("a.md")
        try "one".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertTrue(watcher.changed())
        XCTAssertFalse(watcher.changed())
        try "longer".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertTrue(watcher.changed())
        try FileManager.default.removeItem(at: file)
        XCTAssertTrue(watcher.changed())
    }
}
