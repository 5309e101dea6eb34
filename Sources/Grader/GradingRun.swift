import Foundation
import Notebook

/// `workbook grade`: every exercise of every student (one folder per student under the
/// submissions folder), students in parallel, each exercise in its own sandboxed process, with
/// a cache so an unchanged submission is not graded again.
public struct GradingRun {
    public var exercises: [Exercise]
    public var submissions: URL
    public var output: URL
    public var grader: ExerciseGrader
    /// Students graded at once (default: the core count).
    public var parallelism: Int
    public var useCache = true
    /// Only these students' folders (`workbook grade --student`); nil grades everyone.
    public var selectedStudents: [String]?
    /// How the submissions are laid out (`--layout`); nil: detected (`SubmissionIntake.detectLayout`).
    public var layout: SubmissionLayout?
    /// Deadlines and late penalties (`course.yml`); nil: times are recorded, nothing is late.
    public var latePolicy: LatePolicy?
    private let intakeCache = IntakeCache()
    /// Run students' programs even where they cannot be isolated (`--unsafe-no-sandbox`): they
    /// could then read the machine's files, the hidden checks included, and leave files behind.
    public var allowsUnsandboxedPrograms = false
    /// Called (serially) after each exercise is graded: (done, total, grade).
    public var progress: (Int, Int, ExerciseGrade) -> Void = { _, _, _ in }
    /// Grade only this machine's share of the students (`--shard I/N`); the run is recorded as partial.
    public var shard: Shard?
    /// What the gradebook records of a submitted file (`SubmissionMetadata.reading`: its hash and
    /// mtime); the time and Canvas id the intake found (carried by the grade) take precedence
    /// over an mtime (`publish`).
    public var submissionMetadata: (SubmissionKey, URL?) -> SubmissionMetadata = { SubmissionMetadata.reading($1) }
    /// Deductions to record beside the grades: by default the late policy's (`assessLateness`).
    public var penalties: ([ExerciseGrade], [SubmissionKey: SubmissionMetadata]) throws -> [PenaltyRow] = { grades, _ in
        PenaltyRow.rows(from: grades)
    }
    /// The reference runs of this grading run, by exercise name (run when a student's grade of
    /// that exercise is not in the cache).
    public var references: [String: ExerciseGrade] { referenceRuns.all.mapValues(\.grade) }
    let referenceRuns = ReferenceRuns()

    /// Each exercise's reference run is taken at most once per grading run, on first need (kept
    /// from an earlier run, or run now), and run afresh at most once when a kept one must vouch
    /// for the machine.
    final class ReferenceRuns: @unchecked Sendable {
        private let lock = NSLock()
        private var locks: [String: NSLock] = [:]
        private var results: [String: ExerciseGrader.ReferenceRun] = [:]

        var all: [String: ExerciseGrader.ReferenceRun] { lock.lock(); defer { lock.unlock() }; return results }

        func result(for exercise: Exercise, run: () -> ExerciseGrader.ReferenceRun) -> ExerciseGrader.ReferenceRun {
            result(for: exercise, replacingKept: false, run: run)
        }

        /// A reference run made in this grading run: the known result unless it was the kept one.
        func fresh(for exercise: Exercise, run: () -> ExerciseGrader.ReferenceRun) -> ExerciseGrader.ReferenceRun {
            result(for: exercise, replacingKept: true, run: run)
        }

        private func result(for exercise: Exercise, replacingKept: Bool,
                            run: () -> ExerciseGrader.ReferenceRun) -> ExerciseGrader.ReferenceRun {
            lock.lock()
            let own = locks[exercise.name] ?? NSLock()
            locks[exercise.name] = own
            lock.unlock()
            own.lock()
            defer { own.unlock() }
            lock.lock()
            if let known = results[exercise.name], !(replacingKept && known.grade.cached) { lock.unlock(); return known }
            lock.unlock()
            let grade = run()
            lock.lock(); results[exercise.name] = grade; lock.unlock()
            return grade
        }
    }

    /// Loads the exercises (instructor versions with hidden checks) and prepares the grader,
    /// hiding the exercises, submissions and output folders from student programs.
    public init(exercisesDirectory: URL, submissions: URL, output: URL, engine: EngineBuild,
                workDirectory: URL? = nil, limits: SandboxLimits = SandboxLimits()) throws {
        var problems: [String] = []
        var exercises: [Exercise] = []
        for file in try Release.exerciseFiles(in: exercisesDirectory) {
            do { exercises.append(try Exercise.load(path: file.path)) } catch { problems.append("\(error)") }
        }
        if !problems.isEmpty { throw NotebookError(file: exercisesDirectory.path, line: nil, problems.joined(separator: "\n")) }
        guard !exercises.isEmpty else { throw NotebookError(file: exercisesDirectory.path, line: nil, "no exercises (*.md) here") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: submissions.path, isDirectory: &isDirectory),
              isDirectory.boolValue || submissions.pathExtension.lowercased() == "zip" else {
            throw NotebookError(file: submissions.path, line: nil, "the submissions folder (or Canvas .zip) does not exist")
        }
        self.exercises = exercises
        self.submissions = submissions
        self.output = output
        let work = workDirectory ?? engine.packageRoot.appendingPathComponent(".workbook/grade")
        self.grader = ExerciseGrader(engine: engine, workDirectory: work, limits: limits,
                                     hiddenFolders: [exercisesDirectory.path, submissions.path, output.path])
        self.parallelism = max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The students (as the intake names them), sorted.
    public func students() throws -> [String] {
        let all = try intake().students.map(\.name)
        guard let selectedStudents else { return all }
        let unknown = selectedStudents.filter { !all.contains($0) }
        guard unknown.isEmpty else {
            throw NotebookError(file: submissions.path, line: nil,
                                "no student named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in the submissions (--student takes a name as the gradebook shows it: the student's folder, Canvas name or Classroom roster identifier)")
        }
        return all.filter(selectedStudents.contains)
    }

    /// The submissions as received (read once per grading run; a zip's files are extracted
    /// into a private temporary folder, removed when `run()` ends).
    public func intake() throws -> SubmissionIntake {
        try intakeCache.value {
            try SubmissionIntake.read(submissions, exercises: exercises.map(\.name), layout: layout)
        }
    }

    /// A student's file for an exercise, nil when missing (or ambiguous: reported by the intake).
    func submissionFile(student: String, exercise: Exercise) -> URL? {
        (try? intake())?.file(student: student, exercise: exercise.name)?.file
    }

    /// Submission times, LMS ids and late assessments, after grading.
    func assessLateness(_ grades: [ExerciseGrade]) -> [ExerciseGrade] {
        guard let intake = try? intake() else { return grades }
        return LatePolicy.annotate(grades, intake: intake, policy: latePolicy)
    }

    final class IntakeCache: @unchecked Sendable {
        private let lock = NSLock()
        private var intake: SubmissionIntake?
        func value(_ read: () throws -> SubmissionIntake) throws -> SubmissionIntake {
            lock.lock(); defer { lock.unlock() }
            if let intake { return intake }
            let read = try read()
            intake = read
            return read
        }
        func reset() {
            lock.lock(); defer { lock.unlock() }
            intake?.removeExtracted()
            intake = nil
        }
    }

    var cacheDirectory: URL { output.appendingPathComponent(".grade-cache") }

    /// The cache key of one submission: its bytes beside what every grade of the exercise
    /// depends on (`ExerciseGrader.cacheKey`, the key of the reference runs too).
    func cacheKey(file: URL?, exercise: Exercise) -> String? {
        guard let file, let data = try? Data(contentsOf: file), data.count <= ExerciseGrader.maxSubmissionBytes
        else { return nil }
        return grader.cacheKey(exercise: exercise, extra: Data("submission\n".utf8) + data)
    }

    /// Grades everyone (or this shard's students), records the run in the gradebook database and
    /// writes its files from the recorded run.
    public func run() throws -> (grades: [ExerciseGrade], written: Gradebook.Written) {
        defer { intakeCache.reset() }  // a zip's extracted files go; the next run reads the submissions afresh
        if let refusal = Self.sandboxRefusal(isolates: grader.isolate, allowsUnsandboxed: allowsUnsandboxedPrograms) {
            throw NotebookError(file: submissions.path, line: nil, refusal)
        }
        let startedAt = Date()
        let students = try selectedForRun()
        let database = try openDatabase()
        let fm = FileManager.default
        try fm.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        // Build every checker first (once per exercise), so students run in parallel only their own programs.
        for exercise in exercises {
            do { _ = try grader.checker(for: exercise, includeHidden: true) } catch {
                FileHandle.standardError.write(Data("warning: \(error)\n".utf8))
            }
        }
        let total = students.count * exercises.count
        final class Shared: @unchecked Sendable {
            var results: [[ExerciseGrade]]
            var files: [SubmissionKey: URL] = [:]
            var done = 0
            init(count: Int) { results = Array(repeating: [], count: count) }
        }
        let shared = Shared(count: students.count)
        let lock = NSLock()
        let queue = DispatchQueue(label: "grading", attributes: .concurrent)
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: parallelism)
        for (index, student) in students.enumerated() {
            slots.wait()
            queue.async(group: group) {
                defer { slots.signal() }
                var mine: [ExerciseGrade] = []
                for exercise in self.exercises {
                    let file = self.submissionFile(student: student, exercise: exercise)
                    let grade = self.gradeCached(student: student, exercise: exercise, file: file,
                                                 uid: 62000 + UInt32(index % 3000))
                    mine.append(grade)
                    lock.lock()
                    if let file { shared.files[SubmissionKey(student: student, exercise: exercise.name)] = file }
                    shared.done += 1
                    self.progress(shared.done, total, grade)
                    lock.unlock()
                }
                lock.lock(); shared.results[index] = mine; lock.unlock()
            }
        }
        group.wait()
        let grades = assessLateness(shared.results.flatMap { $0 })
        return (grades, try publish(grades: grades, files: shared.files, startedAt: startedAt, database: database))
    }

    /// The uid an exercise's reference run prefers when isolated (students prefer 62000 and up);
    /// the host lends each running program a uid of its own (`UIDLease`).
    func referenceUID(for exercise: Exercise) -> UInt32 {
        61000 + UInt32((exercises.firstIndex { $0.name == exercise.name } ?? 0) % 1000)
    }

    func gradeCached(student: String, exercise: Exercise, file: URL?, uid: UInt32) -> ExerciseGrade {
        let key = useCache ? cacheKey(file: file, exercise: exercise) : nil
        let entry = key.map { cacheDirectory.appendingPathComponent($0 + ".json") }
        if let entry, let data = try? Data(contentsOf: entry), var stored = try? JSONDecoder().decode(ExerciseGrade.self, from: data) {
            stored.student = student
            stored.cached = true
            return stored
        }
        func environmentError(_ problem: String) -> ExerciseGrade {
            ExerciseGrade(student: student, exercise: exercise.name, status: .environmentError,
                          message: "not graded: the exercise's reference solution fails on the grading machine (\(problem)); "
                              + "this is not your doing, and the instructor was told",
                          notes: [], checks: exercise.checks.map {
                              CheckGrade(name: $0.id, hidden: $0.hidden, points: 0, max: $0.points, status: .notRun, message: "")
                          }, output: "", seconds: 0)
        }
        // Never blame a student for the machine: grade only where the reference passes here.
        let reference = referenceRuns.result(for: exercise) {
            grader.cachedReference(exercise: exercise, uid: referenceUID(for: exercise))
        }
        if let problem = ExerciseGrader.referenceProblem(reference.grade) { return environmentError(problem) }
        let grade = grader.grade(student: student, exercise: exercise, file: file, uid: uid, reference: reference.answers)
        // A kept reference vouches for its values, not for today's machine: before a program that
        // did not compile or finish counts against a student, the reference runs here (once).
        if reference.grade.cached, ![.ok, .missing, .invalid].contains(grade.status) {
            let fresh = referenceRuns.fresh(for: exercise) {
                grader.cachedReference(exercise: exercise, uid: referenceUID(for: exercise), reuse: false)
            }
            if let problem = ExerciseGrader.referenceProblem(fresh.grade) { return environmentError(problem) }
        }
        // A timeout depends on the machine's load as much as on the code: grade it again next time.
        if let entry, grade.status != .timeout, grade.status != .missing,
           let data = try? JSONEncoder().encode(grade) {
            try? data.write(to: entry, options: .atomic)
        }
        return grade
    }

    /// Why grading must not start here: students' programs would run unisolated and nobody said
    /// that is acceptable. Nil when they are isolated (or allowed not to be).
    public static func sandboxRefusal(isolates: Bool, allowsUnsandboxed: Bool,
                                      problem: String? = Sandbox.isolationProblem) -> String? {
        guard isolates, !allowsUnsandboxed, let problem else { return nil }
        return "refusing to run students' programs without a sandbox: \(problem). " + Sandbox.enablingAdvice
            + ". To grade anyway, knowing that a student's program can then read this machine's files (hidden checks included) and leave files behind, pass --unsafe-no-sandbox."
    }
}
