import ArgumentParser
import Foundation
import Grader
import Notebook
import Site

/// Options shared by `workbook build` and `workbook serve`.
struct SiteBuildOptions: ParsableArguments {
    @Option(help: "Output folder (default: _site in the package root).")
    var out: String?

    @Option(help: "Theme folder with templates/ and assets/ (default: site/ in the package root).")
    var theme: String?

    @Flag(help: "Leave exercise solutions out of the site entirely (a student-facing site).")
    var noSolutions = false

    @Flag(help: "Allow raw HTML in lesson Markdown (off by default: cmark's safe mode).")
    var allowHtml = false

    @Flag(help: "Run every lesson again even if stored outputs are up to date.")
    var force = false

    @Flag(help: "Report broken internal links, anchors and @fig- references as warnings instead of failing the build.")
    var allowBrokenLinks = false

    @Option(help: "Package root (default: found from the current directory, or WORKBOOK_PACKAGE_ROOT).")
    var packageRoot: String?

    /// Resolves paths against the directory the command was started from, then moves to the
    /// package root (lesson paths and lesson programs are relative to it).
    func makeBuilder(keepGoing: Bool) throws -> (SiteBuilder, PipelineExecutor) {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let engine = try EngineBuild(root: packageRoot)
        let root = engine.packageRoot
        var options = SiteBuilder.Options(root: root,
                                          output: out.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL },
                                          theme: theme.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL })
        options.keepGoing = keepGoing
        options.renderer.includeSolutions = !noSolutions
        options.renderer.allowRawHTML = allowHtml
        options.renderer.allowBrokenLinks = allowBrokenLinks
        _ = FileManager.default.changeCurrentDirectoryPath(root.path)
        var pipelineOptions = LessonPipeline.Options()
        pipelineOptions.force = force
        let progress: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        return (SiteBuilder(options: options),
                PipelineExecutor(pipeline: LessonPipeline(engine: engine, options: pipelineOptions), progress: progress))
    }
}

/// `workbook build`: runs (or re-uses) every lesson and exercise solution and writes the static site.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Run lessons and exercises (or re-use their cached outputs) and render the course as a static site.",
        discussion: """
        A lesson whose cells fail stops the build and the previous site stays as it was. With \
        --keep-going the errors are rendered into the pages, the site is written, and the command \
        still exits with status 1.
        """)

    @OptionGroup var site: SiteBuildOptions

    @Flag(help: "Render failing lessons with their errors instead of stopping (exit status stays 1).")
    var keepGoing = false

    func run() throws {
        let (builder, executor) = try site.makeBuilder(keepGoing: keepGoing)
        let report: SiteBuilder.Report
        do {
            report = try builder.build(executor: executor)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        for warning in report.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        for failure in report.failures { FileHandle.standardError.write(Data("\(failure)\n".utf8)) }
        // Why pages ran again (the same as build.html says).
        for run in report.runs where !run.cached { print("ran \(run.path): \(run.reason ?? "-")") }
        print(String(format: "wrote %d pages to %@ in %.2f s (%d lessons run, %d from the cache; report: build.html)",
                     report.pages, builder.options.output.path, report.seconds, report.executed, report.cached))
        if !report.failures.isEmpty { throw ExitCode.failure }
    }
}
