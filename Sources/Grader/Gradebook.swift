import Foundation
import Notebook

/// Writes a grading run's results: `gradebook-<time>.csv` and `.json` (one row per check, plus
/// an `(exercise)` row per exercise carrying its status), and `feedback-<time>/<student>.html`.
/// Nothing is ever overwritten: each file is written under a temporary name and renamed to a
/// name carrying the run's date and time (a second run in the same minute adds `-2`, `-3`, ...).
/// `workbook grade` renders these files from the run as read back from the gradebook database
/// (`RecordedRun.gradebook`), so they show exactly what was recorded.
public struct Gradebook {
    public var grades: [ExerciseGrade]
    /// Explanations to show once an exercise is fully solved, by exercise name.
    public var explanations: [String: String]
    /// Exercise titles, by name.
    public var titles: [String: String]
    public var date: Date
    /// Deductions beside the grades (late penalties): their own rows, so raw points remain.
    /// By default the late policy's, from the grades' assessments.
    public var penalties: [PenaltyRow]
    /// The run's id in the gradebook database, when it came from there.
    public var runID: Int64?

    public init(grades: [ExerciseGrade], explanations: [String: String] = [:], titles: [String: String] = [:], date: Date = Date()) {
        self.grades = grades
        self.explanations = explanations
        self.titles = titles
        self.date = date
        self.penalties = PenaltyRow.rows(from: grades)
    }

    public struct Row: Codable, Equatable {
        public var student: String
        public var exercise: String
        public var check: String
        public var points: Double
        public var max: Double
        public var status: String
        public var message: String
        /// On `(exercise)` rows: when it was submitted (ISO 8601, UTC) and the time's source
        /// (canvas, git, mtime); nil for a missing file.
        public var submitted: String? = nil
        public var timeSource: String? = nil
    }

    /// Per check: the check's verdict; per exercise: a row with check `(exercise)`, the
    /// exercise's raw total and its status (ok, compile-error, timeout, ...) and message; per
    /// penalized exercise: a `(late penalty)` row with the points taken (negative, max 0, status
    /// `late`), so raw and final scores both remain.
    public var rows: [Row] {
        var rows: [Row] = []
        for g in grades {
            rows.append(Row(student: g.student, exercise: g.exercise, check: "(exercise)", points: g.points, max: g.maxPoints,
                            status: g.status.rawValue, message: ([g.message] + g.notes).filter { !$0.isEmpty }.joined(separator: "; "),
                            submitted: g.submitted, timeSource: g.timeSource?.rawValue))
            for c in g.checks {
                rows.append(Row(student: g.student, exercise: g.exercise, check: c.name, points: c.points, max: c.max,
                                status: c.status.rawValue, message: c.message))
            }
        }
        // A penalty is a row of its own (check `(late penalty)` and so on, max 0): the checks' points stay raw.
        for p in penalties {
            rows.append(Row(student: p.student, exercise: p.exercise ?? "(total)", check: "(\(p.kind) penalty)", points: p.points, max: 0,
                            status: p.kind, message: p.detail))
        }
        return rows
    }

    static func csvField(_ s: String) -> String {
        // A leading = + - @ would be a formula in a spreadsheet; a student's text must stay text.
        var s = s
        if let first = s.first, "=+-@".contains(first), Double(s) == nil { s = "'" + s }
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    static func number(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    public var csv: String {
        var out = "student,exercise,check,points,max,status,message\n"
        for r in rows {
            out += [r.student, r.exercise, r.check, Self.number(r.points), Self.number(r.max), r.status, r.message]
                .map(Self.csvField).joined(separator: ",") + "\n"
        }
        return out
    }

    public func json() throws -> Data {
        struct File: Codable {
            var created: String; var run: Int64?; var rows: [Row]; var exercises: [ExerciseGrade]; var penalties: [PenaltyRow]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(File(created: ISO8601DateFormatter().string(from: date), run: runID, rows: rows, exercises: grades,
                                       penalties: penalties))
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// The feedback page for one student: per exercise, the status, each check's name, points and
    /// message (hidden checks by name only, never their code), notes, the start of the output,
    /// and the explanation once the exercise earned full marks.
    public func feedbackHTML(for student: String) -> String {
        let mine = grades.filter { $0.student == student }.sorted { $0.exercise < $1.exercise }
        let total = mine.reduce(0) { $0 + $1.points }, max = mine.reduce(0) { $0 + $1.maxPoints }
        let deductions = penalties.filter { $0.student == student }
        let final = total + deductions.reduce(0) { $0 + $1.points }
        let totalLine = "Total: <strong>\(Self.number(final)) / \(Self.number(max))</strong>"
            + (deductions.isEmpty ? "" : " (\(Self.number(total)) before penalties)")
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Feedback: \(Self.escape(student))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
        table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
        .passed{color:#176b2c}.failed,.bad{color:#a3161b}.note{color:#555}pre{background:#f5f5f5;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
        </style></head><body>
        <h1>Feedback for \(Self.escape(student))</h1>
        <p>\(totalLine)</p>

        """
        if !deductions.isEmpty {
            h += "<section><h2>Penalties</h2><table><tr><th>exercise</th><th>points</th><th>why</th></tr>\n"
            for p in deductions {
                h += "<tr><td>\(Self.escape(p.exercise.map { titles[$0] ?? $0 } ?? "total"))</td><td>\(Self.number(p.points))</td>"
                h += "<td>\(Self.escape(p.kind))\(p.detail.isEmpty ? "" : ": " + Self.escape(p.detail))</td></tr>\n"
            }
            h += "</table></section>\n"
        }
        for g in mine {
            let title = titles[g.exercise] ?? g.exercise
            let taken = deductions.filter { $0.exercise == g.exercise }.reduce(0) { $0 + $1.points }
            let before = taken < 0 ? " (\(Self.number(g.points)) before the late penalty)" : ""
            h += "<section><h2>\(Self.escape(title)) — \(Self.number(g.points + taken)) / \(Self.number(g.maxPoints))\(before)</h2>\n"
            if g.status != .ok { h += "<p class=\"bad\">\(Self.escape(g.status.rawValue)): \(Self.escape(g.message))</p>\n" }
            if let submitted = g.submitted {
                let source = g.timeSource.map { source -> String in
                    switch source {
                    case .canvas: return " (time from Canvas's submission record)"
                    case .git: return " (time of the repository's last commit)"
                    case .mtime: return " (time from the file's modification time)"
                    }
                } ?? ""
                h += "<p class=\"note\">Submitted \(Self.escape(submitted))\(Self.escape(source))</p>\n"
            }
            if let late = g.late {
                let cost = taken < 0
                    ? "Late penalty: \(Self.number(taken)) (score \(Self.number(g.points + taken)) / \(Self.number(g.maxPoints)) after it). "
                    : ""
                h += "<p class=\"\(taken < 0 ? "bad" : "note")\">\(Self.escape(cost + late.reason))</p>\n"
            }
            for note in g.notes { h += "<p class=\"note\">\(Self.escape(note))</p>\n" }
            h += "<table><tr><th>check</th><th>points</th><th>result</th></tr>\n"
            for c in g.checks {
                let kind = c.hidden ? " <span class=\"note\">(hidden)</span>" : ""
                h += "<tr><td>\(Self.escape(c.name))\(kind)</td><td>\(Self.number(c.points)) / \(Self.number(c.max))</td>"
                h += "<td class=\"\(c.status == .passed ? "passed" : "failed")\">\(Self.escape(c.status.rawValue))"
                if !c.message.isEmpty { h += ": \(Self.escape(c.message))" }
                h += "</td></tr>\n"
            }
            h += "</table>\n"
            if !g.output.isEmpty {
                h += "<details><summary>output</summary><pre>\(Self.escape(String(g.output.prefix(4000))))</pre></details>\n"
            }
            if g.status == .ok, g.maxPoints > 0, g.points == g.maxPoints, let e = explanations[g.exercise], !e.isEmpty {
                h += "<details open><summary>Explanation</summary><pre>\(Self.escape(e))</pre></details>\n"
            }
            h += "</section>\n"
        }
        return h + "</body></html>\n"
    }

    /// `2026-11-22T1130` (local time).
    public static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd'T'HHmm"
        return f.string(from: date)
    }

    public struct Written {
        public var csv: URL
        public var json: URL
        public var feedback: URL
        /// The gradebook database the run was recorded in, and its id there.
        public var database: URL?
        public var runID: Int64?
    }

    /// Writes the set into `directory` as one folder, `gradebook-<time>[-N]/` holding
    /// `gradebook-<time>[-N].csv`, `.json` and `feedback/<student>.html`. The folder is filled under
    /// a temporary name and published by one rename that never replaces an existing folder, so a
    /// set is either all there or not there; temporary folders of a killed run are removed here.
    public func write(to directory: URL) throws -> Written {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        Self.removeStaleStaging(in: directory)
        let base = "gradebook-" + Self.stamp(date)
        let staging = directory.appendingPathComponent(".\(base).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        do {
            let feedback = staging.appendingPathComponent("feedback")
            try fm.createDirectory(at: feedback, withIntermediateDirectories: false)
            var used = Set<String>()
            for student in Set(grades.map(\.student)).sorted() {
                var name = ExerciseGrader.safeName(student)
                while !used.insert(name).inserted { name += "_" }
                try Data(feedbackHTML(for: student).utf8).write(to: feedback.appendingPathComponent(name + ".html"))
            }
            var n = 1
            while true {
                let name = n == 1 ? base : "\(base)-\(n)"
                // The files carry the set's name too: a CSV uploaded elsewhere still says which run it is.
                let csvName = name + ".csv", jsonName = name + ".json"
                try Data(csv.utf8).write(to: staging.appendingPathComponent(csvName))
                try json().write(to: staging.appendingPathComponent(jsonName))
                TestHooks.killIfRequested(at: "gradebook-publish")
                let target = directory.appendingPathComponent(name)
                if try AtomicRename.renameNoReplace(staging, to: target) {
                    return Written(csv: target.appendingPathComponent(csvName), json: target.appendingPathComponent(jsonName),
                                   feedback: target.appendingPathComponent("feedback"), runID: runID)
                }
                try fm.removeItem(at: staging.appendingPathComponent(csvName))
                try fm.removeItem(at: staging.appendingPathComponent(jsonName))
                n += 1
            }
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    /// Removes `.gradebook-*.tmp-PID` folders whose process is gone (a run killed mid-write).
    static func removeStaleStaging(in directory: URL) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(".gradebook-") {
            guard let r = name.range(of: ".tmp-"), let pid = Int32(name[r.upperBound...]) else { continue }
            if pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH) {
                try? fm.removeItem(at: directory.appendingPathComponent(name))
            }
        }
    }
}
