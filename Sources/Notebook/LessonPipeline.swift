import Foundation

/// Runs lessons through the stages load -> generate -> compile -> run -> collect, with the
/// execution cache in front. The CLI, the site builder and the grader all go through here.
public struct LessonPipeline {
    public struct Options: Sendable {
        /// Ignore a stored result (still store the new one).
        public var force = false
        /// Neither read nor write the cache.
        public var useCache = true
        /// Run `swift build -c release --product WorkbookKit` first (otherwise only if missing).
        public var buildEngine = false
        public var defaultCellTimeout: Double = 600
        public var lessonTimeout: Double = 3600
        public var parser = LessonParser.Configuration()
        /// Keep the runtime's raw stack trace of a trap in the outputs (never cached).
        public var keepsBacktrace = false
        public init() {}
    }

    public var engine: EngineBuild
    public var options: Options
    public var cache: ExecutionCache
    /// Where generated programs and binaries go (`<package>/.workbook/build`).
    public var workDirectory: URL

    public init(engine: EngineBuild, options: Options = Options()) {
        self.engine = engine
        self.options = options
        self.cache = ExecutionCache(directory: engine.packageRoot.appendingPathComponent(".workbook/cache"))
        self.workDirectory = engine.packageRoot.appendingPathComponent(".workbook/build")
    }

    public struct Run {
        public var lesson: Lesson
        public var result: LessonResult
        /// The result came from the cache.
        public var cached: Bool
    }

    /// Loads, then runs or re-uses the stored result.
    public func run(path: String) throws -> Run {
        let lesson = try LessonParser(configuration: options.parser).load(path: path)
        return try run(lesson)
    }

    public func run(_ lesson: Lesson) throws -> Run {
        let (key, inputs, toolchain) = try prepare(lesson)
        if options.useCache && !options.force && !options.keepsBacktrace, let stored = cache.lookup(lesson, key: key) {
            return Run(lesson: lesson, result: Self.rebase(stored, to: lesson), cached: true)
        }
        return try execute(lesson, key: key, inputs: inputs, toolchain: toolchain) { executable, runner in
            try runner.run(executable: executable, lesson: lesson)
        }
    }

    /// Builds the engine if needed (always with `buildEngine`) and computes the lesson's cache key.
    func prepare(_ lesson: Lesson) throws -> (key: String, inputs: [String: String], toolchain: String) {
        if options.buildEngine { try engine.build() } else { try engine.ensureBuilt() }
        let toolchain = EngineBuild.toolchainVersion()
        let (key, inputs) = try ExecutionCache.key(for: lesson, engine: engine.fingerprint, toolchain: toolchain,
                                                   packageRoot: engine.packageRoot)
        return (key, inputs, toolchain)
    }

    /// The stages after the cache lookup, shared by `workbook run` and the notebook's live runs:
    /// generate, compile (`onCompiled` sees the outcome; `shouldStop` abandons the compile), run
    /// the program through `runProgram` (given the runner configured from the options), collect,
    /// and store a result worth keeping under `key`.
    func execute(_ lesson: Lesson, key: String, inputs: [String: String], toolchain: String,
                 onCompiled: (ProgramCompiler.Output) -> Void = { _ in },
                 shouldStop: () -> Bool = { false },
                 runProgram: (URL, CellRunner) throws -> CellRunner.RawRun) throws -> Run {
        let t0 = Date()
        let program = ProgramGenerator().generate(lesson)
        let t1 = Date()
        // Without the cache nothing is written into the checkout: the program is built in a
        // temporary folder that goes with the run.
        let folder = options.useCache ? buildFolder(for: lesson) : try Self.temporaryFolder(for: lesson)
        defer { if !options.useCache { try? FileManager.default.removeItem(at: folder) } }
        let compiled = try compile(program, lesson: lesson, in: folder, shouldStop: shouldStop)
        onCompiled(compiled)
        let t2 = Date()
        var cells: [CellResult]
        var messages: [String] = []
        var runSeconds = 0.0
        var keep = true
        if let executable = compiled.executable, !shouldStop() {
            var runner = CellRunner(defaultCellTimeout: options.defaultCellTimeout, lessonTimeout: options.lessonTimeout)
            runner.environment["WORKBOOK_PACKAGE_ROOT"] = engine.packageRoot.path
            let raw = try runProgram(executable, runner)
            runSeconds = raw.duration
            // A timeout depends on the machine's load, not only on the code; a stopped run is unfinished.
            keep = raw.timeout == nil && raw.ending != .stopped
            (cells, messages) = OutputCollector(keepsBacktrace: options.keepsBacktrace).collect(raw, lesson: lesson, programCells: program.cellIndices)
        } else if shouldStop() {
            keep = false
            (cells, _) = Self.compileFailure(ProgramCompiler.Output(executable: nil, diagnostics: [], log: "", seconds: 0, timedOut: false), lesson: lesson)
            messages = ["\(lesson.path): stopped before the program ran"]
        } else {
            (cells, messages) = Self.compileFailure(compiled, lesson: lesson)
        }
        let formatter = ISO8601DateFormatter()
        let result = LessonResult(
            lesson: lesson.path, key: key,
            succeeded: messages.isEmpty && cells.allSatisfy { [.ok, .expectedError, .skipped].contains($0.status) },
            versions: .init(toolchain: toolchain, engine: engine.fingerprint, workbook: LessonResult.format),
            inputs: inputs, createdAt: formatter.string(from: Date()),
            durations: .init(generate: t1.timeIntervalSince(t0), compile: t2.timeIntervalSince(t1), run: runSeconds),
            cells: cells, messages: messages)
        if options.useCache && keep && !options.keepsBacktrace { try cache.store(result, for: lesson) }
        return Run(lesson: lesson, result: result, cached: false)
    }

    /// Compiles without running; returns every compiler error (and parse error) found.
    public func check(path: String) -> [String] {
        do {
            return check(try LessonParser(configuration: options.parser).load(path: path))
        } catch {
            return ["\(error)"]
        }
    }

    /// Compiles an already parsed lesson without running it; returns its errors.
    public func check(_ lesson: Lesson) -> [String] {
        do {
            try engine.ensureBuilt()
            let program = ProgramGenerator().generate(lesson)
            let folder = options.useCache ? buildFolder(for: lesson) : try Self.temporaryFolder(for: lesson)
            defer { if !options.useCache { try? FileManager.default.removeItem(at: folder) } }
            let compiled = try compile(program, lesson: lesson, in: folder)
            if compiled.executable != nil { return [] }
            let errors = compiled.errors.map(\.description)
            return errors.isEmpty ? ["\(lesson.path): error: compilation failed:\n\(compiled.log)"] : errors
        } catch {
            return ["\(error)"]
        }
    }

    /// `<work>/lessons__intro.md` for a lesson in the package; a lesson elsewhere also carries a
    /// hash of its absolute path, so two `a.md` in different folders never share a folder.
    func buildFolder(for lesson: Lesson) -> URL {
        let name = cache.entryURL(for: lesson).deletingPathExtension().lastPathComponent
        let absolute = URL(fileURLWithPath: lesson.path).standardizedFileURL.path
        let root = engine.packageRoot.standardizedFileURL.path
        if absolute.hasPrefix(root + "/") { return workDirectory.appendingPathComponent(name) }
        return workDirectory.appendingPathComponent(lesson.name + "-" + Self.pathHash(absolute))
    }

    static func pathHash(_ path: String) -> String {
        var h = SHA256()
        h.update(path)
        return String(h.finalize().prefix(12))
    }

    /// A fresh folder under the system's temporary directory, for runs that keep nothing.
    static func temporaryFolder(for lesson: Lesson) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("workbook-\(lesson.name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Compiles a lesson's program to `folder/lesson`; diagnostics in the lesson name their cell,
    /// and the generated file is called the lesson's generated program.
    func compile(_ program: ProgramGenerator.Program, lesson: Lesson, in folder: URL,
                 shouldStop: () -> Bool = { false }) throws -> ProgramCompiler.Output {
        var output = try ProgramCompiler(engine: engine).compile(source: program.source, name: "lesson", in: folder,
                                                                 shouldStop: shouldStop)
        let cells = lesson.cells
        for i in output.diagnostics.indices {
            let d = output.diagnostics[i]
            if d.file == lesson.path {
                output.diagnostics[i].cell = cells.first { d.line > $0.line && d.line < max($0.endLine, $0.line + 2) }?.index
            } else if d.file == ProgramCompiler.generatedFileName {
                output.diagnostics[i].file = "generated program for \(lesson.path)"
            }
        }
        return output
    }

    static func compileFailure(_ compiled: ProgramCompiler.Output, lesson: Lesson) -> ([CellResult], [String]) {
        var messages: [String] = []
        var cells = lesson.cells.map { cell in
            CellResult(index: cell.index, id: cell.id, line: cell.line,
                       status: cell.options.noRun ? .skipped : .notRun, duration: nil, outputs: [], error: nil)
        }
        for d in compiled.errors {
            if let c = d.cell {
                cells[c].status = .compileError
                cells[c].error = (cells[c].error.map { $0 + "\n" } ?? "") + d.description
            } else {
                messages.append(d.description)
            }
        }
        if compiled.errors.isEmpty { messages.append("\(lesson.path): compilation failed:\n\(compiled.log)") }
        return (cells, messages)
    }

    /// Moves a stored result onto the lesson's current line numbers (prose edits shift cells
    /// without invalidating the cache), including `path:LINE` references in messages.
    static func rebase(_ stored: LessonResult, to lesson: Lesson) -> LessonResult {
        var result = stored
        let cells = lesson.cells
        let spans = zip(stored.cells, cells).map { (old: $0.line, new: $1.line, length: $1.endLine - $1.line) }
        guard spans.contains(where: { $0.old != $0.new }) else { return result }
        let path = NSRegularExpression.escapedPattern(for: lesson.path)
        let regex = try! NSRegularExpression(pattern: path + ":(\\d+)")
        func fix(_ text: String) -> String {
            var out = text
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).reversed() {
                guard let r = Range(match.range(at: 1), in: text), let line = Int(text[r]),
                      let span = spans.first(where: { line >= $0.old && line <= $0.old + $0.length }),
                      let target = Range(match.range(at: 1), in: out) else { continue }
                out.replaceSubrange(target, with: String(line - span.old + span.new))
            }
            return out
        }
        for i in result.cells.indices {
            result.cells[i].line = cells[i].line
            result.cells[i].error = result.cells[i].error.map(fix)
            for j in result.cells[i].outputs.indices where result.cells[i].outputs[j].text != nil {
                result.cells[i].outputs[j].text = fix(result.cells[i].outputs[j].text!)
            }
        }
        result.messages = result.messages.map(fix)
        return result
    }
}
