import ArgumentParser
import Foundation
import Notebook

/// `workbook run lessons/NAME.md`: executes a lesson (or re-uses its stored outputs) and prints
/// each cell's output.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a lesson's cells and print their outputs.")

    @Argument(help: "Lesson files (Markdown).")
    var lessons: [String]

    @Flag(help: "Run again even if stored outputs are up to date.")
    var force = false

    @Flag(help: "Neither read nor write the execution cache; write nothing into the package's .workbook/ folder.")
    var noCache = false

    @Flag(help: "Show the Swift runtime's raw stack trace when a cell traps (outputs are then not cached).")
    var backtrace = false

    @Flag(help: "Rebuild the engine library (swift build -c release --product WorkbookKit) first.")
    var build = false

    @Option(help: "Package root (default: found from the current directory, or WORKBOOK_PACKAGE_ROOT).")
    var packageRoot: String?

    func run() throws {
        var options = LessonPipeline.Options()
        options.force = force
        options.useCache = !noCache
        options.buildEngine = build
        options.keepsBacktrace = backtrace
        let pipeline = try LessonPipeline(engine: EngineBuild(root: packageRoot), options: options)
        var failed = false
        for path in lessons {
            do {
                let run = try pipeline.run(path: path)
                // --no-cache writes nothing into the checkout; images then go to the temporary folder.
                let media = noCache
                    ? FileManager.default.temporaryDirectory.appendingPathComponent("workbook-outputs/\(run.lesson.name)")
                    : pipeline.engine.packageRoot.appendingPathComponent(".workbook/outputs/\(run.lesson.name)")
                print(TerminalReport(mediaDirectory: media).render(run), terminator: "")
                let d = run.result.durations
                print(run.cached ? "\(path): outputs from the cache (\(run.result.createdAt); --force to re-run)"
                                 : String(format: "\(path): generate %.2f s, compile %.2f s, run %.2f s", d.generate, d.compile, d.run))
                if !run.result.succeeded { failed = true }
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}
