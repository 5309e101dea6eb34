import Foundation
import XCTest

/// The `workbook` executable beside the test bundle (`swift build --build-tests` builds it), for
/// the tests that drive the CLI as a user would.
enum WorkbookExecutable {
    static var url: URL? {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        return [beside, beside.deletingLastPathComponent()].map { $0.appendingPathComponent("workbook") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static let notBuilt = "the workbook executable is not built beside the tests (swift build --build-tests builds it)"

    /// The executable, or a skip that says how to build it.
    static func required() throws -> URL {
        guard let url else { throw XCTSkip(notBuilt) }
        return url
    }
}
