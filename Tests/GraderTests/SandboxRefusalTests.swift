import XCTest
@testable import Grader
import Notebook

/// Where students' programs cannot be sandboxed (no bubblewrap, no user namespaces, not root),
/// `workbook grade` refuses to run them unless told `--unsafe-no-sandbox`, and says why and how
/// to enable user namespaces. The machine's lack of isolation is simulated with
/// `WORKBOOK_SANDBOX_PROBE=unavailable`.
final class SandboxRefusalTests: XCTestCase {
    func testRefusalNamesTheProblemTheFixAndTheEscapeHatch() throws {
        let refusal = try XCTUnwrap(GradingRun.sandboxRefusal(isolates: true, allowsUnsandboxed: false, problem: "no bwrap"))
        XCTAssertTrue(refusal.contains("no bwrap"), refusal)
        XCTAssertTrue(refusal.contains("kernel.unprivileged_userns_clone=1"), refusal)
        XCTAssertTrue(refusal.contains("user.max_user_namespaces"), refusal)
        XCTAssertTrue(refusal.contains("--unsafe-no-sandbox"), refusal)
        XCTAssertNil(GradingRun.sandboxRefusal(isolates: true, allowsUnsandboxed: true, problem: "no bwrap"))
        XCTAssertNil(GradingRun.sandboxRefusal(isolates: true, allowsUnsandboxed: false, problem: nil))
    }

    func testGradeCommandRefusesWithoutASandboxUnlessTold() throws {
        let workbook = try WorkbookExecutable.required()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("refusal-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let submissions = root.appendingPathComponent("submissions/ann")
        try FileManager.default.createDirectory(at: submissions, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env[Sandbox.probeOverrideVariable] = "unavailable"
        // A package root that does not exist: past the sandbox check the command fails there instead.
        let arguments = ["grade", root.appendingPathComponent("submissions").path, "--exercises", root.appendingPathComponent("none").path,
                         "--out", root.appendingPathComponent("out").path, "--package-root", root.appendingPathComponent("no-package").path]
        let refused = try ChildProcess(executable: workbook.path, arguments: arguments, environment: env).run()
        let message = String(decoding: refused.stderr, as: UTF8.self)
        XCTAssertEqual(refused.termination, .exited(1), message)
        XCTAssertTrue(message.contains("refusing to run students' programs without a sandbox"), message)
        XCTAssertTrue(message.contains("user namespaces"), message)
        XCTAssertTrue(message.contains("--unsafe-no-sandbox"), message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("out").path), "graded anyway")

        let allowed = try ChildProcess(executable: workbook.path, arguments: arguments + ["--unsafe-no-sandbox"], environment: env).run()
        let warned = String(decoding: allowed.stderr, as: UTF8.self)
        XCTAssertTrue(warned.contains("warning: --unsafe-no-sandbox"), warned)
        XCTAssertFalse(warned.contains("refusing"), warned)
    }
}
