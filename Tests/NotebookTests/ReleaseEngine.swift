import XCTest
@testable import Notebook

/// The release engine build that lesson programs link against, checked once per test run; a test
/// that needs it is skipped (with the build command) where it cannot be built.
enum ReleaseEngine {
    nonisolated(unsafe) private static var engine: EngineBuild?
    nonisolated(unsafe) private static var problem: String?

    static func required() throws -> EngineBuild {
        if engine == nil && problem == nil {
            do {
                let built = try EngineBuild()
                try built.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
                engine = built
            } catch {
                problem = "\(error)"
            }
        }
        if let problem { throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`: \(problem)") }
        return engine!
    }
}
