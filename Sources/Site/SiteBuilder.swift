import Foundation
import Notebook

/// Produces a lesson's execution result (the notebook pipeline with its cache, or fixtures in tests).
public protocol LessonExecutor {
    func execute(_ lesson: Lesson) throws -> (result: LessonResult, cached: Bool)
    /// Why `lesson` would run again rather than come from the cache (nil: it would not, or unknown).
    /// Asked before `execute`, which replaces what the answer is computed from.
    func missReason(_ lesson: Lesson) -> String?
}

extension LessonExecutor {
    public func missReason(_ lesson: Lesson) -> String? { nil }
}

/// Runs lessons through `LessonPipeline`, re-using the execution cache.
public struct PipelineExecutor: LessonExecutor {
    public var pipeline: LessonPipeline
    /// Receives one line per lesson (started, then finished or cached): a full build of the course
    /// runs for minutes, and whoever started it should see where it is.
    public var progress: ((String) -> Void)?
    public init(pipeline: LessonPipeline, progress: ((String) -> Void)? = nil) {
        self.pipeline = pipeline
        self.progress = progress
    }
    public func execute(_ lesson: Lesson) throws -> (result: LessonResult, cached: Bool) {
        let start = Date()
        progress?("\(lesson.path) ...")
        let run = try pipeline.run(lesson)
        let status = run.result.succeeded ? "ok" : "FAILED"
        progress?(run.cached ? "  \(lesson.path): from the cache (\(status))"
                             : String(format: "  %@: %@ in %.1f s", lesson.path, status, Date().timeIntervalSince(start)))
        return (run.result, run.cached)
    }

    public func missReason(_ lesson: Lesson) -> String? {
        if pipeline.options.force { return "--force" }
        if !pipeline.options.useCache { return "the cache is off" }
        return pipeline.cache.missReason(for: lesson, engine: pipeline.engine.fingerprint,
                                         toolchain: EngineBuild.toolchainVersion(), packageRoot: pipeline.engine.packageRoot)
    }
}

/// `workbook build`: loads lessons/*.md and exercises/*.md, runs them (or re-uses cached
/// results), renders the site into a temporary folder next to the output and swaps it in, so
/// the previous site stays whole if anything fails.
public struct SiteBuilder {
    public struct Options {
        /// The course: holds lessons/, exercises/ and (by default) the theme in site/.
        public var root: URL
        public var output: URL
        public var theme: URL
        /// Render failing lessons with their errors instead of stopping (the build still reports failure).
        public var keepGoing = false
        public var renderer = SiteRenderer.Options()
        /// Where typeset math is remembered between builds (nil: not remembered).
        public var mathCache: URL?
        /// nil: detect node + KaTeX.
        public var mathMode: MathRenderer.Mode?

        public init(root: URL, output: URL? = nil, theme: URL? = nil) {
            self.root = root
            self.output = output ?? root.appendingPathComponent("_site")
            self.theme = theme ?? root.appendingPathComponent("site")
            self.mathCache = root.appendingPathComponent(".workbook/site/math-cache.json")
            renderer.sourceRoot = root
        }
    }

    /// One lesson's or exercise's line in the build report.
    public struct PageRun: Sendable {
        public var path: String
        public var title: String
        public var url: String
        public var cached: Bool
        /// Why it ran again (nil when it came from the cache).
        public var reason: String?
        public var cells: [CellResult]
        public var lines: [Int]
        public var durations: LessonResult.Durations?
    }

    public struct Report: Sendable {
        public var runs: [PageRun] = []
        public var pages = 0
        public var executed = 0
        public var cached = 0
        public var warnings: [String] = []
        /// Lessons that failed (with `keepGoing`; otherwise the build throws): `file:line: …` messages.
        public var failures: [String] = []
        public var seconds = 0.0
    }

    public var options: Options
    public init(options: Options) { self.options = options }

    /// Reads the course's Markdown files (no execution).
    public static func loadCourse(root: URL) throws -> (course: Course, errors: [String]) {
        var errors: [String] = []
        func load(_ folder: String, configuration: LessonParser.Configuration) -> [Lesson] {
            let dir = root.appendingPathComponent(folder)
            let names = (try? CourseFiles.pages(in: dir)) ?? []
            return names.compactMap { name in
                let path = "\(folder)/\(name)"
                do {
                    let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
                    return try LessonParser(configuration: configuration).parse(text: text, path: path)
                } catch {
                    errors.append("\(error)")
                    return nil
                }
            }
        }
        var lessons = load("lessons", configuration: LessonParser.Configuration())
        let intro = lessons.first { $0.path == "lessons/" + CourseFiles.intro }
        lessons.removeAll { $0.path == "lessons/" + CourseFiles.intro }
        let exerciseLessons = load("exercises", configuration: Exercise.parserConfiguration).filter { exercise in
            do { _ = try Exercise(lesson: exercise); return true } catch { errors.append("\(error)"); return false }
        }
        let title = intro.map { CoursePage(kind: .lesson, lesson: $0, result: nil).title }.flatMap { $0 == "index" ? nil : $0 } ?? "Workbook"
        let course = Course(title: title, intro: intro,
                            lessons: Course.ordered(lessons.map { CoursePage(kind: .lesson, lesson: $0, result: nil) }),
                            exercises: Course.ordered(exerciseLessons.map { CoursePage(kind: .exercise, lesson: $0, result: nil) }))
        return (course, errors)
    }

    /// Messages for everything that went wrong in a result, each naming `file:line`.
    public static func failures(in result: LessonResult, lesson: Lesson) -> [String] {
        var out: [String] = []
        for cell in result.cells where [.error, .timeout, .compileError].contains(cell.status) {
            let fallback = "\(lesson.path):\(cell.line): error: cell \(cell.index + 1) \(cell.status.rawValue)"
            out.append(cell.error.map { $0.contains(lesson.path) ? $0 : fallback + ": " + $0 } ?? fallback)
        }
        out += result.messages
        if out.isEmpty && !result.succeeded { out.append("\(lesson.path): error: the lesson did not run as intended") }
        return out
    }

    public func build(executor: LessonExecutor) throws -> Report {
        let start = Date()
        var report = Report()
        // First of all, so that even a build that fails puts back a site a killed build left aside.
        Self.recoverInterrupted(options.output)
        let loaded = try Self.loadCourse(root: options.root)
        var course = loaded.course
        report.failures += loaded.errors

        func run(_ pages: inout [CoursePage]) {
            for i in pages.indices {
                let page = pages[i]
                let runnable = page.kind == .exercise ? ((try? Exercise(lesson: page.lesson))?.runnableLesson ?? page.lesson) : page.lesson
                do {
                    let reason = executor.missReason(runnable)
                    let (result, cached) = try executor.execute(runnable)
                    pages[i].result = result
                    if cached { report.cached += 1 } else { report.executed += 1 }
                    report.runs.append(PageRun(path: page.lesson.path, title: page.title, url: page.url, cached: cached,
                                               reason: cached ? nil : (reason ?? "re-ran (no reason recorded)"),
                                               cells: result.cells, lines: page.lesson.cells.map(\.line),
                                               durations: result.durations))
                    report.failures += Self.failures(in: result, lesson: page.lesson)
                } catch {
                    report.failures.append("\(error)")
                }
            }
        }
        run(&course.lessons)
        run(&course.exercises)
        if !report.failures.isEmpty && !options.keepGoing {
            throw SiteError("the site was not updated:\n" + report.failures.joined(separator: "\n")
                            + "\n(--keep-going renders the errors into the pages)")
        }

        try Self.checkReplaceable(options.output)
        let theme = try Theme(directory: options.theme)
        let detected = MathRenderer.detect()
        let math = MathRenderer(mode: options.mathMode ?? detected.mode, assetsDirectory: detected.assets, cacheFile: options.mathCache)
        var renderer = SiteRenderer(theme: theme, math: math, options: options.renderer)
        let runs = report.runs
        try Self.replace(options.output) { try renderer.render(course, runs: runs, into: $0) }
        report.pages = course.pages.count + 1
        report.warnings = renderer.warnings
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Marks a folder as a site built here, so a later build may replace it.
    public static let marker = ".workbook-site"

    /// A build replaces its output folder wholesale, so it refuses a folder that is neither empty
    /// nor a site it built (`--out .` must not delete the course).
    public static func checkReplaceable(_ output: URL) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: output.path, isDirectory: &isDirectory) else { return }
        let contents = (try? fm.contentsOfDirectory(atPath: output.path)) ?? []
        // (Sites from before the marker existed have index.html and assets/search-index.js.)
        let looksBuilt = contents.contains("index.html")
            && fm.fileExists(atPath: output.appendingPathComponent("assets/search-index.js").path)
        guard isDirectory.boolValue, contents.isEmpty || contents.contains(marker) || looksBuilt else {
            throw SiteError("\(output.path): error: refusing to replace this folder: it is not a site built by workbook "
                            + "(no \(marker) file in it); choose another --out or remove it")
        }
    }

    /// Renders into `.NAME.tmp-PID` next to `output`, then swaps it in. If `render` throws,
    /// `output` is untouched and the temporary folder removed. The swap is one
    /// `renameat2(RENAME_EXCHANGE)` where the kernel and file system have it, so `output` is never
    /// missing, not even under kill -9; elsewhere it falls back to two renames, and the next build
    /// puts back a site left aside by a build killed between them.
    public static func replace(_ output: URL, render: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = output.deletingLastPathComponent()
        let name = output.lastPathComponent
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        recoverInterrupted(output)
        let pid = getpid()
        let temp = parent.appendingPathComponent(".\(name).tmp-\(pid)")
        let old = parent.appendingPathComponent(".\(name).old-\(pid)")
        try? fm.removeItem(at: temp)
        do {
            try render(temp)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        testHook("before-swap")
        if FileSystemSwap.exists(output) {
            if FileSystemSwap.exchange(temp, output) {
                // `temp` now holds the previous site.
                testHook("after-swap")
                try? fm.removeItem(at: temp)
                return
            }
            // No RENAME_EXCHANGE (old kernel, some file systems): set the old site aside first.
            try FileSystemSwap.move(output, to: old)
            testHook("between-renames")
            do {
                try FileSystemSwap.move(temp, to: output)
            } catch {
                try? FileSystemSwap.move(old, to: output)
                try? fm.removeItem(at: temp)
                throw error
            }
            testHook("after-swap")
            try? fm.removeItem(at: old)
        } else {
            try FileSystemSwap.move(temp, to: output)
            testHook("after-swap")
        }
    }

    /// Cleans up after builds that were killed: puts a site that was set aside back when
    /// `output` is missing, and removes `.NAME.tmp-PID` / `.NAME.old-PID` folders of processes
    /// that are gone.
    static func recoverInterrupted(_ output: URL) {
        let fm = FileManager.default
        let parent = output.deletingLastPathComponent()
        let name = output.lastPathComponent
        let leftovers = ((try? fm.contentsOfDirectory(atPath: parent.path)) ?? []).filter { entry in
            guard entry.hasPrefix(".\(name).tmp-") || entry.hasPrefix(".\(name).old-") else { return false }
            let pidText = entry.split(separator: "-").last.map(String.init) ?? ""
            if let pid = Int32(pidText), pid != getpid(), kill(pid, 0) == 0 { return false }  // another live build
            return true
        }.sorted()
        if !FileSystemSwap.exists(output), let aside = leftovers.first(where: { $0.hasPrefix(".\(name).old-") }) {
            try? FileSystemSwap.move(parent.appendingPathComponent(aside), to: output)
        }
        for entry in leftovers where fm.fileExists(atPath: parent.appendingPathComponent(entry).path) {
            try? fm.removeItem(at: parent.appendingPathComponent(entry))
        }
    }

    /// Test-only: `WORKBOOK_TEST_KILL_AT=before-swap|after-swap|between-renames` makes the build
    /// kill itself with SIGKILL at that point, so tests can check what a kill -9 leaves behind.
    static func testHook(_ point: String) { TestHooks.killIfRequested(at: point) }
}

/// The renames of the site swap, in terms of the C library (FileManager's move copies across
/// devices and never exchanges).
enum FileSystemSwap {
    /// Swaps two existing paths atomically (`AtomicRename.exchange`); false when the system cannot
    /// (the caller falls back).
    static func exchange(_ a: URL, _ b: URL) -> Bool {
        // Test-only: WORKBOOK_TEST_NO_EXCHANGE=1 takes the fallback, as on a system without it.
        guard ProcessInfo.processInfo.environment["WORKBOOK_TEST_NO_EXCHANGE"] == nil else { return false }
        return (try? AtomicRename.exchange(a, b)) ?? false
    }

    static func move(_ source: URL, to target: URL) throws {
        guard rename(source.path, target.path) == 0 else {
            throw SiteError("cannot rename \(source.path) to \(target.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The path exists (a symbolic link counts even when it dangles).
    static func exists(_ url: URL) -> Bool {
        var info = stat()
        return lstat(url.path, &info) == 0
    }
}
