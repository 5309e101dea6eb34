import Foundation

/// What `workbook grade` shows while it grades. On a terminal: one line per student being graded,
/// rewritten in place (exercises done of total, points so far), a line per finished student, and
/// an overall line with the rate so far and an ETA. Elsewhere (a pipe, a log file): one plain
/// line per graded exercise, `[done/total] student exercise: points[ status][ (cached)]`.
public final class GradingProgress: @unchecked Sendable {
    struct Student {
        var done = 0
        var points = 0.0
        var max = 0.0
        var cached = 0
        var problems: [ExerciseStatus: Int] = [:]
    }

    let exercisesPerStudent: Int
    let interactive: Bool
    let width: Int
    let write: (String) -> Void
    let clock: () -> Date
    let start: Date
    private var students: [String: Student] = [:]
    /// Students on screen and not finished, in the order they appeared.
    private var active: [String] = []
    private var drawn = 0
    private var firstDoneAt: Date?
    private var startDone = 0

    /// `width`: the terminal's columns (lines are cut to fit, so rewriting in place stays exact).
    public init(exercisesPerStudent: Int, interactive: Bool, width: Int = 100,
                write: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) },
                clock: @escaping () -> Date = Date.init) {
        self.exercisesPerStudent = max(1, exercisesPerStudent)
        self.interactive = interactive
        self.width = max(40, width)
        self.write = write
        self.clock = clock
        self.start = clock()
    }

    static func number(_ d: Double) -> String { Gradebook.number(d) }

    /// The plain line of one graded exercise.
    public static func plainLine(done: Int, total: Int, grade: ExerciseGrade) -> String {
        let points = "\(number(grade.points))/\(number(grade.maxPoints))"
        let status = grade.status == .ok ? "" : " \(grade.status.rawValue)"
        return "[\(done)/\(total)] \(grade.student) \(grade.exercise): \(points)\(status)\(grade.cached ? " (cached)" : "")"
    }

    /// Called serially after each exercise is graded (`GradingRun.progress`).
    public func update(done: Int, total: Int, grade: ExerciseGrade) {
        guard interactive else { write(Self.plainLine(done: done, total: total, grade: grade) + "\n"); return }
        var s = students[grade.student] ?? Student()
        if students[grade.student] == nil { active.append(grade.student) }
        s.done += 1
        s.points += grade.points
        s.max += grade.maxPoints
        if grade.cached { s.cached += 1 }
        if grade.status != .ok { s.problems[grade.status, default: 0] += 1 }
        students[grade.student] = s
        var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        // Finished students become permanent lines above the live block.
        for name in active where students[name]!.done >= exercisesPerStudent {
            out += "\r\u{1B}[2K" + fit("✓ " + line(name, students[name]!)) + "\n"
        }
        active.removeAll { students[$0]!.done >= exercisesPerStudent }
        for name in active { out += "\r\u{1B}[2K" + fit("  " + line(name, students[name]!)) + "\n" }
        out += "\r\u{1B}[2K" + fit(overall(done: done, total: total)) + "\n"
        // Lines left over from a taller block are cleared.
        let now = active.count + 1
        if drawn > now {
            for _ in 0..<(drawn - now) { out += "\r\u{1B}[2K\n" }
            out += "\u{1B}[\(drawn - now)A"
        }
        drawn = now
        write(out)
    }

    func line(_ name: String, _ s: Student) -> String {
        var text = "\(name)  \(s.done)/\(exercisesPerStudent) exercises  \(Self.number(s.points))/\(Self.number(s.max)) points"
        var notes: [String] = []
        if s.cached > 0 { notes.append("\(s.cached) cached") }
        for (status, n) in s.problems.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { notes.append("\(n) \(status.rawValue)") }
        if !notes.isEmpty { text += "  (" + notes.joined(separator: ", ") + ")" }
        return text
    }

    /// `[done/total] 41% 3.2/s ETA 4m10s`: the rate counts from the first graded exercise.
    func overall(done: Int, total: Int) -> String {
        let now = clock()
        let elapsed = now.timeIntervalSince(start)
        var text = "[\(done)/\(total)] \(total > 0 ? 100 * done / total : 100)%  \(Self.duration(elapsed))"
        if done < total, elapsed > 0 {
            let rate = Double(done) / elapsed
            text += String(format: "  %.2f exercises/s", rate)
            if rate > 0 { text += "  ETA " + Self.duration(Double(total - done) / rate) }
        }
        return text
    }

    func fit(_ s: String) -> String { s.count <= width - 1 ? s : String(s.prefix(width - 2)) + "…" }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s / 60) % 60))m"
    }

    /// The closing lines: how many exercises were graded now or came from the cache, how many
    /// ended in each status, the time, and the slowest exercises (mean and max over the students
    /// graded now).
    public static func summary(grades: [ExerciseGrade], exercises: Int, seconds: Double) -> [String] {
        let students = Set(grades.map(\.student)).count
        var lines = [String(format: "graded %d student%@ x %d exercise%@ in %.1f s", students, students == 1 ? "" : "s",
                            exercises, exercises == 1 ? "" : "s", seconds)]
        let cached = grades.filter(\.cached).count
        var counts: [String: Int] = [:]
        for g in grades { counts[g.status.rawValue, default: 0] += 1 }
        let order = ["ok", "missing", "invalid", "compile-error", "crash", "timeout", "memory-limit", "output-limit", "environment-error"]
        let statuses = counts.sorted { (order.firstIndex(of: $0.key) ?? 99, $0.key) < (order.firstIndex(of: $1.key) ?? 99, $1.key) }
            .map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        lines.append("\(grades.count) exercise grade\(grades.count == 1 ? "" : "s"): \(grades.count - cached) graded now, \(cached) from the cache; \(statuses)")
        var times: [String: [Double]] = [:]
        for g in grades where !g.cached && g.status != .missing { times[g.exercise, default: []].append(g.seconds) }
        let slowest = times.map { (name: $0.key, mean: $0.value.reduce(0, +) / Double($0.value.count), max: $0.value.max() ?? 0) }
            .sorted { ($0.mean, $1.name) > ($1.mean, $0.name) }.prefix(3)
        if !slowest.isEmpty {
            lines.append("slowest exercises: " + slowest.map { String(format: "%@ %.1f s mean, %.1f s max", $0.name, $0.mean, $0.max) }
                .joined(separator: "; "))
        }
        return lines
    }
}
