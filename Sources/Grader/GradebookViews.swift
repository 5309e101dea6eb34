import Foundation

/// What `workbook gradebook show` and `export` print: per student, points per exercise and in
/// total, from each student's latest run (or one run).
public struct GradebookTable: Sendable {
    public struct Line: Sendable, Equatable {
        public var student: String
        public var run: Int64
        public var canvasUserID: String?
        /// Per exercise (in `exercises` order): points, or nil when the run did not grade it.
        public var points: [Double?]
        public var statuses: [ExerciseStatus?]
        /// Penalties per exercise (same order) and on the total.
        public var exercisePenalties: [Double]
        public var totalPenalty: Double
        public var raw: Double
        public var final: Double { raw + exercisePenalties.reduce(0, +) + totalPenalty }
        public var penalties: Double { exercisePenalties.reduce(0, +) + totalPenalty }
    }

    public var exercises: [RecordedExercise]
    /// Maximum points per exercise (from the checks' maxima).
    public var maxima: [Double]
    public var lines: [Line]
    public var maxTotal: Double { maxima.reduce(0, +) }

    public init(_ latest: LatestGrades, students only: [String]? = nil) {
        let exercises = latest.exercises
        let names = Set(exercises.map(\.name))
        self.exercises = exercises
        var maxima = Array(repeating: 0.0, count: exercises.count)
        var lines: [Line] = []
        for student in only ?? latest.students {
            let grades = latest.grades(of: student)
            guard let run = latest.run(of: student), !grades.isEmpty else { continue }
            var points: [Double?] = [], statuses: [ExerciseStatus?] = [], perExercise: [Double] = []
            let penalties = latest.penalties(of: student)
            for (i, e) in exercises.enumerated() {
                let g = grades.first { $0.exercise == e.name }
                points.append(g?.points)
                statuses.append(g?.status)
                if let g { maxima[i] = max(maxima[i], g.maxPoints) }
                perExercise.append(penalties.filter { $0.exercise == e.name }.reduce(0) { $0 + $1.points })
            }
            lines.append(Line(student: student, run: run.info.id, canvasUserID: latest.canvasUserID(of: student), points: points,
                              statuses: statuses, exercisePenalties: perExercise,
                              totalPenalty: penalties.filter { $0.exercise.map { !names.contains($0) } ?? true }
                                .reduce(0) { $0 + $1.points },
                              raw: points.compactMap { $0 }.reduce(0, +)))
        }
        self.maxima = maxima
        self.lines = lines
    }

    static func number(_ d: Double) -> String { Gradebook.number(d) }

    /// A fixed-width table for the terminal: one row per student, one column per exercise
    /// (named by its `qNN` prefix), then raw, penalties and final totals; a status other than ok
    /// is marked beside the points (`c` compile error, `x` crash, `t` timeout, `m` missing, ...).
    public func render() -> String {
        let short = exercises.map { e in String(e.name.split(separator: "-").first ?? Substring(e.name)) }
        let anyPenalty = lines.contains { $0.penalties != 0 }
        var header = ["student"] + short + ["total"]
        if anyPenalty { header += ["penalty", "final"] }
        header.append("run")
        var rows: [[String]] = [header]
        rows.append(["(max)"] + maxima.map(Self.number) + [Self.number(maxTotal)] + (anyPenalty ? ["", Self.number(maxTotal)] : []) + [""])
        for l in lines {
            var row = [l.student]
            for (p, s) in zip(l.points, l.statuses) {
                guard let p else { row.append("-"); continue }
                row.append(Self.number(p) + (s.map(Self.mark) ?? ""))
            }
            row.append(Self.number(l.raw))
            if anyPenalty { row += [l.penalties == 0 ? "" : Self.number(l.penalties), Self.number(l.final)] }
            row.append(String(l.run))
            rows.append(row)
        }
        let widths = (0..<header.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var out = ""
        for (r, row) in rows.enumerated() {
            out += row.enumerated().map { c, cell in
                c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            if r == 1 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        let marks = Set(lines.flatMap { $0.statuses.compactMap { $0 } }).filter { $0 != .ok }.sorted { $0.rawValue < $1.rawValue }
        if !marks.isEmpty { out += "marks: " + marks.map { "\(Self.mark($0)) \($0.rawValue)" }.joined(separator: ", ") + "\n" }
        return out
    }

    static func mark(_ status: ExerciseStatus) -> String {
        switch status {
        case .ok: return ""
        case .missing: return "m"
        case .invalid: return "i"
        case .compileError: return "c"
        case .crash: return "x"
        case .timeout: return "t"
        case .memoryLimit: return "M"
        case .outputLimit: return "o"
        case .environmentError: return "E"
        }
    }

    // MARK: Exports

    /// One row per student: `student,run,<exercise...>,total,max,penalties,final` (per exercise)
    /// or `student,run,total,max,penalties,final`.
    public func csv(perExercise: Bool) -> String {
        var header = ["student", "canvas_user_id", "run"]
        if perExercise { header += exercises.map(\.name) }
        header += ["total", "max", "penalties", "final"]
        var out = header.map(Gradebook.csvField).joined(separator: ",") + "\n"
        for l in lines {
            var row = [l.student, l.canvasUserID ?? "", String(l.run)]
            if perExercise { row += l.points.map { $0.map(Self.number) ?? "" } }
            row += [Self.number(l.raw), Self.number(maxTotal), Self.number(l.penalties), Self.number(l.final)]
            out += row.map(Gradebook.csvField).joined(separator: ",") + "\n"
        }
        return out
    }

    public func json() throws -> Data {
        struct Exercise: Codable { var points: Double?; var max: Double; var status: String?; var penalty: Double }
        struct Student: Codable {
            var student: String; var canvasUserID: String?; var run: Int64
            var exercises: [String: Exercise]; var total: Double; var max: Double; var penalties: Double; var final: Double
        }
        let students = lines.map { l in
            Student(student: l.student, canvasUserID: l.canvasUserID, run: l.run,
                    exercises: Dictionary(uniqueKeysWithValues: exercises.indices.map { i in
                        (exercises[i].name, Exercise(points: l.points[i], max: maxima[i], status: l.statuses[i]?.rawValue,
                                                     penalty: l.exercisePenalties[i]))
                    }),
                    total: l.raw, max: maxTotal, penalties: l.penalties, final: l.final)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(students)
    }

    /// Canvas's gradebook import CSV: the columns `Student`, `ID`, `SIS User ID`, `SIS Login ID`,
    /// `Section`, then one column per assignment (`Name (assignment id)` when the id is known, a
    /// bare name makes Canvas create the assignment), a `Points Possible` row under the header,
    /// then one row per student with final points (penalties applied). A student's `ID` is their
    /// Canvas user id when the submissions carried it; otherwise only the name is there and the
    /// instructor matches them in Canvas's import preview.
    public func canvasCSV(perExercise: Bool, assignment: String = "Workbook exercises", assignmentIDs: [String: String] = [:]) -> String {
        func column(_ name: String, key: String) -> String {
            assignmentIDs[key].map { "\(name) (\($0))" } ?? name
        }
        var header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        var possible = ["Points Possible", "", "", "", ""]
        let totalPenalties = lines.contains { $0.totalPenalty != 0 }
        if perExercise {
            for (i, e) in exercises.enumerated() {
                header.append(column(e.title.isEmpty ? e.name : e.title, key: e.name))
                possible.append(Self.number(maxima[i]))
            }
            if totalPenalties {
                header.append(column("Workbook penalties", key: "(penalties)"))
                possible.append("0")
            }
        } else {
            header.append(column(assignment, key: ""))
            possible.append(Self.number(maxTotal))
        }
        var out = header.map(Gradebook.csvField).joined(separator: ",") + "\n"
        out += possible.map(Gradebook.csvField).joined(separator: ",") + "\n"
        for l in lines {
            var row = [l.student, l.canvasUserID ?? "", "", "", ""]
            if perExercise {
                for i in exercises.indices {
                    row.append(l.points[i].map { Self.number($0 + l.exercisePenalties[i]) } ?? "")
                }
                if totalPenalties { row.append(Self.number(l.totalPenalty)) }
            } else {
                row.append(Self.number(l.final))
            }
            out += row.map(Gradebook.csvField).joined(separator: ",") + "\n"
        }
        return out
    }
}

/// `workbook gradebook diff A B`: who gained or lost points between two runs, on which checks,
/// and whether the checks (the exercise's hash) or the submission (the file's hash) changed.
public struct GradebookDiff: Sendable {
    public struct CheckChange: Sendable, Equatable {
        public var exercise: String
        public var check: String
        public var before: Double?
        public var after: Double?
        public var statusBefore: String?
        public var statusAfter: String?
    }
    public struct StudentChange: Sendable, Equatable {
        public var student: String
        public var before: Double
        public var after: Double
        public var delta: Double { after - before }
        public var checks: [CheckChange]
        /// Exercises whose submitted file changed between the runs.
        public var resubmitted: [String]
        /// Exercises whose status changed (ok -> compile-error, ...).
        public var statusChanges: [String]
    }

    public var a: GradebookRunInfo
    public var b: GradebookRunInfo
    /// Exercises whose text (checks included) or inputs changed, or that only one run has.
    public var changedExercises: [String]
    public var addedExercises: [String]
    public var removedExercises: [String]
    public var changes: [StudentChange]
    public var onlyInA: [String]
    public var onlyInB: [String]

    public init(_ runA: RecordedRun, _ runB: RecordedRun) {
        a = runA.info
        b = runB.info
        let hashA = Dictionary(runA.exercises.map { ($0.name, $0.hash) }, uniquingKeysWith: { x, _ in x })
        let hashB = Dictionary(runB.exercises.map { ($0.name, $0.hash) }, uniquingKeysWith: { x, _ in x })
        changedExercises = runB.exercises.map(\.name).filter { hashA[$0] != nil && hashA[$0] != hashB[$0] }
        addedExercises = runB.exercises.map(\.name).filter { hashA[$0] == nil }
        removedExercises = runA.exercises.map(\.name).filter { hashB[$0] == nil }
        let studentsA = Set(runA.students), studentsB = Set(runB.students)
        onlyInA = studentsA.subtracting(studentsB).sorted()
        onlyInB = studentsB.subtracting(studentsA).sorted()
        let byStudentA = Dictionary(grouping: runA.grades, by: \.student), byStudentB = Dictionary(grouping: runB.grades, by: \.student)
        let penaltiesA = Dictionary(grouping: runA.penalties, by: \.student), penaltiesB = Dictionary(grouping: runB.penalties, by: \.student)
        func final(_ grades: [ExerciseGrade]?, _ penalties: [PenaltyRow]?) -> Double {
            (grades ?? []).reduce(0) { $0 + $1.points } + (penalties ?? []).reduce(0) { $0 + $1.points }
        }
        var changes: [StudentChange] = []
        for s in studentsA.intersection(studentsB).sorted() {
            var checks: [CheckChange] = [], resubmitted: [String] = [], statusChanges: [String] = []
            let ga = Dictionary((byStudentA[s] ?? []).map { ($0.exercise, $0) }, uniquingKeysWith: { x, _ in x })
            let gb = Dictionary((byStudentB[s] ?? []).map { ($0.exercise, $0) }, uniquingKeysWith: { x, _ in x })
            let names = runB.exercises.map(\.name) + runA.exercises.map(\.name).filter { hashB[$0] == nil }
            for e in names {
                let x = ga[e], y = gb[e]
                let fa = runA.submissions[SubmissionKey(student: s, exercise: e)]?.fileSHA256
                let fb = runB.submissions[SubmissionKey(student: s, exercise: e)]?.fileSHA256
                if x != nil, y != nil, fa != fb { resubmitted.append(e) }
                if let x, let y, x.status != y.status { statusChanges.append("\(e): \(x.status.rawValue) -> \(y.status.rawValue)") }
                let checkNames = (y?.checks.map(\.name) ?? []) + (x?.checks.map(\.name) ?? []).filter { n in !(y?.checks.contains { $0.name == n } ?? false) }
                for c in checkNames {
                    let ca = x?.checks.first { $0.name == c }, cb = y?.checks.first { $0.name == c }
                    if ca?.points != cb?.points || ca?.max != cb?.max {
                        checks.append(CheckChange(exercise: e, check: c, before: ca?.points, after: cb?.points,
                                                  statusBefore: ca?.status.rawValue, statusAfter: cb?.status.rawValue))
                    }
                }
            }
            let before = final(byStudentA[s], penaltiesA[s]), after = final(byStudentB[s], penaltiesB[s])
            if before != after || !checks.isEmpty || !resubmitted.isEmpty || !statusChanges.isEmpty {
                changes.append(StudentChange(student: s, before: before, after: after, checks: checks, resubmitted: resubmitted,
                                             statusChanges: statusChanges))
            }
        }
        self.changes = changes
    }

    public var gained: [StudentChange] { changes.filter { $0.delta > 0 } }
    public var lost: [StudentChange] { changes.filter { $0.delta < 0 } }

    public func render() -> String {
        let n = Gradebook.number
        var out = "run \(a.id) (\(GradebookTime.string(a.startedAt))) -> run \(b.id) (\(GradebookTime.string(b.startedAt)))\n"
        if a.exerciseSetHash == b.exerciseSetHash {
            out += "exercises: unchanged\n"
        } else {
            if !changedExercises.isEmpty { out += "checks changed in: \(changedExercises.joined(separator: ", "))\n" }
            if !addedExercises.isEmpty { out += "exercises added: \(addedExercises.joined(separator: ", "))\n" }
            if !removedExercises.isEmpty { out += "exercises removed: \(removedExercises.joined(separator: ", "))\n" }
        }
        if a.engineFingerprint != b.engineFingerprint || a.toolchain != b.toolchain { out += "engine or toolchain changed between the runs\n" }
        out += "\(gained.count) gained, \(lost.count) lost, \(changes.count - gained.count - lost.count) changed without a point difference\n"
        for c in changes.sorted(by: { ($0.delta, $0.student) < ($1.delta, $1.student) }) {
            let sign = c.delta > 0 ? "+" : ""
            out += "\n\(c.student): \(n(c.before)) -> \(n(c.after)) (\(sign)\(n(c.delta)))\n"
            for e in c.resubmitted {
                out += "  \(e): submission changed" + (changedExercises.contains(e) ? " (and the checks)" : "") + "\n"
            }
            for s in c.statusChanges { out += "  \(s)\n" }
            for k in c.checks {
                let cause = changedExercises.contains(k.exercise) && !c.resubmitted.contains(k.exercise) ? "  [checks changed]" : ""
                out += "  \(k.exercise) \(k.check): \(k.before.map(n) ?? "-") -> \(k.after.map(n) ?? "-")"
                    + " (\(k.statusBefore ?? "none") -> \(k.statusAfter ?? "none"))\(cause)\n"
            }
        }
        if !onlyInA.isEmpty { out += "\nonly in run \(a.id): \(onlyInA.joined(separator: ", "))\n" }
        if !onlyInB.isEmpty { out += "\nonly in run \(b.id): \(onlyInB.joined(separator: ", "))\n" }
        return out
    }
}

/// Smaller terminal views of `workbook gradebook`.
public enum GradebookReport {
    /// A student's checks in their latest run: per exercise, status and each check's points.
    public static func checks(of student: String, in latest: LatestGrades) -> String {
        let n = Gradebook.number
        var out = "\(student)"
        if let run = latest.run(of: student) { out += " (run \(run.info.id), \(GradebookTime.string(run.info.startedAt)))" }
        out += "\n"
        let metadata = latest.run(of: student)?.submissions ?? [:]
        for g in latest.grades(of: student) {
            out += "  \(g.exercise): \(n(g.points))/\(n(g.maxPoints)) \(g.status.rawValue)"
            if !g.message.isEmpty { out += ": \(g.message.prefix(160))" }
            if let m = metadata[SubmissionKey(student: student, exercise: g.exercise)], let at = m.submittedAt {
                out += "  [submitted \(GradebookTime.string(at)) (\(m.timeSource ?? "unknown"))]"
            }
            out += "\n"
            for c in g.checks {
                out += "    \(c.status == .passed ? "✓" : "✗") \(c.name)\(c.hidden ? " (hidden)" : ""): \(n(c.points))/\(n(c.max))"
                if !c.message.isEmpty { out += "  \(c.message.prefix(160))" }
                out += "\n"
            }
        }
        for p in latest.penalties(of: student) {
            out += "  penalty \(p.kind)\(p.exercise.map { " on \($0)" } ?? ""): \(n(p.points))\(p.detail.isEmpty ? "" : "  \(p.detail)")\n"
        }
        return out
    }

    /// The recorded runs, one line each.
    public static func runs(_ db: GradebookDatabase) throws -> String {
        let runs = try db.runs()
        if runs.isEmpty { return "no runs recorded in \(db.url.path)\n" }
        var out = ""
        var lastSet: String?
        for r in runs {
            let students = try db.studentCount(run: r.id)
            var line = "run \(r.id)  \(GradebookTime.string(r.startedAt))  \(students) student\(students == 1 ? "" : "s")"
            line += "  exercises \(r.exerciseSetHash.prefix(12))"
            if let last = lastSet, last != r.exerciseSetHash { line += " (changed)" }
            lastSet = r.exerciseSetHash
            if let shard = r.shard { line += "  partial: shard \(shard)" }
            if r.mergedFrom != nil { line += "  merged" }
            out += line + "\n"
        }
        return out
    }
}
