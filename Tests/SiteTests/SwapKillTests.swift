import Foundation
@testable import Site
import XCTest

/// kill -9 of a real `workbook build` at each step of the site swap: the previous site (or the
/// new one, once swapped) is complete and visible, and the next build leaves no temporary folders.
final class SwapKillTests: XCTestCase {
    var root: URL!

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `workbook` executable of this build (next to the test bundle).
    static var workbook: URL? {
        let candidates = [Bundle.main.bundleURL, Bundle(for: SwapKillTests.self).bundleURL.deletingLastPathComponent(),
                          repository.appendingPathComponent(".build/debug")]
            .map { $0.appendingPathComponent("workbook") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("site-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("lessons"), withIntermediateDirectories: true)
        // A package root for the CLI; a course of one home page runs no lesson, so no engine is needed.
        try "// The workbook package (declares WorkbookKit) for a site test.\n"
            .write(to: root.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try setHome("VERSION_ONE")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func setHome(_ word: String) throws {
        try "---\ntitle: Kill test\n---\nThis is \(word) of the site.\n"
            .write(to: root.appendingPathComponent("lessons/index.md"), atomically: true, encoding: .utf8)
    }

    /// Runs `workbook build`; returns how it ended.
    func runBuild(environment extra: [String: String] = [:], arguments: [String] = []) throws -> (status: Int32, signalled: Bool, output: String) {
        let workbook = try XCTUnwrap(Self.workbook, "the workbook executable is not built (swift build)")
        let process = Process()
        process.executableURL = workbook
        process.arguments = ["build", "--package-root", root.path, "--theme", Self.repository.appendingPathComponent("site").path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "WORKBOOK_TEST_KILL_AT")
        for (k, v) in extra { environment[k] = v }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal, String(decoding: data, as: UTF8.self))
    }

    var site: URL { root.appendingPathComponent("_site") }

    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasPrefix("._site.") }
    }

    /// Every file of the site and its bytes.
    func snapshot() throws -> [String: Data] {
        var files: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: site.path)
        while let p = e?.nextObject() as? String {
            var dir: ObjCBool = false
            let url = site.appendingPathComponent(p)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &dir), !dir.boolValue { files[p] = try Data(contentsOf: url) }
        }
        return files
    }

    func checkKill(at point: String, environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
        try? FileManager.default.removeItem(at: site)
        try setHome("VERSION_ONE")
        let built = try runBuild()
        XCTAssertEqual(built.status, 0, built.output, file: file, line: line)
        let old = try snapshot()
        XCTAssertTrue(String(decoding: old["index.html"] ?? Data(), as: UTF8.self).contains("VERSION_ONE"), file: file, line: line)

        try setHome("VERSION_TWO")
        var env = environment
        env["WORKBOOK_TEST_KILL_AT"] = point
        let killed = try runBuild(environment: env)
        XCTAssertTrue(killed.signalled && killed.status == SIGKILL, "\(point): expected a SIGKILL, got \(killed.status): \(killed.output)",
                      file: file, line: line)
        let after = point == "between-renames" ? nil : try snapshot()
        if let after {
            // Complete and visible: exactly the old site, or exactly a whole new one.
            let index = String(decoding: after["index.html"] ?? Data(), as: UTF8.self)
            if index.contains("VERSION_ONE") {
                XCTAssertEqual(after, old, "\(point): the previous site is whole", file: file, line: line)
            } else {
                XCTAssertTrue(index.contains("VERSION_TWO"), "\(point): \(index)", file: file, line: line)
                XCTAssertEqual(Set(after.keys), Set(old.keys), "\(point): the new site is whole", file: file, line: line)
            }
            XCTAssertEqual(point == "after-swap", index.contains("VERSION_TWO"), point, file: file, line: line)
        }

        if point == "between-renames" {
            // Even a next build that fails puts the previous site back.
            try "---\ntitle: [unclosed\n---\n".write(to: root.appendingPathComponent("lessons/index.md"), atomically: true, encoding: .utf8)
            let failing = try runBuild()
            XCTAssertNotEqual(failing.status, 0, failing.output, file: file, line: line)
            XCTAssertEqual(try snapshot(), old, "the site left aside is back", file: file, line: line)
            XCTAssertEqual(try leftovers(), [], file: file, line: line)
            try setHome("VERSION_TWO")
        }
        // The next build cleans up (and, after the two-rename fallback, puts the site back first).
        let next = try runBuild()
        XCTAssertEqual(next.status, 0, next.output, file: file, line: line)
        XCTAssertEqual(try leftovers(), [], "\(point): temporary folders left", file: file, line: line)
        XCTAssertTrue(String(decoding: try snapshot()["index.html"] ?? Data(), as: UTF8.self).contains("VERSION_TWO"), file: file, line: line)
    }

    func testKillBeforeAndAfterTheExchange() throws {
        try checkKill(at: "before-swap")
        try checkKill(at: "after-swap")
    }

    func testKillBetweenTheFallbackRenamesIsRepairedByTheNextBuild() throws {
        try checkKill(at: "between-renames", environment: ["WORKBOOK_TEST_NO_EXCHANGE": "1"])
        try checkKill(at: "after-swap", environment: ["WORKBOOK_TEST_NO_EXCHANGE": "1"])
    }

    /// The command line: a broken link fails `workbook build` (exit 1, `file:line`, site kept);
    /// `--allow-broken-links` builds with a warning.
    func testBrokenLinkFailsTheCommandUnlessAllowed() throws {
        XCTAssertEqual(try runBuild().status, 0)
        let before = try snapshot()
        try "---\ntitle: Kill test\n---\nSee [the missing part](#nowhere).\n"
            .write(to: root.appendingPathComponent("lessons/index.md"), atomically: true, encoding: .utf8)
        let failed = try runBuild()
        XCTAssertEqual(failed.status, 1, failed.output)
        XCTAssertTrue(failed.output.contains("lessons/index.md:4: link to #nowhere: no such anchor #nowhere in index.html"), failed.output)
        XCTAssertEqual(try snapshot(), before, "the previous site stays")
        let allowed = try runBuild(arguments: ["--allow-broken-links"])
        XCTAssertEqual(allowed.status, 0, allowed.output)
        XCTAssertTrue(allowed.output.contains("warning: lessons/index.md:4: link to #nowhere"), allowed.output)
        XCTAssertTrue(allowed.output.contains("report: build.html"), allowed.output)
    }

    /// The site is never missing: a watcher sees the folder at every instant of many swaps.
    func testOutputNeverMissingDuringSwaps() throws {
        let out = root.appendingPathComponent("out")
        func write(_ text: String) throws {
            try SiteBuilder.replace(out) { dir in
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try text.write(to: dir.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            }
        }
        try write("0")
        let stop = ManagedFlag()
        let missing = ManagedFlag()
        let watcher = Thread {
            while !stop.value {
                if !FileManager.default.fileExists(atPath: out.appendingPathComponent("index.html").path) { missing.value = true }
            }
        }
        watcher.start()
        for i in 1...200 { try write("\(i)") }
        stop.value = true
        while !watcher.isFinished { usleep(1000) }
        XCTAssertFalse(missing.value, "the output folder was missing at some instant")
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8), "200")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasPrefix(".out.") }, [])
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool {
        get { lock.lock(); defer { lock.unlock() }; return flag }
        set { lock.lock(); flag = newValue; lock.unlock() }
    }
}
