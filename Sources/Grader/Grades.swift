import Foundation

/// How one exercise of one student went, as a whole.
public enum ExerciseStatus: String, Codable, Sendable {
    /// The program ran to the end; points are the checks'.
    case ok
    /// The student's file is not there.
    case missing
    /// The student's file could not be read as an exercise (broken fence, duplicate ids, too big).
    case invalid
    /// The program did not compile; no check could pass.
    case compileError = "compile-error"
    /// The program trapped or exited early; answers exported before that were still checked.
    case crash
    /// Wall-clock or CPU time limit.
    case timeout
    /// The memory limit.
    case memoryLimit = "memory-limit"
    /// Wrote a file past the size limit.
    case outputLimit = "output-limit"
    /// Not graded: the exercise's own reference solution did not pass on the grading machine
    /// (a broken toolchain, engine build or module cache), so no student is blamed for it.
    case environmentError = "environment-error"
}

/// The verdict on one check.
public struct CheckGrade: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case passed, failed, notRun = "not-run" }
    public var name: String
    public var hidden: Bool
    public var points: Double
    public var max: Double
    public var status: Status
    public var message: String
}

/// The grade of one exercise for one student.
public struct ExerciseGrade: Codable, Sendable {
    public var student: String
    public var exercise: String
    public var status: ExerciseStatus
    /// What went wrong (compile error at line N, timeout in cell X, ...), empty when `ok`.
    public var message: String
    /// Remarks that cost nothing (truncated output, ignored cells, missing cells).
    public var notes: [String]
    public var checks: [CheckGrade]
    /// The first part of the program's output, for feedback.
    public var output: String
    public var seconds: Double
    /// Time spent compiling the student's program and running it (not the checks).
    public var compileSeconds: Double?
    public var runSeconds: Double?
    /// Came from the grade cache.
    public var cached: Bool = false
    /// When the student submitted the file (ISO 8601, UTC) and where that time came from
    /// (`SubmissionIntake`); nil for a missing file and in grades cached by older versions.
    public var submitted: String?
    public var timeSource: SubmissionTimeSource?
    /// The student's identifiers in the LMS (`canvas_user_id`, `github_username`, ...).
    public var lmsIDs: [String: String]?
    /// How late it was and what that cost, when the course sets a deadline (`LatePolicy`).
    /// `points` stays the checks' total; `finalPoints` subtracts the penalty.
    public var late: LateAssessment?

    public var points: Double { checks.reduce(0) { $0 + $1.points } }
    public var maxPoints: Double { checks.reduce(0) { $0 + $1.max } }
    /// The points after the late penalty.
    public var finalPoints: Double { points - (late?.penaltyPoints ?? 0) }
}
