import Foundation
import XCTest
import Torch
@testable import Checkpoint

/// `kill -9` at each step of `Checkpoint.save` (through the test-only hook WORKBOOK_TEST_KILL_AT)
/// leaves the previous checkpoint or the new one, complete; the next save leaves no temporary file.
final class CheckpointKillTests: XCTestCase {
    /// The `Fuzz` executable beside the test bundle: its `save-checkpoint` mode is the child.
    var saver: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("Fuzz")
    }

    func dict(_ value: Float) -> StateDict {
        var dict = StateDict()
        dict["fc.weight"] = Tensor.full([64, 256], value)
        dict["fc.bias"] = Tensor.full([64], value)
        return dict
    }

    /// Every value of the checkpoint at `url`, which must load completely.
    func values(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> Set<Float> {
        let loaded = try Checkpoint.load(url)
        XCTAssertEqual(loaded.keys, ["fc.weight", "fc.bias"], file: file, line: line)
        XCTAssertEqual(loaded["fc.weight"]?.shape, [64, 256], file: file, line: line)
        return Set(loaded.flatMap { $0.value.scalars })
    }

    /// Runs the child saver with the hook at `step`; returns whether it was killed by SIGKILL.
    func runChild(saving value: Float, to url: URL, killAt step: String) throws -> Bool {
        let process = Process()
        process.executableURL = saver
        process.arguments = ["save-checkpoint", url.path, String(value)]
        var environment = ProcessInfo.processInfo.environment
        environment["WORKBOOK_TEST_KILL_AT"] = step
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            XCTAssertEqual(process.terminationStatus, SIGKILL)
            return true
        }
        XCTAssertEqual(process.terminationStatus, 0, "the child failed to save")
        return false
    }

    func testKillAtEachStepOfSaveLeavesACompleteCheckpointAndNoTemporaryFile() throws {
        guard FileManager.default.isExecutableFile(atPath: saver.path) else {
            return XCTFail("\(saver.path) is missing: build the package (swift build --build-tests builds the Fuzz executable)")
        }
        for name in ["model.safetensors", "model.pth"] {
            for step in ["written", "linked", "renamed"] {
                let dir = TemporaryDirectory()
                let url = dir.file(name)
                try Checkpoint.save(dict(1), to: url)
                let killed = try runChild(saving: 2, to: url, killAt: step)
                if step != "linked" {
                    XCTAssertTrue(killed, "\(name): the hook at '\(step)' did not fire")
                }
                // The previous checkpoint until the rename, the new one after: complete either way.
                XCTAssertEqual(try values(url), step == "renamed" || !killed ? [2] : [1], "\(name) killed after '\(step)'")
                let leftovers = dir.contents.filter { $0 != name }
                XCTAssertTrue(leftovers.allSatisfy { $0.hasPrefix(".\(name).") && $0.hasSuffix(".tmp") },
                              "temporary names derive from the target: \(leftovers)")
                // The next save removes what the killed one left.
                try Checkpoint.save(dict(3), to: url)
                XCTAssertEqual(dir.contents, [name], "\(name) after a kill at '\(step)' and one more save")
                XCTAssertEqual(try values(url), [3])
            }
        }
    }

    func testSavesFromManyThreadsAtOnceEachCommitWhole() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("shared.safetensors")
        let failures = NSLock()
        var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do { try Checkpoint.save(dict(Float(i)), to: url) } catch {
                failures.lock(); errors.append("\(error)"); failures.unlock()
            }
        }
        XCTAssertEqual(errors, [])
        XCTAssertEqual(try values(url).count, 1, "one save's values, whole")
        XCTAssertEqual(dir.contents, ["shared.safetensors"])
    }

    func testATemporaryFileOfALiveProcessIsKept() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("model.safetensors")
        XCTAssertEqual(AtomicFileWriter.temporaryName(for: url, sequence: 3), ".model.safetensors.\(getpid())-3.tmp")
        // PID 1 (init) is always alive: its file stays; a dead process's file goes; other targets' stay.
        let live = dir.file(AtomicFileWriter.temporaryName(for: url, pid: 1, sequence: 1))
        let dead = dir.file(AtomicFileWriter.temporaryName(for: url, pid: Int32.max - 1, sequence: 1))
        let other = dir.file(".other.safetensors.\(Int32.max - 1)-1.tmp")
        let oldStyle = dir.file(".model.safetensors.\(Int32.max - 1).tmp")  // a name without a sequence
        for file in [live, dead, other, oldStyle] { FileManager.default.createFile(atPath: file.path, contents: Data([1])) }
        try Checkpoint.save(dict(1), to: url)
        XCTAssertEqual(Set(dir.contents), Set([url, live, other].map(\.lastPathComponent)))
    }
}
