import Foundation

/// Writes a grading run's results: `gradebook-<time>.csv` and `.json` (one row per check, plus
/// an `(exercise)` row per exercise carrying its status), and `feedback-<time>/<student>.html`.
/// Nothing is ever overwritten: each file is written under a temporary name and renamed to a
/// name carrying the run's date and time (a second run in the same minute adds `-2`, `-3`, ...).
public struct Gradebook {
    public var grades: [ExerciseGrade]
    /// Explanations to show once an exercise is fully solved, by exercise name.
    public var explanations: [String: String]
    /// Exercise titles, by name.
    public var titles: [String: String]
    public var date: Date

    public init(grades: [ExerciseGrade], explanations: [String: String] = [:], titles: [String: String] = [:], date: Date = Date()) {
        self.grades = grades
        self.explanations = explanations
        self.titles = titles
        self.date = date
    }

    public struct Row: Codable, Equatable {
        public var student: String
        public var exercise: String
        public var check: String
        public var points: Double
        public var max: Double
        public var status: String
        public var message: String
    }

    /// Per check: the check's verdict; per exercise: a row with check `(exercise)`, the
    /// exercise's total and its status (ok, compile-error, timeout, ...) and message.
    public var rows: [Row] {
        var rows: [Row] = []
        for g in grades {
            rows.append(Row(student: g.student, exercise: g.exercise, check: "(exercise)", points: g.points, max: g.maxPoints,
                            status: g.status.rawValue, message: ([g.message] + g.notes).filter { !$0.isEmpty }.joined(separator: "; ")))
            for c in g.checks {
                rows.append(Row(student: g.student, exercise: g.exercise, check: c.name, points: c.points, max: c.max,
                                status: c.status.rawValue, message: c.message))
            }
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
        struct File: Codable { var created: String; var rows: [Row]; var exercises: [ExerciseGrade] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(File(created: ISO8601DateFormatter().string(from: date), rows: rows, exercises: grades))
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
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Feedback: \(Self.escape(student))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
        table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
        .passed{color:#176b2c}.failed,.bad{color:#a3161b}.note{color:#555}pre{background:#f5f5f5;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
        </style></head><body>
        <h1>Feedback for \(Self.escape(student))</h1>
        <p>Total: <strong>\(Self.number(total)) / \(Self.number(max))</strong></p>

        """
        for g in mine {
            let title = titles[g.exercise] ?? g.exercise
            h += "<section><h2>\(Self.escape(title)) — \(Self.number(g.points)) / \(Self.number(g.maxPoints))</h2>\n"
            if g.status != .ok { h += "<p class=\"bad\">\(Self.escape(g.status.rawValue)): \(Self.escape(g.message))</p>\n" }
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
    }

    /// Writes everything into `directory`; never replaces an existing file or folder.
    public func write(to directory: URL) throws -> Written {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let base = Self.stamp(date)
        var suffix = ""
        var n = 1
        func taken(_ s: String) -> Bool {
            ["gradebook-\(base)\(s).csv", "gradebook-\(base)\(s).json", "feedback-\(base)\(s)"]
                .contains { fm.fileExists(atPath: directory.appendingPathComponent($0).path) }
        }
        while taken(suffix) { n += 1; suffix = "-\(n)" }
        let csvURL = directory.appendingPathComponent("gradebook-\(base)\(suffix).csv")
        let jsonURL = directory.appendingPathComponent("gradebook-\(base)\(suffix).json")
        let feedbackURL = directory.appendingPathComponent("feedback-\(base)\(suffix)")

        let staging = directory.appendingPathComponent(".feedback-\(UUID().uuidString.prefix(8)).tmp")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        var used = Set<String>()
        for student in Set(grades.map(\.student)).sorted() {
            var name = ExerciseGrader.safeName(student)
            while !used.insert(name).inserted { name += "_" }
            try Data(feedbackHTML(for: student).utf8).write(to: staging.appendingPathComponent(name + ".html"))
        }
        try fm.moveItem(at: staging, to: feedbackURL)
        try Self.writeNew(Data(csv.utf8), to: csvURL)
        try Self.writeNew(try json(), to: jsonURL)
        return Written(csv: csvURL, json: jsonURL, feedback: feedbackURL)
    }

    /// Temp file + hard link to the final name: fails instead of replacing an existing file.
    static func writeNew(_ data: Data, to url: URL) throws {
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        try data.write(to: temp)
        defer { try? FileManager.default.removeItem(at: temp) }
        try FileManager.default.linkItem(at: temp, to: url)
    }
}
