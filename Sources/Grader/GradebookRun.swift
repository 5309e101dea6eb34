import Foundation
import Notebook

/// What identifies a grading run in the gradebook database.
public struct GradebookRunInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var startedAt: Date
    public var finishedAt: Date
    /// SHA-256 over every exercise file (hidden checks included) and its declared inputs.
    public var exerciseSetHash: String
    /// SHA-256 of the engine library the programs linked against.
    public var engineFingerprint: String
    public var toolchain: String
    public var graderVersion: String
    /// Set on a partial run (`workbook grade --shard I/N`).
    public var shard: Shard?
    /// Set on a run made by `workbook gradebook merge`: which partial runs it combines.
    public var mergedFrom: String?

    public init(id: Int64 = 0, startedAt: Date, finishedAt: Date, exerciseSetHash: String, engineFingerprint: String,
                toolchain: String, graderVersion: String, shard: Shard? = nil, mergedFrom: String? = nil) {
        self.id = id
        self.startedAt = GradebookTime.rounded(startedAt)
        self.finishedAt = GradebookTime.rounded(finishedAt)
        self.exerciseSetHash = exerciseSetHash
        self.engineFingerprint = engineFingerprint
        self.toolchain = toolchain
        self.graderVersion = graderVersion
        self.shard = shard
        self.mergedFrom = mergedFrom
    }

    /// `ExerciseGrader.version` as recorded.
    public static var currentGraderVersion: String { "grade-\(ExerciseGrader.version)" }
}

/// One exercise as it was when a run graded it.
public struct RecordedExercise: Codable, Sendable, Equatable {
    public var name: String
    public var title: String
    /// Changes whenever the exercise's text (cells, visible and hidden checks) or inputs change.
    public var hash: String
    public var explanation: String

    public init(name: String, title: String, hash: String, explanation: String = "") {
        self.name = name
        self.title = title
        self.hash = hash
        self.explanation = explanation
    }

    /// `exercise` with its content hash: its file name, its whole text and its declared inputs'
    /// contents (a retrained source model changes grades as much as a changed check). The path's
    /// folder is left out, so shards graded in different checkouts agree.
    public init(_ exercise: Exercise, packageRoot: URL) {
        var h = SHA256()
        h.update("exercise \(exercise.name)\n\(exercise.lesson.text.utf8.count):\(exercise.lesson.text)\n")
        let inputs = (try? ExecutionCache.inputHashes(lesson: exercise.lesson, packageRoot: packageRoot)) ?? [:]
        for (path, hash) in inputs.sorted(by: { $0.key < $1.key }) { h.update("input \(path) \(hash)\n") }
        self.init(name: exercise.name, title: exercise.title, hash: h.finalize(), explanation: exercise.explanation ?? "")
    }

    /// One hash for the whole set, in name order.
    public static func setHash(_ exercises: [RecordedExercise]) -> String {
        var h = SHA256()
        for e in exercises.sorted(by: { $0.name < $1.name }) { h.update("\(e.name) \(e.hash)\n") }
        return h.finalize()
    }
}

/// A student's exercise in a run.
public struct SubmissionKey: Hashable, Codable, Sendable {
    public var student: String
    public var exercise: String
    public init(student: String, exercise: String) { self.student = student; self.exercise = exercise }
}

/// What is known of a submitted file besides its grade.
public struct SubmissionMetadata: Codable, Sendable, Equatable {
    public var fileName: String?
    public var fileSHA256: String?
    /// When it was handed in, and where that time came from: `canvas` or `classroom` metadata
    /// when the intake knows it, else `mtime` (the file's modification time).
    public var submittedAt: Date?
    public var timeSource: String?
    /// The student's Canvas user id, when the submission came from Canvas (the export's `ID`).
    public var canvasUserID: String?

    public init(fileName: String? = nil, fileSHA256: String? = nil, submittedAt: Date? = nil, timeSource: String? = nil,
                canvasUserID: String? = nil) {
        self.fileName = fileName
        self.fileSHA256 = fileSHA256
        self.submittedAt = submittedAt.map(GradebookTime.rounded)
        self.timeSource = timeSource
        self.canvasUserID = canvasUserID
    }

    /// The file's name, SHA-256 and modification time (source `mtime`); empty for a missing file.
    public static func reading(_ file: URL?) -> SubmissionMetadata {
        guard let file else { return SubmissionMetadata() }
        var meta = SubmissionMetadata(fileName: file.lastPathComponent)
        if let handle = try? FileHandle(forReadingFrom: file) {
            defer { try? handle.close() }
            var h = SHA256()
            while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(chunk) }
            meta.fileSHA256 = h.finalize()
        }
        if let date = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date {
            meta.submittedAt = GradebookTime.rounded(date)
            meta.timeSource = "mtime"
        }
        return meta
    }
}

/// A deduction recorded beside the grades (a late penalty, say); raw points stay as graded.
public struct PenaltyRow: Codable, Sendable, Equatable {
    public var student: String
    /// The exercise it applies to; nil for the student's total.
    public var exercise: String?
    /// What kind of deduction (`late`, ...).
    public var kind: String
    /// Zero or negative.
    public var points: Double
    public var detail: String

    public init(student: String, exercise: String?, kind: String, points: Double, detail: String) {
        self.student = student
        self.exercise = exercise
        self.kind = kind
        self.points = points
        self.detail = detail
    }
}

/// A grading run as recorded: what `GradebookDatabase.record` writes and `run(_:)` reads back.
public struct RecordedRun: Sendable {
    public var info: GradebookRunInfo
    public var exercises: [RecordedExercise] = []
    public var grades: [ExerciseGrade] = []
    public var submissions: [SubmissionKey: SubmissionMetadata] = [:]
    public var penalties: [PenaltyRow] = []

    public init(info: GradebookRunInfo, exercises: [RecordedExercise] = [], grades: [ExerciseGrade] = [],
                submissions: [SubmissionKey: SubmissionMetadata] = [:], penalties: [PenaltyRow] = []) {
        self.info = info
        self.exercises = exercises
        self.grades = grades
        self.submissions = submissions
        self.penalties = penalties
    }

    public var students: [String] { Array(Set(grades.map(\.student))).sorted() }

    /// The run's files (CSV, JSON, feedback pages), rendered from what was recorded.
    public var gradebook: Gradebook {
        var book = Gradebook(grades: grades,
                             explanations: Dictionary(exercises.map { ($0.name, $0.explanation) }, uniquingKeysWith: { a, _ in a }),
                             titles: Dictionary(exercises.map { ($0.name, $0.title) }, uniquingKeysWith: { a, _ in a }),
                             date: info.startedAt)
        book.penalties = penalties
        book.runID = info.id
        return book
    }
}

/// Each student's grades from the latest run that graded them.
public struct LatestGrades: Sendable {
    /// The runs involved, oldest first.
    public var runs: [RecordedRun]
    /// The run of each student (empty: all from the one run in `runs`).
    public var runOf: [String: Int64]
    /// Each run's grades and penalties by student, so a class of a thousand is read in one pass.
    private var gradesBy: [Int64: [String: [ExerciseGrade]]] = [:]
    private var penaltiesBy: [Int64: [String: [PenaltyRow]]] = [:]

    init(runs: [RecordedRun], runOf: [String: Int64]) {
        self.runs = runs
        self.runOf = runOf
        for run in runs {
            gradesBy[run.info.id] = Dictionary(grouping: run.grades, by: \.student)
            penaltiesBy[run.info.id] = Dictionary(grouping: run.penalties, by: \.student)
        }
    }

    public var students: [String] {
        runOf.isEmpty ? (runs.first?.students ?? []) : runOf.keys.sorted()
    }

    func run(of student: String) -> RecordedRun? {
        guard let id = runOf[student] else { return runs.first }
        return runs.first { $0.info.id == id }
    }

    /// The exercises, in the newest run's order, then any that only older runs had.
    public var exercises: [RecordedExercise] {
        var seen = Set<String>(), out: [RecordedExercise] = []
        for run in runs.reversed() { for e in run.exercises where seen.insert(e.name).inserted { out.append(e) } }
        return out
    }

    public func grades(of student: String) -> [ExerciseGrade] {
        run(of: student).flatMap { gradesBy[$0.info.id]?[student] } ?? []
    }
    public func penalties(of student: String) -> [PenaltyRow] {
        run(of: student).flatMap { penaltiesBy[$0.info.id]?[student] } ?? []
    }
    public func metadata(of student: String) -> [SubmissionMetadata] {
        guard let run = run(of: student) else { return [] }
        return run.exercises.compactMap { run.submissions[SubmissionKey(student: student, exercise: $0.name)] }
    }
    public func canvasUserID(of student: String) -> String? { metadata(of: student).lazy.compactMap(\.canvasUserID).first }
}

/// `--shard I/N`: the students whose name hashes to I (of 1...N). The hash is SHA-256 of the
/// name's UTF-8, so every machine puts a student in the same shard whatever order it lists them in.
public struct Shard: Codable, Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { self.index = index; self.count = count }

    /// Parses `I/N` (1 <= I <= N).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let n = Int(parts[1].trimmingCharacters(in: .whitespaces)), n >= 1, i >= 1, i <= n else {
            throw GradebookError(file: "--shard", "'\(text)' is not I/N with 1 <= I <= N (e.g. --shard 2/8)")
        }
        self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    public static func of(student: String, count: Int) -> Int {
        let digest = SHA256.hex(student)
        let value = UInt64(digest.prefix(16), radix: 16) ?? 0
        return Int(value % UInt64(count)) + 1
    }

    public func contains(_ student: String) -> Bool { Self.of(student: student, count: count) == index }
}
