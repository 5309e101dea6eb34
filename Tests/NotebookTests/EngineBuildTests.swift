import XCTest
@testable import Notebook

/// Lessons must run against the checkout's engine: a library older than any of its sources is
/// rebuilt before lessons run, and one newer than all of them is left alone.
final class EngineBuildTests: XCTestCase {
    func testLibraryOlderThanAnEngineSourceIsStale() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("engine-build-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: root) }
        let torch = root.appendingPathComponent("Sources/Torch/Kernels")
        let site = root.appendingPathComponent("Sources/Site")
        let build = root.appendingPathComponent(".build/release")
        for folder in [torch, site, build] { try fm.createDirectory(at: folder, withIntermediateDirectories: true) }
        let manifest = root.appendingPathComponent("Package.swift")
        let source = torch.appendingPathComponent("Conv.swift"), tool = site.appendingPathComponent("Page.swift")
        let library = build.appendingPathComponent(EngineBuild.libraryName)
        for file in [manifest, source, tool, library] { try Data("// WorkbookKit\n".utf8).write(to: file) }

        func age(_ url: URL, _ secondsAgo: Double) throws {
            try fm.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -secondsAgo)], ofItemAtPath: url.path)
        }
        let engine = try EngineBuild(root: root.path, buildDirectory: build.path)
        try age(manifest, 300); try age(source, 50); try age(tool, 10); try age(library, 100)
        XCTAssertTrue(engine.isStale, "Sources/Torch/Kernels/Conv.swift is newer than the library")
        try age(source, 150); try age(library, 50)
        XCTAssertFalse(engine.isStale, "only a tool target (Site) is newer; the library does not contain it")
        try age(manifest, 1)
        XCTAssertTrue(engine.isStale, "Package.swift changed")
        try fm.removeItem(at: library)
        XCTAssertTrue(engine.isStale, "no library at all")
    }
}
