import Foundation
import Notebook
import Yams

/// Deadlines and the late policy of a course, read from `course.yml` (see `exercises/README.md`,
/// "Deadlines and late policy", and `exercises/course.example.yml`).
///
/// Days late = ceil((submitted - due - grace) / 1 day) when positive, else 0. Each late token
/// forgives one day; a student's tokens are spent greedily in exercise order (q01 first), on
/// the first late exercises whatever their points. The penalty is the days left times the
/// penalty per day (points, or a percent of the exercise's maximum points), then held to the
/// cap (`max_penalty`), then to what keeps the score at or above the floor, and never more than
/// the points earned. A missing submission gets no assessment (it has no points to lose).
public struct LatePolicy: Sendable, Equatable {
    /// Points, or a percent of the exercise's maximum points.
    public enum Amount: Sendable, Equatable, CustomStringConvertible {
        case points(Double)
        case percent(Double)

        public func points(ofMaximum maximum: Double) -> Double {
            switch self {
            case .points(let p): return p
            case .percent(let p): return maximum * p / 100
            }
        }

        public var description: String {
            switch self {
            case .points(let p): return "\(Gradebook.number(p)) point\(p == 1 ? "" : "s")"
            case .percent(let p): return "\(Gradebook.number(p))%"
            }
        }
    }

    /// A per-student change of deadline: moved later by a duration, or to a date.
    public enum Extension: Sendable, Equatable {
        case by(TimeInterval)
        case until(Date)

        func applied(to due: Date) -> Date {
            switch self {
            case .by(let seconds): return due.addingTimeInterval(seconds)
            case .until(let date): return date
            }
        }
    }

    public struct StudentExtension: Sendable, Equatable {
        public var all: Extension?
        /// By exercise key as written (`q05` or `q05-load-dataset`).
        public var exercises: [String: Extension] = [:]
        public init(all: Extension? = nil, exercises: [String: Extension] = [:]) {
            self.all = all
            self.exercises = exercises
        }
    }

    /// The course file, for messages.
    public var file: String
    /// Every exercise's deadline, unless `exerciseDue` names it.
    public var due: Date?
    /// By exercise key as written in the file: `q05` or `q05-load-dataset`.
    public var exerciseDue: [String: Date]
    public var grace: TimeInterval
    /// Nil: lateness is recorded but costs nothing.
    public var penaltyPerDay: Amount?
    public var cap: Amount?
    public var floor: Amount?
    public var tokens: Int
    /// By student name (as the gradebook names them).
    public var extensions: [String: StudentExtension]
    /// The line of each exercise key (in `exercises:` and in extensions), to name unknown ones.
    var keyLines: [(key: String, line: Int)] = []

    public init(file: String = "course.yml", due: Date? = nil, exerciseDue: [String: Date] = [:], grace: TimeInterval = 0,
                penaltyPerDay: Amount? = nil, cap: Amount? = nil, floor: Amount? = nil, tokens: Int = 0,
                extensions: [String: StudentExtension] = [:]) {
        self.file = file
        self.due = due
        self.exerciseDue = exerciseDue
        self.grace = grace
        self.penaltyPerDay = penaltyPerDay
        self.cap = cap
        self.floor = floor
        self.tokens = tokens
        self.extensions = extensions
    }

    public static func == (a: LatePolicy, b: LatePolicy) -> Bool {
        a.file == b.file && a.due == b.due && a.exerciseDue == b.exerciseDue && a.grace == b.grace
            && a.penaltyPerDay == b.penaltyPerDay && a.cap == b.cap && a.floor == b.floor && a.tokens == b.tokens
            && a.extensions == b.extensions
    }

    // MARK: - The arithmetic

    /// ceil((submitted - due - grace) / 1 day) when positive, else 0.
    public static func daysLate(submitted: Date, due: Date, grace: TimeInterval) -> Int {
        let late = submitted.timeIntervalSince(due) - grace
        guard late > 0 else { return 0 }
        return Int((late / 86_400).rounded(.up))
    }

    /// The points taken for `days` late on an exercise worth `maximum` where `earned` were earned.
    public static func penalty(days: Int, earned: Double, maximum: Double, perDay: Amount?, cap: Amount?, floor: Amount?) -> Double {
        guard days > 0, let perDay else { return 0 }
        var penalty = Double(days) * perDay.points(ofMaximum: maximum)
        if let cap { penalty = min(penalty, cap.points(ofMaximum: maximum)) }
        if let floor { penalty = min(penalty, max(0, earned - floor.points(ofMaximum: maximum))) }
        return max(0, min(penalty, earned))
    }

    /// One exercise of one student, as the assessment needs it.
    public struct Work: Sendable, Equatable {
        public var exercise: String
        public var submitted: Date?
        public var timeSource: SubmissionTimeSource?
        public var earned: Double
        public var maximum: Double
        public init(exercise: String, submitted: Date?, timeSource: SubmissionTimeSource? = nil, earned: Double, maximum: Double) {
            self.exercise = exercise
            self.submitted = submitted
            self.timeSource = timeSource
            self.earned = earned
            self.maximum = maximum
        }
    }

    /// The deadline of `exercise` for `student`: its own, else the course's, then moved by the
    /// student's extension (one for the exercise wins over one for all). Nil: no deadline.
    public func due(exercise: String, student: String) -> Date? {
        guard var date = Self.value(for: exercise, in: exerciseDue) ?? due else { return nil }
        if let ext = extensions[student] {
            if let specific = Self.value(for: exercise, in: ext.exercises) {
                date = specific.applied(to: date)
            } else if let all = ext.all {
                date = all.applied(to: date)
            }
        }
        return date
    }

    /// The assessment of each submitted exercise that has a deadline, by exercise name. Tokens
    /// are spent in exercise-name order.
    public func assess(student: String, work: [Work]) -> [String: LateAssessment] {
        var remaining = tokens
        var result: [String: LateAssessment] = [:]
        for item in work.sorted(by: { $0.exercise < $1.exercise }) {
            guard let submitted = item.submitted, let due = due(exercise: item.exercise, student: student) else { continue }
            let days = Self.daysLate(submitted: submitted, due: due, grace: grace)
            let used = min(remaining, days)
            remaining -= used
            let charged = days - used
            let points = Self.penalty(days: charged, earned: item.earned, maximum: item.maximum,
                                      perDay: penaltyPerDay, cap: cap, floor: floor)
            result[item.exercise] = LateAssessment(
                due: Self.iso(due), daysLate: days, tokensUsed: used, penaltyPoints: points,
                reason: reason(days: days, used: used, charged: charged, points: points, due: due, submitted: submitted,
                               source: item.timeSource, maximum: item.maximum))
        }
        return result
    }

    func reason(days: Int, used: Int, charged: Int, points: Double, due: Date, submitted: Date,
                source: SubmissionTimeSource?, maximum: Double) -> String {
        let when = "submitted \(Self.iso(submitted))\(source.map { " (\($0.rawValue))" } ?? ""), due \(Self.iso(due))"
            + (grace > 0 ? " + \(Self.duration(grace)) grace" : "")
        guard days > 0 else { return "on time: \(when)" }
        var parts = ["\(days) day\(days == 1 ? "" : "s") late: \(when)"]
        if used > 0 { parts.append("\(used) late token\(used == 1 ? "" : "s") used") }
        if charged > 0, let penaltyPerDay {
            var cost = "-\(Gradebook.number(points)) point\(points == 1 ? "" : "s") (\(penaltyPerDay) per day"
            let uncapped = Double(charged) * penaltyPerDay.points(ofMaximum: maximum)
            if points < uncapped {
                if let cap, cap.points(ofMaximum: maximum) == points { cost += ", capped at \(cap)" }
                else if let floor { cost += ", held at the floor of \(floor)" }
                else { cost += ", no more than the points earned" }
            }
            parts.append(cost + ")")
        } else if charged > 0 {
            parts.append("no penalty per day is set")
        }
        return parts.joined(separator: "; ")
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    static func duration(_ seconds: TimeInterval) -> String {
        for (unit, size) in [("day", 86_400.0), ("hour", 3600), ("minute", 60)] where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
            let n = Int(seconds / size)
            return "\(n) \(unit)\(n == 1 ? "" : "s")"
        }
        return "\(Gradebook.number(seconds)) s"
    }

    /// The value for `exercise` (`q05-load-dataset`) under its full name or its number key (`q05`, `q5`).
    static func value<T>(for exercise: String, in table: [String: T]) -> T? {
        if let v = table[exercise] { return v }
        guard let number = ExerciseMap.number(in: exercise) else { return nil }
        return table.first { key, _ in !key.contains("-") && ExerciseMap.number(in: key) == number }?.value
    }

    /// Keys naming no exercise of the set, as errors at their lines.
    public func unknownExerciseKeys(exercises: [String]) -> [NotebookError] {
        let map = ExerciseMap(exercises)
        return keyLines.compactMap { entry in
            if map.names.contains(entry.key) { return nil }
            if !entry.key.contains("-"), let n = ExerciseMap.number(in: entry.key), map.byNumber[n] != nil { return nil }
            return NotebookError(file: file, line: entry.line,
                                 "no exercise '\(entry.key)' in the exercise set (use its name, e.g. q05-load-dataset, or its number, q05)")
        }
    }

    // MARK: - Assessing a grading run

    /// Fills each grade's submission time, its source and LMS ids from the intake, and its late
    /// assessment from the policy (nil: times only). Grades are returned in the same order.
    public static func annotate(_ grades: [ExerciseGrade], intake: SubmissionIntake, policy: LatePolicy?) -> [ExerciseGrade] {
        var grades = grades
        var byStudent: [String: [Int]] = [:]
        for (index, grade) in grades.enumerated() { byStudent[grade.student, default: []].append(index) }
        for (student, indices) in byStudent {
            let submission = intake.student(named: student)
            for i in indices {
                let file = submission?.files[grades[i].exercise]
                grades[i].submitted = file.map { iso($0.submitted) }
                grades[i].timeSource = file?.timeSource
                if let ids = submission?.lmsIDs, !ids.isEmpty { grades[i].lmsIDs = ids }
                grades[i].late = nil
                // A missing exercise whose files could not be told apart says so.
                if file == nil {
                    let ambiguous = intake.unmapped.filter { $0.student == student && $0.exercise == grades[i].exercise }
                    if !ambiguous.isEmpty {
                        let names = ambiguous.map { ($0.path as NSString).lastPathComponent }.sorted().joined(separator: ", ")
                        grades[i].notes.append("\(ambiguous.count) files could be this exercise (\(names)); none was graded: submit exactly one")
                    }
                }
            }
            guard let policy else { continue }
            let work = indices.map { i -> LatePolicy.Work in
                let file = submission?.files[grades[i].exercise]
                // Not graded (no file, or the machine failed the reference): nothing to assess, no token spent.
                let assessable = ![.missing, .environmentError].contains(grades[i].status)
                return Work(exercise: grades[i].exercise, submitted: assessable ? file?.submitted : nil,
                            timeSource: file?.timeSource, earned: grades[i].points, maximum: grades[i].maxPoints)
            }
            let assessed = policy.assess(student: student, work: work)
            for i in indices { grades[i].late = assessed[grades[i].exercise] }
        }
        return grades
    }
}

/// How late one exercise of one student was, and what it cost. Kept beside the raw grade:
/// `ExerciseGrade.points` stays what the checks gave; `finalPoints` subtracts `penaltyPoints`.
public struct LateAssessment: Codable, Sendable, Equatable {
    /// The deadline that applied (extensions included), ISO 8601 in UTC.
    public var due: String
    public var daysLate: Int
    public var tokensUsed: Int
    /// Zero or more: the points taken.
    public var penaltyPoints: Double
    /// One line for the student and the instructor.
    public var reason: String
}

/// A deduction recorded beside the checks' points, so raw and final scores both remain (the
/// gradebook database stores these rows; the CSV/JSON show them as `(late penalty)` rows).
extension PenaltyRow {
    /// One row per exercise whose late assessment took points.
    public static func rows(from grades: [ExerciseGrade]) -> [PenaltyRow] {
        grades.compactMap { g in
            guard let late = g.late, late.penaltyPoints > 0 else { return nil }
            return PenaltyRow(student: g.student, exercise: g.exercise, kind: "late", points: -late.penaltyPoints, detail: late.reason)
        }
    }
}

// MARK: - course.yml

extension LatePolicy {
    public static let knownKeys = ["timezone", "due", "grace", "penalty_per_day", "max_penalty", "floor", "late_tokens",
                                   "exercises", "extensions"]

    /// Reads a course file; errors name the file and line.
    public static func load(path: String) throws -> LatePolicy {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw NotebookError(file: path, line: nil, "cannot read the course file (\(error.localizedDescription))")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws -> LatePolicy {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let error as YamlError {
            var line = yamlLine(error)
            // Yams places a duplicated key at its mapping's start; the second occurrence is the mistake.
            if case .duplicatedKeysInMapping(let keys, _) = error, let key = keys.first {
                let lines = yaml.components(separatedBy: "\n")
                let hits = lines.indices.filter {
                    let t = lines[$0].trimmingCharacters(in: .whitespaces)
                    return t.hasPrefix(key + ":") || t.hasPrefix("\"\(key)\":") || t.hasPrefix("'\(key)':")
                }
                if hits.count >= 2 { line = hits[1] + 1 }
            }
            throw NotebookError(file: file, line: line, "invalid YAML: \(yamlProblem(error))")
        }
        var policy = LatePolicy(file: file)
        guard let root else { return policy }
        guard let mapping = root.mapping else {
            throw NotebookError(file: file, line: root.mark?.line ?? 1, "the course file must be a mapping of key: value lines")
        }
        func line(_ node: Node) -> Int? { node.mark?.line }
        func fail(_ node: Node, _ message: String) -> NotebookError { NotebookError(file: file, line: line(node), message) }
        func string(_ node: Node, _ key: String) throws -> String {
            guard let s = node.scalar?.string else { throw fail(node, "'\(key)' must be a single value") }
            return s.trimmingCharacters(in: .whitespaces)
        }

        // The time zone first: dates anywhere in the file may need it.
        var zone: TimeZone?
        for (key, value) in mapping where key.string == "timezone" {
            let name = try string(value, "timezone")
            guard let z = TimeZone(identifier: name) else {
                throw fail(value, "unknown time zone '\(name)' (an IANA name such as Europe/Berlin or America/New_York, or UTC)")
            }
            zone = z
        }
        func date(_ node: Node, _ key: String) throws -> Date {
            let text = try string(node, key)
            do { return try parseDate(text, zone: zone) } catch let problem as DateProblem {
                throw fail(node, "'\(key)': \(problem.message)")
            }
        }
        func shift(_ node: Node, _ key: String) throws -> Extension {
            let text = try string(node, key)
            if let seconds = try? parseDuration(text) { return .by(seconds) }
            do { return .until(try parseDate(text, zone: zone)) } catch let problem as DateProblem {
                throw fail(node, "'\(key)' must be a duration (2 days, 12 hours) or a new deadline: \(problem.message)")
            }
        }

        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be strings") }
            switch key {
            case "timezone": continue
            case "due": policy.due = try date(value, key)
            case "grace":
                do { policy.grace = try parseDuration(try string(value, key)) } catch let problem as DateProblem {
                    throw fail(value, "'grace': \(problem.message)")
                }
            case "penalty_per_day": policy.penaltyPerDay = try amount(try string(value, key), key: key, node: value, file: file)
            case "max_penalty": policy.cap = try amount(try string(value, key), key: key, node: value, file: file)
            case "floor": policy.floor = try amount(try string(value, key), key: key, node: value, file: file)
            case "late_tokens":
                guard let n = Int(try string(value, key)), n >= 0 else { throw fail(value, "'late_tokens' must be a whole number, 0 or more") }
                policy.tokens = n
            case "exercises":
                guard let list = value.mapping else {
                    throw fail(value, "'exercises' must map exercise names to deadlines (q05: 2026-11-27T23:59:00+01:00, or q05: {due: ...})")
                }
                for (exerciseNode, setting) in list {
                    guard let exercise = exerciseNode.string else { throw fail(exerciseNode, "exercise keys must be names") }
                    policy.keyLines.append((exercise, line(exerciseNode) ?? 1))
                    if let inner = setting.mapping {
                        for (k, v) in inner {
                            guard k.string == "due" else {
                                throw fail(k, "unknown setting '\(k.string ?? "?")' for exercise \(exercise) (known: due)")
                            }
                            policy.exerciseDue[exercise] = try date(v, "\(exercise).due")
                        }
                    } else {
                        policy.exerciseDue[exercise] = try date(setting, exercise)
                    }
                }
            case "extensions":
                guard let list = value.mapping else {
                    throw fail(value, "'extensions' must map student names to a duration, a deadline, or per-exercise ones")
                }
                for (studentNode, setting) in list {
                    guard let student = studentNode.string else { throw fail(studentNode, "student keys must be names") }
                    var ext = StudentExtension()
                    if let inner = setting.mapping {
                        for (k, v) in inner {
                            guard let exercise = k.string else { throw fail(k, "exercise keys must be names") }
                            if exercise == "all" { ext.all = try shift(v, "\(student).all"); continue }
                            policy.keyLines.append((exercise, line(k) ?? 1))
                            ext.exercises[exercise] = try shift(v, "\(student).\(exercise)")
                        }
                    } else {
                        ext.all = try shift(setting, student)
                    }
                    policy.extensions[student] = ext
                }
            default:
                throw fail(keyNode, "unknown key '\(key)' (known: \(knownKeys.joined(separator: ", ")))")
            }
        }
        if policy.tokens > 0 || policy.penaltyPerDay != nil, policy.due == nil, policy.exerciseDue.isEmpty {
            throw NotebookError(file: file, line: 1, "a late policy without any deadline: add 'due:' (or deadlines under 'exercises:')")
        }
        return policy
    }

    struct DateProblem: Error { var message: String }

    private static let dateShape = try! NSRegularExpression(
        pattern: #"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"#)

    /// ISO 8601 with a time of day: `2026-11-20T23:59:00+01:00`, `…Z`, or without a zone when
    /// `zone` (the file's `timezone:`) says how to read it. A bare date is refused: "due on the
    /// 20th" means different instants to different people.
    static func parseDate(_ text: String, zone: TimeZone?) throws -> Date {
        let range = NSRange(text.startIndex..., in: text)
        guard let m = dateShape.firstMatch(in: text, range: range) else {
            throw DateProblem(message: "'\(text)' is not an ISO 8601 date and time (e.g. 2026-11-20T23:59:00+01:00)")
        }
        func group(_ i: Int) -> String? { Range(m.range(at: i), in: text).map { String(text[$0]) } }
        guard group(4) != nil else {
            throw DateProblem(message: "'\(text)' has no time of day; write one (e.g. \(text)T23:59:00 with a zone)")
        }
        var timeZone: TimeZone
        if let z = group(7) {
            if z == "Z" { timeZone = TimeZone(identifier: "UTC")! } else {
                let digits = z.dropFirst().replacingOccurrences(of: ":", with: "")
                let hours = Int(digits.prefix(2)) ?? 0, minutes = digits.count > 2 ? Int(digits.suffix(2)) ?? 0 : 0
                guard hours <= 18, minutes < 60 else { throw DateProblem(message: "'\(text)' has an impossible zone offset") }
                timeZone = TimeZone(secondsFromGMT: (z.hasPrefix("-") ? -1 : 1) * (hours * 3600 + minutes * 60))!
            }
        } else if let zone {
            timeZone = zone
        } else {
            throw DateProblem(message: "'\(text)' has no time zone: add one (+01:00, Z) or declare 'timezone:' (e.g. Europe/Berlin) in the course file")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = DateComponents(year: Int(group(1)!), month: Int(group(2)!), day: Int(group(3)!),
                                   hour: Int(group(4)!), minute: Int(group(5)!), second: Int(group(6) ?? "0"))
        guard let date = calendar.date(from: parts) else { throw DateProblem(message: "'\(text)' is not a date on the calendar") }
        let back = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        guard back.year == parts.year, back.month == parts.month, back.day == parts.day,
              back.hour == parts.hour, back.minute == parts.minute, back.second == parts.second else {
            throw DateProblem(message: "'\(text)' is not a date and time on the calendar (in \(timeZone.identifier))")
        }
        return date
    }

    /// `15 minutes`, `15 min`, `15m`, `2 hours`, `2h`, `1 day`, `1d`, `1 week`, `90s`; `0` alone.
    static func parseDuration(_ text: String) throws -> TimeInterval {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "0" { return 0 }
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value >= 0, value.isFinite else {
            throw DateProblem(message: "'\(text)' is not a duration (e.g. 15 minutes, 2 hours, 1 day)")
        }
        let units: [(names: [String], seconds: Double)] = [
            (["s", "sec", "secs", "second", "seconds"], 1), (["m", "min", "mins", "minute", "minutes"], 60),
            (["h", "hr", "hrs", "hour", "hours"], 3600), (["d", "day", "days"], 86_400), (["w", "week", "weeks"], 604_800),
        ]
        guard let size = units.first(where: { $0.names.contains(unit) })?.seconds else {
            throw DateProblem(message: "'\(text)' needs a unit: seconds, minutes, hours, days or weeks (e.g. 15 minutes)")
        }
        return value * size
    }

    /// `10%` of the exercise's points, or points: `2`, `2 points`, `0.5 pt`.
    static func amount(_ text: String, key: String, node: Node, file: String) throws -> Amount {
        let trimmed = text.lowercased().trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%") {
            guard let p = Double(trimmed.dropLast().trimmingCharacters(in: .whitespaces)), p >= 0, p <= 100 else {
                throw NotebookError(file: file, line: node.mark?.line, "'\(key)': '\(text)' is not a percent from 0% to 100%")
            }
            return .percent(p)
        }
        var number = trimmed
        for suffix in ["points", "point", "pts", "pt"] where number.hasSuffix(suffix) {
            number = String(number.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            break
        }
        guard let p = Double(number), p >= 0, p.isFinite else {
            throw NotebookError(file: file, line: node.mark?.line,
                                "'\(key)': '\(text)' is neither points (2, 2 points) nor a percent of the exercise's points (10%)")
        }
        return .points(p)
    }

    private static func yamlLine(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        case .duplicatedKeysInMapping(_, let context): return context.mark.line
        default: return nil
        }
    }

    private static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        case .duplicatedKeysInMapping(let duplicates, _): return "duplicated key \(duplicates.joined(separator: ", "))"
        default: return String(describing: error).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
