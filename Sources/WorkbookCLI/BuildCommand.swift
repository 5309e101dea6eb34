import ArgumentParser
import Foundation
import Grader
import Notebook
import Site

/// The site's view of the grader's exercise format (exercises/FORMAT.md): given cells are shown
/// and run; answer cells show the handout's starter code, then the reference solution with its
/// outputs behind a toggle; visible checks are shown, not run; hidden checks and (with
/// --no-solutions) the `## Explanation` section are left out.
struct GraderExerciseConventions: ExerciseConventions {
    var parserConfiguration: LessonParser.Configuration { Exercise.parserConfiguration }

    func validate(_ exercise: Lesson) throws { _ = try Exercise(lesson: exercise) }

    func role(of cell: Cell, in exercise: Lesson) -> CellRole {
        guard let roles = try? Exercise(lesson: exercise).roles, cell.index < roles.count else { return .normal }
        switch roles[cell.index] {
        case .given: return .normal
        case .answer: return .solution
        case .check: return .check
        case .hiddenCheck: return .hidden
        }
    }

    func starterSource(of cell: Cell, in exercise: Lesson) -> String? {
        guard let handout = try? Exercise(lesson: exercise).studentVersion(),
              let lesson = try? LessonParser(configuration: parserConfiguration).parse(text: handout, path: exercise.path)
        else { return nil }
        return lesson.cells.first { $0.id == cell.id }?.source
    }

    /// The solution without its `// BEGIN SOLUTION` / `// END SOLUTION` markers and starter lines.
    func solutionSource(of cell: Cell, in exercise: Lesson) -> String? {
        var out: [Substring] = []
        var inStarter = false
        for line in cell.source.split(separator: "\n", omittingEmptySubsequences: false) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t == Exercise.beginSolution { continue }
            if t == Exercise.starter { inStarter = true; continue }
            if t == Exercise.endSolution { inStarter = false; continue }
            if !inStarter { out.append(line) }
        }
        return out.joined(separator: "\n")
    }

    func solutionLines(in exercise: Lesson) -> [ClosedRange<Int>] {
        (try? Exercise(lesson: exercise).explanationLines).flatMap { $0 }.map { [$0] } ?? []
    }

    /// Checks are closures over the student's exports, not lesson code: the site runs the
    /// reference solution with the given cells only.
    func runnable(_ exercise: Lesson) -> Lesson {
        guard let roles = try? Exercise(lesson: exercise).roles else { return exercise }
        var lesson = exercise
        lesson.blocks = lesson.blocks.map { block in
            guard case .cell(var cell) = block, cell.index < roles.count,
                  roles[cell.index] == .check || roles[cell.index] == .hiddenCheck else { return block }
            cell.options.noRun = true
            return .cell(cell)
        }
        return lesson
    }
}

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
        options.renderer.exercises = GraderExerciseConventions()
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
