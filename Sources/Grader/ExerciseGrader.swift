import Foundation
import Notebook
import ProgramRecords

/// Grades one exercise for one student: assemble the program (student answers + reference given
/// cells), compile, run it sandboxed with an answers file, then run the trusted checker program
/// (compiled from the reference's checks, never placed where the student's process can see it)
/// on a private copy of the answers.
///
/// Work folder layout (`workDirectory`): `runs/<student>/<exercise>/` where the student's program
/// is built (its source, executable and a copy of their file; when sandboxed it runs elsewhere, in
/// a tmpfs, and only the executable and the file are bound into it);
/// `checkers/<exercise>-<hash>/checker` (hidden from students); `private/` the copies of answers
/// the checker reads (hidden); `references/<key>.jsonl` the reference runs' exports, the trusted
/// side of every check, kept across grading runs (hidden); `modules/` the shared module cache.
public final class ExerciseGrader: @unchecked Sendable {
    /// Part of the grade cache key: bump when grading changes meaning (2: checks compare with
    /// the reference run's exports).
    public static let version = 2

    public var engine: EngineBuild
    public var workDirectory: URL
    public var limits: SandboxLimits
    /// Folders hidden from student programs besides the grader's own (exercises, submissions, output).
    public var hiddenFolders: [String]
    /// Run student programs without namespaces/uid change even as root (tests of the fallback).
    public var isolate = true
    public var compiler: ProgramCompiler
    /// Give graded programs and checkers the OpenBLAS kernels they would pick by re-executing
    /// themselves (`openBLASCoreType`) in their environment, so each starts once. False: they
    /// re-execute as any engine program does (how to compare the two).
    public var presetsOpenBLASCoreType = true
    /// Where this grader's programs spent their time (bench/ reports it).
    public let stageTimes = StageTimes()

    private let lock = NSLock()
    private var checkers: [String: Result<URL, CheckerBuildError>] = [:]

    public struct CheckerBuildError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Seconds per stage of grading one program, summed over the programs graded (thread-safe).
    public final class StageTimes: @unchecked Sendable {
        private let lock = NSLock()
        private var totals: [String: (seconds: Double, count: Int)] = [:]

        public init() {}

        public func add(_ stage: String, _ seconds: Double) {
            lock.lock(); defer { lock.unlock() }
            totals[stage, default: (0, 0)].seconds += seconds
            totals[stage, default: (0, 0)].count += 1
        }

        /// Each stage's total seconds and how many programs went through it, by stage name.
        public var summary: [String: (seconds: Double, count: Int)] {
            lock.lock(); defer { lock.unlock() }
            return totals
        }
    }

    /// What `OPENBLAS_CORETYPE` an engine program would set before re-executing itself on this
    /// CPU (SkylakeX where AVX-512 F/BW/DQ/VL are there, as CEngineSupport's coretype.c decides),
    /// or nil where it keeps OpenBLAS's own choice. The same kernels, so the same results.
    public static let openBLASCoreType: String? = {
        #if os(Linux) && arch(x86_64)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        return ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) ? "SkylakeX" : nil
        #else
        return nil
        #endif
    }()

    /// The environment of a graded program or checker besides its channel.
    func engineEnvironment() -> [String: String] {
        var env = ["WORKBOOK_THREADS": "1"]
        if presetsOpenBLASCoreType, let coreType = Self.openBLASCoreType { env["OPENBLAS_CORETYPE"] = coreType }
        return env
    }

    public init(engine: EngineBuild, workDirectory: URL, limits: SandboxLimits = SandboxLimits(), hiddenFolders: [String] = []) {
        self.engine = engine
        self.workDirectory = workDirectory.standardizedFileURL
        self.limits = limits
        self.hiddenFolders = hiddenFolders
        self.compiler = .exercises(engine: engine, moduleCache: workDirectory.appendingPathComponent("modules"))
    }

    var checkersDirectory: URL { workDirectory.appendingPathComponent("checkers") }
    var privateDirectory: URL { workDirectory.appendingPathComponent("private") }
    var referencesDirectory: URL { workDirectory.appendingPathComponent("references") }

    /// What a graded result of `exercise` depends on besides the student's file: the grader's
    /// version, the toolchain, the engine build, the limits, the exercise's text (cells and
    /// checks) and the contents of its declared inputs (a retrained source model re-grades).
    /// Nil when an input cannot be read (then nothing is cached).
    func cacheKey(exercise: Exercise, extra: Data) -> String? {
        guard let inputs = try? ExecutionCache.inputHashes(lesson: exercise.lesson, packageRoot: engine.packageRoot)
        else { return nil }
        var h = SHA256()
        h.update("grade-\(Self.version)\n\(EngineBuild.toolchainVersion())\n\(engine.fingerprint)\n")
        h.update("\(limits)\n\(exercise.path)\n\(exercise.lesson.text.utf8.count):\(exercise.lesson.text)\n")
        for (path, hash) in inputs.sorted(by: { $0.key < $1.key }) { h.update("input \(path) \(hash)\n") }
        h.update(extra)
        return h.finalize()
    }

    /// A content hash of the exercise (its text covers cells, checks and options).
    public static func fingerprint(of exercise: Exercise) -> String {
        var h = SHA256()
        h.update("\(exercise.path)\n\(exercise.lesson.text)")
        return String(h.finalize().prefix(16))
    }

    /// Compiles (once per exercise text) the checker program with the visible checks, plus the
    /// hidden ones when `includeHidden`.
    public func checker(for exercise: Exercise, includeHidden: Bool) throws -> URL {
        let key = "\(exercise.name)-\(Self.fingerprint(of: exercise))-\(includeHidden ? "all" : "visible")"
        lock.lock()
        if let known = checkers[key] { lock.unlock(); return try known.get() }
        lock.unlock()
        let directory = checkersDirectory.appendingPathComponent(key)
        let executable = directory.appendingPathComponent("checker")
        let result: Result<URL, CheckerBuildError>
        if FileManager.default.isExecutableFile(atPath: executable.path),
           FileManager.default.fileExists(atPath: directory.appendingPathComponent("engine-\(engine.fingerprint)").path) {
            result = .success(executable)
        } else {
            try FileManager.default.createDirectory(at: checkersDirectory, withIntermediateDirectories: true)
            chmod(checkersDirectory.path, 0o700)
            let (source, _) = SubmissionProgram.checkerSource(exercise: exercise, includeHidden: includeHidden)
            let output = try compiler.compile(source: source, name: "checker", in: directory)
            if let exe = output.executable {
                // A marker that cannot be written only costs a rebuild of the checks next time.
                try? Data().write(to: directory.appendingPathComponent("engine-\(engine.fingerprint)"))
                result = .success(exe)
            } else {
                result = .failure(CheckerBuildError(description: "\(exercise.path): the checks do not compile:\n" + output.failureMessages.joined(separator: "\n")))
            }
        }
        lock.lock(); checkers[key] = result; lock.unlock()
        return try result.get()
    }

    /// Finds a student's file for an exercise: `qNN-slug.md`, else any `qNN-*.md` (renamed slug).
    public static func submissionFile(for exercise: Exercise, in folder: URL) -> URL? {
        let exact = folder.appendingPathComponent(exercise.name + ".md")
        if FileManager.default.fileExists(atPath: exact.path) { return exact }
        guard let dash = exercise.name.firstIndex(of: "-") else { return nil }
        let prefix = exercise.name[...dash]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".md") }.sorted().first.map { folder.appendingPathComponent($0) }
    }

    static let maxSubmissionBytes = 1 << 20

    /// Grades `file` (nil: missing) as `student`'s answer to `exercise`. Never throws: every
    /// failure becomes a status with a message.
    /// `reference`: the reference run's exports (`cachedReference`), which hidden checks compare
    /// with; nil fails every check that reads it.
    public func grade(student: String, exercise: Exercise, file: URL?, uid: UInt32, reference: URL?) -> ExerciseGrade {
        let start = Date()
        var grade = ExerciseGrade(student: student, exercise: exercise.name, status: .ok, message: "", notes: [],
                                  checks: exercise.checks.map {
                                      CheckGrade(name: $0.id, hidden: $0.hidden, points: 0, max: $0.points, status: .notRun, message: "")
                                  }, output: "", seconds: 0)
        func finish(_ status: ExerciseStatus, _ message: String) -> ExerciseGrade {
            grade.status = status
            grade.message = message
            grade.seconds = Date().timeIntervalSince(start)
            return grade
        }
        guard let file else {
            return finish(.missing, "no file \(exercise.name).md in the submission")
        }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            data = try handle.read(upToCount: Self.maxSubmissionBytes + 1) ?? Data()
        } catch {
            return finish(.missing, "cannot read \(file.lastPathComponent): \(error.localizedDescription)")
        }
        if data.count > Self.maxSubmissionBytes {
            return finish(.invalid, "\(file.lastPathComponent) is larger than \(Self.maxSubmissionBytes >> 20) MiB")
        }
        let text = String(decoding: data, as: UTF8.self)
        let studentLesson: Lesson
        do {
            studentLesson = try LessonParser(configuration: Exercise.parserConfiguration)
                .parse(text: text, path: exercise.name + ".md")
        } catch {
            return finish(.invalid, "\(error)")
        }
        do {
            let program = try SubmissionProgram(exercise: exercise, student: studentLesson)
            for id in program.missingCells {
                grade.notes.append("answer cell '\(id)' is missing from your file (matched by id=\(id)); the starter code ran in its place")
            }
            if !program.ignoredCells.isEmpty {
                grade.notes.append("cells you added (line\(program.ignoredCells.count == 1 ? "" : "s") \(program.ignoredCells.map(String.init).joined(separator: ", "))) are not graded; put your code inside the answer cells")
            }
            let scratch = workDirectory.appendingPathComponent("runs").appendingPathComponent(Self.safeName(student))
                .appendingPathComponent(exercise.name)
            try run(program: program, exercise: exercise, studentText: text, scratch: scratch,
                    uid: uid, includeHidden: true, reference: reference.map(ReferenceSide.file) ?? .none, grade: &grade)
            grade.seconds = Date().timeIntervalSince(start)
            return grade
        } catch {
            return finish(.crash, "the grader could not run this exercise: \(error)")
        }
    }

    /// Runs a student's own exercise file with its visible checks (`workbook test`).
    public func test(handout: Exercise, uid: UInt32) throws -> ExerciseGrade {
        try test(handout: handout, uid: uid, live: nil)
    }

    /// `test(handout:uid:)`, telling `live` (the notebook page) as the run goes.
    func test(handout: Exercise, uid: UInt32, live: LiveHooks?) throws -> ExerciseGrade {
        var grade = ExerciseGrade(student: "", exercise: handout.name, status: .ok, message: "", notes: [],
                                  checks: handout.checks.filter { !$0.hidden }.map {
                                      CheckGrade(name: $0.id, hidden: false, points: 0, max: $0.points, status: .notRun, message: "")
                                  }, output: "", seconds: 0)
        let start = Date()
        let program = try SubmissionProgram(exercise: handout, student: nil)
        let scratch = workDirectory.appendingPathComponent("runs/test").appendingPathComponent(handout.name)
        try run(program: program, exercise: handout, studentText: handout.lesson.text, scratch: scratch,
                uid: uid, includeHidden: false, reference: .none, grade: &grade, live: live)
        grade.seconds = Date().timeIntervalSince(start)
        return grade
    }

    /// A reference run: how it went, and (when it passed every check) the private copy of what it
    /// exported, the `reference` side of the checks.
    public struct ReferenceRun: Sendable {
        public var grade: ExerciseGrade
        public var answers: URL?
    }

    /// The reference run of `exercise`: from `references/` when one with the same cache key (the
    /// exercise with its checks, engine, toolchain, limits, inputs) passed before and `reuse`,
    /// else run now and kept there if it passes.
    public func cachedReference(exercise: Exercise, uid: UInt32, reuse: Bool = true) -> ReferenceRun {
        let fm = FileManager.default
        let key = cacheKey(exercise: exercise, extra: Data("reference".utf8))
        let stem = referencesDirectory.appendingPathComponent("\(Self.safeName(exercise.name))-\(key ?? UUID().uuidString.replacingOccurrences(of: "-", with: ""))")
        let answersFile = stem.appendingPathExtension("jsonl"), gradeFile = stem.appendingPathExtension("json")
        if reuse, key != nil, fm.fileExists(atPath: answersFile.path), let data = try? Data(contentsOf: gradeFile),
           var stored = try? JSONDecoder().decode(ExerciseGrade.self, from: data), Self.referenceProblem(stored) == nil {
            stored.cached = true
            return ReferenceRun(grade: stored, answers: answersFile)
        }
        var exported = Data()
        let grade = reference(exercise: exercise, uid: uid, exported: &exported)
        guard Self.referenceProblem(grade) == nil else { return ReferenceRun(grade: grade, answers: nil) }
        do {
            try fm.createDirectory(at: referencesDirectory, withIntermediateDirectories: true)
            chmod(referencesDirectory.path, 0o700)
            // The answers first: a grade file marks a complete entry.
            try exported.write(to: answersFile, options: .atomic)
            try JSONEncoder().encode(grade).write(to: gradeFile, options: .atomic)
            // Entries of an earlier version of this exercise (or engine) are never read again.
            let prefix = "\(Self.safeName(exercise.name))-", current = stem.lastPathComponent
            for name in (try? fm.contentsOfDirectory(atPath: referencesDirectory.path)) ?? []
            where name.hasPrefix(prefix) && !name.hasPrefix(current + ".") && !name.dropFirst(prefix.count).contains("-") {
                try? fm.removeItem(at: referencesDirectory.appendingPathComponent(name))
            }
        } catch {
            var failed = grade
            failed.status = .crash
            failed.message = "the grader could not keep the reference's answers: \(error)"
            return ReferenceRun(grade: failed, answers: nil)
        }
        return ReferenceRun(grade: grade, answers: answersFile)
    }

    /// Runs the exercise's own reference solution with every check, hidden ones included, as a
    /// student's program runs (same compiler, sandbox and limits); its checks read its own exports
    /// as both `answers` and `reference`. Grading trusts a machine only where this passes: a
    /// failure here is the environment's, not a student's. A compile failure is retried once with
    /// an emptied module cache.
    public func reference(exercise: Exercise, uid: UInt32) -> ExerciseGrade {
        var exported = Data()
        return reference(exercise: exercise, uid: uid, exported: &exported)
    }

    func reference(exercise: Exercise, uid: UInt32, exported: inout Data) -> ExerciseGrade {
        let start = Date()
        var grade = ExerciseGrade(student: "(reference)", exercise: exercise.name, status: .ok, message: "", notes: [],
                                  checks: [], output: "", seconds: 0)
        for attempt in 0..<2 {
            grade.checks = exercise.checks.map {
                CheckGrade(name: $0.id, hidden: $0.hidden, points: 0, max: $0.points, status: .notRun, message: "")
            }
            grade.status = .ok
            grade.message = ""
            do {
                let program = try SubmissionProgram(exercise: exercise, student: nil)
                let scratch = workDirectory.appendingPathComponent("runs/.reference").appendingPathComponent(exercise.name)
                exported = try run(program: program, exercise: exercise, studentText: exercise.lesson.text, scratch: scratch,
                                   uid: uid, includeHidden: true, reference: .own, grade: &grade) ?? Data()
            } catch {
                grade.status = .crash
                grade.message = "the grader could not run the reference: \(error)"
            }
            guard grade.status == .compileError, attempt == 0 else { break }
            try? compiler.resetModuleCache()
        }
        grade.seconds = Date().timeIntervalSince(start)
        return grade
    }

    /// Why a reference run does not vouch for the machine, or nil when it passed every check.
    public static func referenceProblem(_ grade: ExerciseGrade) -> String? {
        if grade.status != .ok { return "\(grade.status.rawValue): \(grade.message)" }
        let failed = grade.checks.filter { $0.status != .passed }
        if failed.isEmpty { return nil }
        return "its checks \(failed.map { "'\($0.name)'" }.joined(separator: ", ")) did not pass"
            + (failed.first.map { $0.message.isEmpty ? "" : " (\($0.message.prefix(300)))" } ?? "")
    }

    static func safeName(_ s: String) -> String {
        let mapped = s.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" ? Character($0) : "_" }
        return String(mapped.prefix(80))
    }

    /// Where a run's checks find the `reference` side.
    enum ReferenceSide {
        /// No reference run (`workbook test`): checks reading `reference` fail saying so.
        case none
        /// This run is the reference: its own exports.
        case own
        /// The reference run's exports.
        case file(URL)
    }

    /// Compile, run, check. Fills `grade`; returns what the program exported (nil when it did not compile).
    @discardableResult
    func run(program: SubmissionProgram, exercise: Exercise, studentText: String, scratch: URL, uid: UInt32,
             includeHidden: Bool, reference: ReferenceSide, grade: inout ExerciseGrade, live: LiveHooks? = nil) throws -> Data? {
        let fm = FileManager.default
        var clock = Date()
        /// Adds the time since the last lap to `stage`.
        func lap(_ stage: String) {
            let now = Date()
            stageTimes.add(stage, now.timeIntervalSince(clock))
            clock = now
        }
        try? fm.removeItem(at: scratch)
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        chmod(scratch.path, 0o700)
        let studentFile = scratch.appendingPathComponent(exercise.name + ".md")
        try Data(studentText.utf8).write(to: studentFile)
        let fm0 = exercise.lesson.frontMatter
        let source = program.source(seed: fm0.seed, threads: fm0.threads)
        lap("prepare")
        let compiled = try compiler.compile(source: source, name: "program", in: scratch,
                                            shouldStop: { live?.control.isStopped ?? false })
        lap("compile")
        for (job, seconds) in compiled.jobSeconds { stageTimes.add("compile: \(job)", seconds) }
        grade.compileSeconds = compiled.seconds
        live?.compiled(compiled, exercise: exercise)
        if live?.control.isStopped == true { return nil }
        guard let executable = compiled.executable else {
            let errors = compiled.failureMessages
            let first = errors.first ?? "compilation failed"
            grade.status = .compileError
            grade.message = "does not compile: " + first
            if errors.count > 1 { grade.message += " (and \(errors.count - 1) more error\(errors.count == 2 ? "" : "s"))" }
            grade.output = errors.prefix(20).joined(separator: "\n")
            for i in grade.checks.indices { grade.checks[i].status = .failed; grade.checks[i].message = "not run: the program does not compile" }
            return nil
        }
        var limits = self.limits
        if let t = exercise.lesson.frontMatter.timeout { limits.wallSeconds = t; limits.cpuSeconds = Int(t.rounded(.up)) * 2 }
        if let mib = exercise.lesson.frontMatter.extra["memory"].flatMap(Int.init) { limits.memoryBytes = mib << 20 }
        // The program sees the engine's libraries, the datasets, its own file and the exercise's
        // declared inputs, read-only; it writes its answers into a file the sandbox hands back.
        let sandbox = Sandbox(limits: limits, hidden: isolate ? hiddenPaths(excluding: scratch) : [], uid: uid, isolates: isolate,
                              libraries: [engine.library], inputs: try declaredInputs(of: exercise, studentFile: studentFile),
                              outputs: [Sandbox.Output(name: "answers.jsonl", variable: "WORKBOOK_ANSWERS_FILE")])
        var env = engineEnvironment()
        env[RecordChannel.outputVariable] = "3"
        if live != nil { env[LiveStream.progressVariable] = "1" }
        lap("prepare")
        let start = Date()
        let observer = live?.stream.observer(executable: executable, stop: live!.control)
        let result = try ProgramHost.run(ProgramHost.Launch(executable: executable.path, directory: scratch,
                                                            environment: env, channel: .records),
                                         policy: .sandboxed(sandbox),
                                         onRecord: { record, now in observer?.onRecord(.init(record: record, time: now)) },
                                         onOutput: { stream, data in observer?.onOutput(stream, data, Date().timeIntervalSince(start)) },
                                         shouldStop: { observer?.shouldStop() ?? false })
        lap("run (sandboxed)")
        grade.runSeconds = result.seconds
        grade.output = Self.clean(String(decoding: result.stdout, as: UTF8.self))
        let stderr = Self.clean(String(decoding: result.stderr, as: UTF8.self))
        if result.droppedOutputBytes > 0 {
            grade.notes.append("the program printed \(result.droppedOutputBytes + result.stdout.count + result.stderr.count) bytes; only the first \(limits.outputBytes >> 10) KiB of each stream were kept")
        }
        classify(result, stderr: stderr, program: program, limits: limits, executable: executable, grade: &grade)
        live?.ran(result, executable: executable)
        if live?.control.isStopped == true { return nil }

        // What the student's (now dead) processes exported, copied to where only the grader can write.
        let privateRun = privateDirectory.appendingPathComponent(UUID().uuidString)
        try fm.createDirectory(at: privateRun, withIntermediateDirectories: true)
        chmod(privateDirectory.path, 0o700)
        defer { try? fm.removeItem(at: privateRun) }
        let copy = privateRun.appendingPathComponent("answers.jsonl")
        var exported = Data()
        switch result.outputFiles["answers.jsonl"] ?? .failure(.missing) {
        case .success(let data): exported = data
        case .failure(.missing): break
        case .failure(let problem): grade.notes.append("the answers file \(problem); no answers were read")
        }
        try exported.write(to: copy)
        let referenceFile: URL?
        switch reference {
        case .none: referenceFile = nil
        case .own: referenceFile = copy
        case .file(let url): referenceFile = url
        }
        lap("classify, answers")
        try runChecks(exercise: exercise, includeHidden: includeHidden, answers: copy, reference: referenceFile, grade: &grade)
        lap("check")
        return exported
    }

    /// The student's file and the files the exercise declares in its front matter's `inputs`
    /// (e.g. the course's source model), at the same relative paths in the program's working
    /// folder: the program runs there and cannot see the package itself.
    func declaredInputs(of exercise: Exercise, studentFile: URL) throws -> [Sandbox.Input] {
        let declared = try ExecutionCache.inputHashes(lesson: exercise.lesson, packageRoot: engine.packageRoot).keys.sorted()
        return [Sandbox.Input(host: studentFile, relativePath: studentFile.lastPathComponent)]
            + declared.map { Sandbox.Input(host: engine.packageRoot.appendingPathComponent($0), relativePath: $0) }
    }

    func hiddenPaths(excluding scratch: URL) -> [String] {
        let candidates = hiddenFolders + [checkersDirectory.path, privateDirectory.path, referencesDirectory.path]
        let scratchPath = scratch.resolvingSymlinksInPath().path
        return candidates.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
            .filter { !(scratchPath == $0 || scratchPath.hasPrefix($0 + "/")) }
    }

    static func clean(_ s: String) -> String {
        s.replacingOccurrences(of: "\u{1E}WB:[0-9]+\n?", with: "", options: .regularExpression)
    }

    /// Sets the exercise status from how the program ended.
    func classify(_ result: ProgramHost.Outcome, stderr: String, program: SubmissionProgram, limits: SandboxLimits,
                  executable: URL? = nil, grade: inout ExerciseGrade) {
        let lastCell = result.records.last { if case .cell = $0.body { return true } else { return false } }?.cell
        let finished = result.records.contains { $0.body == .done }
        var place = ""
        if let c = lastCell, c >= 0, c < program.pieces.count {
            let piece = program.pieces[c]
            var line = piece.line
            // A trap's own statement, when its stack leads into this cell.
            if let executable {
                let span = (piece.line + 1)...(piece.line + max(1, piece.source.split(separator: "\n", omittingEmptySubsequences: false).count))
                line = TrapLocation.statementLine(stderr: stderr, executable: executable, file: piece.file, within: span) ?? line
            }
            place = piece.fromStudent ? " in your cell '\(piece.id)' (\(piece.file):\(line))"
                                      : " in the given cell at \(piece.file):\(line)"
        }
        let memoryWords = ["Could not allocate memory", "Cannot allocate memory", "out of memory", "bad_alloc",
                           "failed to allocate", "Memory allocation failed"]
        let trap = stderr.split(separator: "\n").first { $0.contains("Fatal error") || $0.hasPrefix("error: ") || $0.contains("precondition failed") }
            .map { String($0.prefix(500)) }
        switch result.ending {
        case .timedOut, .stopped:
            grade.status = .timeout
            grade.message = "stopped after the time limit of \(Int(limits.wallSeconds)) s\(place)"
        // The soft CPU limit signals SIGXCPU; the hard one kills, before the wall clock runs out.
        case .signalled(let signal) where signal == SIGXCPU || (signal == SIGKILL && result.seconds < limits.wallSeconds):
            grade.status = .timeout
            grade.message = "stopped after the CPU time limit of \(limits.cpuSeconds) s\(place)"
        case .signalled(SIGXFSZ):
            grade.status = .outputLimit
            grade.message = "stopped: wrote a file larger than \(limits.fileBytes >> 20) MiB\(place)"
        case _ where memoryWords.contains(where: stderr.contains):
            grade.status = .memoryLimit
            grade.message = "stopped: exceeded the memory limit of \(limits.memoryBytes >> 20) MiB\(place)"
        case .exited(0) where finished:
            grade.status = .ok
        case .exited(let code):
            grade.status = .crash
            grade.message = trap.map { "crashed\(place): \($0)" } ?? "exited with status \(code)\(place)"
        case .signalled(let s):
            grade.status = .crash
            grade.message = trap.map { "crashed\(place): \($0)" } ?? "crashed with signal \(s)\(place)"
        }
        if grade.status == .crash, let trap, trap.contains("not yet answered") {
            grade.message = "not answered yet\(place) (the starter's fatalError(\"not yet answered\") ran)"
        }
    }

    /// The message a check's verdict shows: a visible check's whole message; a hidden check's
    /// author-written summary only (`expectEqual`'s "the values of y", not the values).
    static func checkMessage(message: String, summary: String, hidden: Bool, passed: Bool) -> String {
        if passed { return "" }
        guard hidden else { return message }
        return summary.isEmpty ? "did not pass" : summary
    }

    /// Runs the checker on the private answers copy; a check that crashes the checker fails and
    /// the checker is restarted after it, so one check cannot take the others down.
    func runChecks(exercise: Exercise, includeHidden: Bool, answers: URL, reference: URL?, grade: inout ExerciseGrade) throws {
        let checkerURL: URL
        do {
            checkerURL = try checker(for: exercise, includeHidden: includeHidden)
        } catch {
            for i in grade.checks.indices { grade.checks[i].status = .failed; grade.checks[i].message = "the checks could not be built (the instructor was told)" }
            // Compile errors quote the checks; with hidden ones included only the instructor may see
            // them (`workbook grade` prints them before grading, `workbook check` reports them).
            if !includeHidden { grade.notes.append("\(error)") }
            return
        }
        let checks = exercise.checks.filter { includeHidden || !$0.hidden }
        var limits = SandboxLimits()
        limits.wallSeconds = 60
        limits.cpuSeconds = 120
        // The checker is trusted code: resource limits, no isolation.
        let sandbox = Sandbox(limits: limits, isolates: false)
        var next = 0
        var attempts = 0
        while next < checks.count && attempts <= checks.count {
            attempts += 1
            let result = try ProgramHost.run(ProgramHost.Launch(executable: checkerURL.path, arguments: [answers.path, String(next)] + (reference.map { [$0.path] } ?? []),
                                                                directory: answers.deletingLastPathComponent(),
                                                                environment: engineEnvironment().merging([RecordChannel.verdictVariable: "3"]) { $1 },
                                                                channel: .verdicts),
                                             policy: .sandboxed(sandbox))
            var started: Int?
            for verdict in result.verdicts {
                switch verdict {
                case .start(let s):
                    started = s
                case .result(let c, let passed, let message, let summary) where c >= 0 && c < checks.count:
                    let index = grade.checks.firstIndex { $0.name == checks[c].id }!
                    grade.checks[index].status = passed ? .passed : .failed
                    grade.checks[index].points = passed ? checks[c].points : 0
                    // A hidden check says only what its author wrote, never the expected value.
                    grade.checks[index].message = Self.checkMessage(message: message, summary: summary,
                                                                    hidden: checks[c].hidden, passed: passed)
                    next = c + 1
                    started = nil
                default:
                    break
                }
            }
            if let s = started, s < checks.count {
                let index = grade.checks.firstIndex { $0.name == checks[s].id }!
                grade.checks[index].status = .failed
                let trap = Self.clean(String(decoding: result.stderr, as: UTF8.self)).split(separator: "\n").first { $0.contains("Fatal error") || $0.hasPrefix("error: ") }
                grade.checks[index].message = result.ending == .timedOut ? "the check took too long on your answer"
                    : "the check could not evaluate your answer"
                        + (checks[s].hidden ? "" : trap.map { ": \($0.prefix(300))" } ?? "")
                next = s + 1
            } else if result.verdicts.contains(.done) {
                break
            } else if started == nil && next < checks.count && result.verdicts.isEmpty {
                grade.notes.append("the checker did not start" + (includeHidden ? " (the instructor was told)"
                    : ": \(String(decoding: result.stderr.prefix(300), as: UTF8.self))"))
                if includeHidden {
                    FileHandle.standardError.write(Data("warning: \(exercise.path): the checker did not start: \(String(decoding: result.stderr.prefix(300), as: UTF8.self))\n".utf8))
                }
                break
            }
        }
    }
}
