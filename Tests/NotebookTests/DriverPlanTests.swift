import XCTest
@testable import Notebook

/// `ProgramCompiler` runs the jobs `swiftc -###` printed once for a placeholder program instead of
/// the driver for every program; these tests pin how the printed jobs are read and refused.
final class DriverPlanTests: XCTestCase {
    let frontend = "/opt/swift/usr/bin/swift-frontend -frontend -c -primary-file \(DriverPlan.placeholderMain) -module-cache-path '/tmp/a b/c\"d' -module-name WorkbookExercise -o /tmp/TemporaryDirectory.Ab12/main-1.o"
    let autolink = "/opt/swift/usr/bin/swift-autolink-extract /tmp/TemporaryDirectory.Ab12/main-1.o -o /tmp/TemporaryDirectory.Ab12/program-1.autolink"
    let link = "/opt/swift/usr/bin/clang -fuse-ld=lld -pie /tmp/TemporaryDirectory.Ab12/main-1.o @/tmp/TemporaryDirectory.Ab12/program-1.autolink -L /x -lWorkbookKit -o \(DriverPlan.placeholderExecutable)"

    func testJobsGetTheProgramsOwnPaths() throws {
        let plan = try XCTUnwrap(DriverPlan.parse([frontend, autolink, link]))
        XCTAssertEqual(plan.temporary, "/tmp/TemporaryDirectory.Ab12")
        let jobs = plan.jobs(main: "/w/s 1/main.swift", executable: "/w/s 1/program", intermediates: "/w/s 1/.jobs")
        XCTAssertEqual(jobs.map(\.name), ["frontend", "autolink", "link"])
        XCTAssertEqual(jobs[0].command, ["/opt/swift/usr/bin/swift-frontend", "-frontend", "-c", "-primary-file", "/w/s 1/main.swift",
                                         "-module-cache-path", "/tmp/a b/c\"d", "-module-name", "WorkbookExercise",
                                         "-o", "/w/s 1/.jobs/main-1.o"])
        XCTAssertEqual(jobs[1].command.suffix(3), ["/w/s 1/.jobs/main-1.o", "-o", "/w/s 1/.jobs/program-1.autolink"])
        XCTAssertTrue(jobs[2].command.contains("@/w/s 1/.jobs/program-1.autolink"))
        XCTAssertEqual(jobs[2].command.suffix(2), ["-o", "/w/s 1/program"])
        for job in jobs { XCTAssertFalse(job.command.joined(separator: " ").contains("TemporaryDirectory"), "\(job.command)") }
    }

    func testUnexpectedJobsAreNotPlanned() {
        // A response file the driver wrote (a long command line) is not the program's to reuse.
        let withResponseFile = frontend.replacingOccurrences(of: "-module-name", with: "@/tmp/TemporaryDirectory.Ab12/args.resp -module-name")
        XCTAssertNil(DriverPlan.parse([withResponseFile, autolink, link]))
        XCTAssertNil(DriverPlan.parse([frontend, link]))
        XCTAssertNil(DriverPlan.parse([frontend, autolink, link, link]))
        XCTAssertNil(DriverPlan.parse([frontend, autolink, link.replacingOccurrences(of: "-o \(DriverPlan.placeholderExecutable)", with: "-o /elsewhere")]))
        XCTAssertNil(DriverPlan.parse([frontend + " -emit-dependencies-path \(DriverPlan.placeholderDirectory)/main.d", autolink, link]))
        XCTAssertNil(DriverPlan.parse(["/bin/echo 'unterminated", autolink, link]))
    }

    func testShellWords() {
        XCTAssertEqual(DriverPlan.words(#"a 'b c' "d\"e" f\ g  h"#), ["a", "b c", "d\"e", "f g", "h"])
        XCTAssertEqual(DriverPlan.words("x ''"), ["x", ""])
        XCTAssertNil(DriverPlan.words("x \"open"))
    }

    /// The planned jobs compile like the driver: the same diagnostics for a broken program, the
    /// same output from a working one; and each argument list (module name, engine folder) has its
    /// own plan.
    func testPlannedCompileMatchesTheDriver() throws {
        let engine = try EngineBuild()
        guard engine.isBuilt else { throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("driver-plan-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var planned = ProgramCompiler(engine: engine, moduleCache: scratch.appendingPathComponent("modules"), moduleName: "PlanTest")
        var driver = planned
        driver.reusesDriverPlan = false
        let good = "import Workbook\nlet t = Tensor([1, 2, 3], shape: [3])\nprint(t.sum().item())\n"
        let bad = "import Workbook\nlet t = Tensor([1, 2, 3], shape: [3])\nlet u: Int = t\nprint(notDefined)\n"
        var outputs: [String] = []
        for compiler in [planned, driver] {
            let label = compiler.reusesDriverPlan ? "planned" : "driver"
            let ok = try compiler.compile(source: good, name: "good", in: scratch.appendingPathComponent(label))
            let exe = try XCTUnwrap(ok.executable, "\(label): \(ok.log)")
            XCTAssertEqual(ok.jobSeconds.keys.sorted(), compiler.reusesDriverPlan ? ["autolink", "frontend", "link"] : [])
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("\(label)/.jobs-good").path))
            let run = try ChildProcess(executable: exe.path, arguments: []).run()
            outputs.append(String(decoding: run.stdout, as: UTF8.self))
            let failed = try compiler.compile(source: bad, name: "bad", in: scratch.appendingPathComponent(label))
            XCTAssertNil(failed.executable)
            outputs.append(failed.errors.map { "\($0)".replacingOccurrences(of: scratch.appendingPathComponent(label).path, with: "") }.joined(separator: "\n"))
        }
        XCTAssertEqual(outputs[0], "6.0\n")
        XCTAssertEqual(outputs[0], outputs[2])
        XCTAssertEqual(outputs[1], outputs[3])
        XCTAssertEqual(outputs[1].split(separator: "\n").count, 2, outputs[1])

        // Another module name or engine folder plans anew: a kept plan never compiles for the wrong one.
        let first = try XCTUnwrap(DriverPlan.plan(arguments: planned.arguments(main: DriverPlan.placeholderMain, executable: DriverPlan.placeholderExecutable)))
        planned.moduleName = "OtherName"
        let second = try XCTUnwrap(DriverPlan.plan(arguments: planned.arguments(main: DriverPlan.placeholderMain, executable: DriverPlan.placeholderExecutable)))
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(second.templates[0].command.contains("OtherName"))
        planned.engine.buildDirectory = scratch.appendingPathComponent("other-build")
        let third = try XCTUnwrap(DriverPlan.plan(arguments: planned.arguments(main: DriverPlan.placeholderMain, executable: DriverPlan.placeholderExecutable)))
        XCTAssertTrue(third.templates[2].command.contains(scratch.appendingPathComponent("other-build").path))
    }
}
