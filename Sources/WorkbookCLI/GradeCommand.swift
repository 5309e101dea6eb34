import ArgumentParser
import Foundation
import Grader
import Notebook

/// `workbook grade SUBMISSIONS/`: the instructor grades every student.
struct GradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grade",
        abstract: "Grade every exercise of every student (a folder per student, a Canvas download or a GitHub Classroom clone); write a gradebook (CSV, JSON) and HTML feedback.")

    @Argument(help: "Submissions: a folder per student holding their qNN-*.md files, a Canvas \"Download submissions\" folder or .zip, or a GitHub Classroom clone folder.")
    var submissions: String

    @Option(help: "How the submissions are laid out: folders, canvas or classroom (default: detected).")
    var layout: SubmissionLayout?

    @Option(help: "Course file with deadlines and the late policy (default: course.yml at the package root, if there is one).")
    var courseFile: String?

    @Option(help: "Folder of exercises (instructor versions, with hidden checks).")
    var exercises = "exercises"

    @Option(help: "Folder for gradebooks and feedback (earlier ones are kept).")
    var out = "gradebooks"

    @Option(help: "Students graded at once (default: the number of cores).")
    var jobs: Int?

    @Option(help: "Wall-clock seconds per exercise program (an exercise's front matter 'timeout' overrides).")
    var timeout: Double = 60

    @Option(help: "Memory limit per exercise program, MiB (front matter 'memory' overrides).")
    var memory: Int = 4096

    @Flag(help: "Run students' programs even where they cannot be sandboxed (no bubblewrap, no user namespaces, not root): they can then read this machine's files.")
    var unsafeNoSandbox = false

    @Option(name: .customLong("student"), help: "Grade only this student (repeatable; the name the gradebook shows: folder, Canvas name or roster identifier); the gradebook holds only them.")
    var students: [String] = []

    @Flag(help: "Grade again even unchanged submissions.")
    var noCache = false

    @Option(help: "Grade only this machine's share I of N (1 <= I <= N; students by a hash of their name) into a partial gradebook; `workbook gradebook merge` combines the N partial gradebooks.")
    var shard: String?

    @Option(help: "The grader's work folder (default: <package>/.workbook/grade). Shards sharing a filesystem each need their own, e.g. on the node's local disk.")
    var work: String?

    @Option(help: "Package root (default: found from the current directory, or WORKBOOK_PACKAGE_ROOT).")
    var packageRoot: String?

    func validate() throws {
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard \(shard): not I/N with 1 <= I <= N (e.g. --shard 2/8)") } }
    }

    func run() throws {
        // Before anything else: without a sandbox, grading does not start unless asked to.
        if let problem = Sandbox.isolationProblem {
            guard unsafeNoSandbox else {
                FileHandle.standardError.write(Data("error: \(GradingRun.sandboxRefusal(isolates: true, allowsUnsandboxed: false, problem: problem)!)\n".utf8))
                throw ExitCode.failure
            }
            FileHandle.standardError.write(Data("warning: --unsafe-no-sandbox: students' programs run with resource limits only (\(problem))\n".utf8))
        } else {
            print("sandbox: bubblewrap, \(getuid() == 0 ? "a uid of its own for each program" : "an unprivileged user namespace")")
        }
        let shard = try self.shard.map { try Shard(parsing: $0) }
        let engine = try EngineBuild(root: packageRoot)
        try engine.ensureBuilt()
        var limits = SandboxLimits()
        limits.wallSeconds = timeout
        limits.cpuSeconds = Int((timeout * 2).rounded(.up))
        limits.memoryBytes = memory << 20
        var run = try GradingRun(exercisesDirectory: URL(fileURLWithPath: exercises).standardizedFileURL,
                                 submissions: URL(fileURLWithPath: submissions).standardizedFileURL,
                                 output: URL(fileURLWithPath: out).standardizedFileURL, engine: engine,
                                 workDirectory: work.map { URL(fileURLWithPath: $0).standardizedFileURL }, limits: limits)
        if let jobs { run.parallelism = max(1, jobs) }
        run.useCache = !noCache
        if !students.isEmpty { run.selectedStudents = students }
        run.layout = layout
        run.latePolicy = try latePolicy(packageRoot: engine.packageRoot, exercises: run.exercises.map(\.name))
        try reportIntake(run.intake())
        run.allowsUnsandboxedPrograms = unsafeNoSandbox
        run.shard = shard
        let start = Date()
        fflush(stdout)
        // In place on a terminal; plain lines (as parsed by tests and scripts) anywhere else.
        let progress = GradingProgress(exercisesPerStudent: run.exercises.count, interactive: isatty(STDOUT_FILENO) == 1,
                                       width: Self.terminalColumns())
        run.progress = progress.update
        let (grades, written) = try run.run()
        for line in GradingProgress.summary(grades: grades, exercises: run.exercises.count, seconds: Date().timeIntervalSince(start)) {
            print(line)
        }
        print("gradebook: \(written.csv.path)\n           \(written.json.path)\nfeedback:  \(written.feedback.path)/")
        if let database = written.database, let id = written.runID {
            print("database:  \(database.path) (run \(id)\(shard.map { ", partial: shard \($0)" } ?? ""))")
        }
        reportLateness(grades, policy: run.latePolicy)
        // Exercises whose own reference failed here were not graded (and nothing was cached).
        let broken = run.references.filter { ExerciseGrader.referenceProblem($0.value) != nil }.sorted { $0.key < $1.key }
        if !broken.isEmpty {
            for (name, grade) in broken {
                let file = run.exercises.first { $0.name == name }?.path ?? name
                FileHandle.standardError.write(Data("\(file): error: environment: the reference solution fails on this machine, so no student was graded on it: \(ExerciseGrader.referenceProblem(grade)!)\n".utf8))
            }
            FileHandle.standardError.write(Data("error: \(broken.count) exercise\(broken.count == 1 ? "" : "s") not graded; fix the environment (engine build: swift build -c release --product WorkbookKit; module cache: .workbook/grade/modules) and grade again\n".utf8))
            throw ExitCode.failure
        }
    }

    static func terminalColumns() -> Int {
        var size = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
    }

    static func number(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    /// `--course-file`, else `course.yml` at the package root when there is one; its exercise
    /// keys must name exercises of the set.
    func latePolicy(packageRoot: URL, exercises: [String]) throws -> LatePolicy? {
        let path: String
        if let courseFile {
            path = URL(fileURLWithPath: courseFile).standardizedFileURL.path
        } else {
            path = packageRoot.appendingPathComponent("course.yml").path
            guard FileManager.default.fileExists(atPath: path) else { return nil }
        }
        let policy = try LatePolicy.load(path: path)
        let unknown = policy.unknownExerciseKeys(exercises: exercises)
        guard unknown.isEmpty else {
            for problem in unknown { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            throw ExitCode.failure
        }
        print("course file: \(path)")
        return policy
    }

    /// What the intake found and what it could not map (never graded, never guessed).
    func reportIntake(_ intake: SubmissionIntake) {
        let files = intake.students.reduce(0) { $0 + $1.files.count }
        print("submissions: \(intake.layout.rawValue) layout, \(intake.students.count) student\(intake.students.count == 1 ? "" : "s"), \(files) exercise file\(files == 1 ? "" : "s")")
        for note in intake.notes { print("  \(note)") }
        for file in intake.unmapped {
            FileHandle.standardError.write(Data("warning: not graded: \(file.path): \(file.reason)\n".utf8))
        }
        if !intake.unmapped.isEmpty {
            FileHandle.standardError.write(Data("warning: \(intake.unmapped.count) file\(intake.unmapped.count == 1 ? "" : "s") could not be mapped to a student and an exercise (listed above)\n".utf8))
        }
    }

    /// The time sources used and what the late policy took.
    func reportLateness(_ grades: [ExerciseGrade], policy: LatePolicy?) {
        let sources = Dictionary(grouping: grades.compactMap(\.timeSource), by: { $0 }).mapValues(\.count)
        if !sources.isEmpty {
            print("submission times: " + sources.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) from \($0.key.rawValue)" }.joined(separator: ", "))
        }
        guard let policy else { return }
        let late = grades.filter { ($0.late?.daysLate ?? 0) > 0 }
        let penalties = PenaltyRow.rows(from: grades)
        let taken = penalties.reduce(0) { $0 - $1.points }
        print("late: \(late.count) submission\(late.count == 1 ? "" : "s") after the deadline, \(penalties.count) penalized (\(Self.number(taken)) points in all; course file \(policy.file))")
        if let mtime = sources[.mtime], mtime > 0 {
            FileHandle.standardError.write(Data("warning: \(mtime) submission time\(mtime == 1 ? " is a file's" : "s are files'") modification time; copying or unzipping can change it (see \"Collecting submissions\" in exercises/README.md for better sources)\n".utf8))
        }
    }
}

extension SubmissionLayout: ExpressibleByArgument {}
