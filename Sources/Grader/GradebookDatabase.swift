import Foundation
import GRDB
import Notebook

/// `gradebooks/gradebook.sqlite`: every grading run, as it was graded, through GRDB.
///
/// Runs are insert-only: one transaction writes a run (its exercises, submissions, checks and
/// penalties) and seals it; triggers abort any UPDATE or DELETE, and any insert into a sealed
/// run, so a later run can never change an earlier one. The CSV/JSON/HTML files of a run are
/// rendered from the run as read back from here (`RecordedRun.gradebook`).
///
/// The file carries SQLite's `application_id` (`WBGB`) and GRDB's migration list: a file that
/// is not a gradebook, or was written by a newer workbook, is refused naming the file; an older
/// schema is migrated (each migration in its own transaction).
public final class GradebookDatabase: @unchecked Sendable {
    public static let fileName = "gradebook.sqlite"
    /// "WBGB" in SQLite's `PRAGMA application_id`: marks the file as a workbook gradebook.
    static let applicationID: Int32 = 0x5742_4742

    public let url: URL
    let queue: DatabaseQueue

    /// Where `workbook gradebook` finds the database: a folder (a grade command's `--out`)
    /// holding `gradebook.sqlite`, or the file itself.
    public static func location(_ path: String) -> URL {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return url.appendingPathComponent(fileName)
        }
        if url.pathExtension == "sqlite" || url.pathExtension == "db" { return url }
        return url.appendingPathComponent(fileName)
    }

    /// Opens (and, with `create`, makes) the gradebook at `url`, migrating an older schema.
    public init(url: URL, create: Bool = false) throws {
        self.url = url.standardizedFileURL
        let fm = FileManager.default
        let exists = fm.fileExists(atPath: url.path)
        if !exists {
            guard create else {
                throw GradebookError(file: url.path, "no gradebook database here (`workbook grade --out FOLDER` makes FOLDER/\(Self.fileName))")
            }
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        // Two grading runs into one folder wait for each other instead of failing.
        configuration.busyMode = .timeout(60)
        configuration.label = "gradebook"
        do {
            queue = try DatabaseQueue(path: url.path, configuration: configuration)
        } catch {
            throw GradebookError(file: url.path, "not a gradebook database (SQLite cannot open it: \(Self.describe(error))); refusing to touch it")
        }
        try checkIdentity()
        try migrate()
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    /// Refuses a file that is not a gradebook, or one from a newer workbook.
    func checkIdentity() throws {
        let (appID, tables): (Int32, [String])
        do {
            (appID, tables) = try queue.read { db in
                (try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                 try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
            }
        } catch {
            throw GradebookError(file: url.path, "not a gradebook database (not an SQLite file: \(Self.describe(error))); refusing to touch it")
        }
        if appID == 0 && tables.isEmpty { return }  // a new, empty file
        guard appID == Self.applicationID else {
            let what = tables.isEmpty ? "no tables" : "tables \(tables.prefix(6).joined(separator: ", "))"
            throw GradebookError(file: url.path, "an SQLite file but not a workbook gradebook (application_id \(appID), \(what)); refusing to touch it")
        }
        let applied = try queue.read { db in try Self.migrator.appliedIdentifiers(db) }
        let unknown = applied.subtracting(Self.migrator.migrations).sorted()
        if !unknown.isEmpty {
            throw GradebookError(file: url.path, "written by a newer workbook (schema \(unknown.joined(separator: ", ")) unknown to this one, which knows \(Self.migrator.migrations.joined(separator: ", "))); use that newer workbook, this one will not change the file")
        }
    }

    func migrate() throws {
        do {
            let current = try queue.read { db in try Self.migrator.hasCompletedMigrations(db) }
            if current { return }
            try Self.migrator.migrate(queue)
        } catch let error as GradebookError {
            throw error
        } catch {
            throw GradebookError(file: url.path, "cannot bring the gradebook schema up to date: \(Self.describe(error)) (the file is unchanged)")
        }
    }

    /// The schema versions this workbook knows, oldest first.
    public static var schemaVersions: [String] { migrator.migrations }

    /// The tables of every version; each migration runs in one transaction.
    static let migrator: DatabaseMigrator = {
        var m = DatabaseMigrator()
        m.registerMigration("v1-runs") { db in
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    started_at TEXT NOT NULL,
                    finished_at TEXT NOT NULL,
                    exercise_set_hash TEXT NOT NULL,
                    engine_fingerprint TEXT NOT NULL,
                    toolchain TEXT NOT NULL,
                    grader_version TEXT NOT NULL,
                    shard_index INTEGER,
                    shard_count INTEGER,
                    merged_from TEXT,
                    CHECK ((shard_index IS NULL) = (shard_count IS NULL)),
                    CHECK (shard_index IS NULL OR (shard_index BETWEEN 1 AND shard_count)));
                CREATE TABLE run_exercises (
                    run_id INTEGER NOT NULL REFERENCES runs(id),
                    position INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    title TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    explanation TEXT NOT NULL,
                    PRIMARY KEY (run_id, name));
                CREATE TABLE submissions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id),
                    student TEXT NOT NULL,
                    exercise TEXT NOT NULL,
                    file_name TEXT,
                    file_sha256 TEXT,
                    status TEXT NOT NULL,
                    message TEXT NOT NULL,
                    notes TEXT NOT NULL,
                    output TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    compile_seconds REAL,
                    run_seconds REAL,
                    cached INTEGER NOT NULL,
                    UNIQUE (run_id, student, exercise));
                CREATE TABLE checks (
                    submission_id INTEGER NOT NULL REFERENCES submissions(id),
                    position INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    hidden INTEGER NOT NULL,
                    points REAL NOT NULL,
                    max REAL NOT NULL,
                    status TEXT NOT NULL,
                    message TEXT NOT NULL,
                    PRIMARY KEY (submission_id, position));
                CREATE TABLE run_seals (
                    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
                    sealed_at TEXT NOT NULL);
                CREATE INDEX submissions_by_student ON submissions(student, run_id);
                """)
            for table in ["runs", "run_exercises", "submissions", "checks", "run_seals"] { try insertOnly(table, db) }
            try sealedGuard("run_exercises", "NEW.run_id", db)
            try sealedGuard("submissions", "NEW.run_id", db)
            try sealedGuard("checks", "(SELECT run_id FROM submissions WHERE id = NEW.submission_id)", db)
        }
        m.registerMigration("v2-times-penalties") { db in
            // Where a submission's time came from (Canvas or Classroom metadata, else the file's
            // mtime), the student's Canvas user id when the intake knows it, and late penalties
            // as their own rows so raw and final scores both remain.
            try db.execute(sql: """
                ALTER TABLE submissions ADD COLUMN submitted_at TEXT;
                ALTER TABLE submissions ADD COLUMN time_source TEXT;
                ALTER TABLE submissions ADD COLUMN canvas_user_id TEXT;
                CREATE TABLE penalties (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id),
                    student TEXT NOT NULL,
                    exercise TEXT,
                    kind TEXT NOT NULL,
                    points REAL NOT NULL CHECK (points <= 0),
                    detail TEXT NOT NULL);
                """)
            try insertOnly("penalties", db)
            try sealedGuard("penalties", "NEW.run_id", db)
        }
        m.registerMigration("v3-late-assessments") { db in
            // The late policy's whole verdict (on time, days late, tokens spent: what the
            // feedback tells the student) and the LMS ids, as JSON; the points it took are rows
            // of `penalties`.
            try db.execute(sql: """
                ALTER TABLE submissions ADD COLUMN late TEXT;
                ALTER TABLE submissions ADD COLUMN lms_ids TEXT;
                """)
        }
        return m
    }()

    /// Triggers that abort any change to a recorded row.
    static func insertOnly(_ table: String, _ db: Database) throws {
        for action in ["UPDATE", "DELETE"] {
            try db.execute(sql: """
                CREATE TRIGGER \(table)_no_\(action.lowercased()) BEFORE \(action) ON \(table)
                BEGIN SELECT RAISE(ABORT, 'gradebook: recorded runs are never changed (\(action) on \(table))'); END
                """)
        }
    }

    /// A trigger that refuses rows added to a run after it was sealed.
    static func sealedGuard(_ table: String, _ runID: String, _ db: Database) throws {
        try db.execute(sql: """
            CREATE TRIGGER \(table)_only_into_open_runs BEFORE INSERT ON \(table)
            WHEN EXISTS (SELECT 1 FROM run_seals WHERE run_id = \(runID))
            BEGIN SELECT RAISE(ABORT, 'gradebook: a recorded run is sealed; nothing can be added to it'); END
            """)
    }

    // MARK: Writing

    /// Records `run` (its `info.id` is ignored) in one transaction and seals it; returns its id.
    /// Nothing is written when any row is refused.
    @discardableResult
    public func record(_ run: RecordedRun) throws -> Int64 {
        do {
            return try queue.write { db in try Self.insert(run, db) }
        } catch let error as GradebookError {
            throw error
        } catch {
            throw GradebookError(file: url.path, "the run was not recorded (nothing was written): \(Self.describe(error))")
        }
    }

    static func insert(_ run: RecordedRun, _ db: Database) throws -> Int64 {
        let info = run.info
        try db.execute(sql: """
            INSERT INTO runs (started_at, finished_at, exercise_set_hash, engine_fingerprint, toolchain, grader_version,
                              shard_index, shard_count, merged_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [GradebookTime.string(info.startedAt), GradebookTime.string(info.finishedAt), info.exerciseSetHash,
                             info.engineFingerprint, info.toolchain, info.graderVersion, info.shard?.index, info.shard?.count,
                             info.mergedFrom])
        let id = db.lastInsertedRowID
        // Statements prepared once: a class of a thousand is some 30,000 submissions.
        let exercise = try db.makeStatement(sql: "INSERT INTO run_exercises (run_id, position, name, title, hash, explanation) VALUES (?, ?, ?, ?, ?, ?)")
        for (position, e) in run.exercises.enumerated() {
            try exercise.execute(arguments: [id, position, e.name, e.title, e.hash, e.explanation])
        }
        let submission = try db.makeStatement(sql: """
            INSERT INTO submissions (run_id, student, exercise, file_name, file_sha256, submitted_at, time_source, canvas_user_id,
                                     status, message, notes, output, seconds, compile_seconds, run_seconds, cached, late, lms_ids)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let check = try db.makeStatement(sql: """
            INSERT INTO checks (submission_id, position, name, hidden, points, max, status, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let encoder = JSONEncoder()
        for g in run.grades {
            let meta = run.submissions[SubmissionKey(student: g.student, exercise: g.exercise)] ?? SubmissionMetadata()
            let notes = g.notes.isEmpty ? "[]" : String(decoding: try encoder.encode(g.notes), as: UTF8.self)
            try submission.execute(arguments: [id, g.student, g.exercise, meta.fileName, meta.fileSHA256, meta.submittedAt.map(GradebookTime.string),
                                               meta.timeSource, meta.canvasUserID, g.status.rawValue, g.message, notes, g.output, g.seconds,
                                               g.compileSeconds, g.runSeconds, g.cached,
                                               try g.late.map { String(decoding: try encoder.encode($0), as: UTF8.self) },
                                               try g.lmsIDs.map { String(decoding: try encoder.encode($0), as: UTF8.self) }])
            let submissionID = db.lastInsertedRowID
            for (position, c) in g.checks.enumerated() {
                try check.execute(arguments: [submissionID, position, c.name, c.hidden, c.points, c.max, c.status.rawValue, c.message])
            }
        }
        TestHooks.killIfRequested(at: "gradebook-record")
        let penalty = try db.makeStatement(sql: "INSERT INTO penalties (run_id, student, exercise, kind, points, detail) VALUES (?, ?, ?, ?, ?, ?)")
        for p in run.penalties {
            try penalty.execute(arguments: [id, p.student, p.exercise, p.kind, p.points, p.detail])
        }
        try db.execute(sql: "INSERT INTO run_seals (run_id, sealed_at) VALUES (?, ?)", arguments: [id, GradebookTime.string(Date())])
        return id
    }

    // MARK: Reading

    /// Every recorded (sealed) run, oldest first, without its grades.
    public func runs() throws -> [GradebookRunInfo] {
        try read { db in try Row.fetchAll(db, sql: "SELECT r.* FROM runs r JOIN run_seals s ON s.run_id = r.id ORDER BY r.id").map(Self.info) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.read(body) } catch let error as GradebookError { throw error } catch {
            throw GradebookError(file: url.path, "cannot read the gradebook: \(Self.describe(error))")
        }
    }

    static func info(_ row: Row) -> GradebookRunInfo {
        let index: Int? = row["shard_index"], count: Int? = row["shard_count"]
        return GradebookRunInfo(id: row["id"], startedAt: GradebookTime.date(row["started_at"]), finishedAt: GradebookTime.date(row["finished_at"]),
                                exerciseSetHash: row["exercise_set_hash"], engineFingerprint: row["engine_fingerprint"],
                                toolchain: row["toolchain"], graderVersion: row["grader_version"],
                                shard: index.flatMap { i in count.map { Shard(index: i, count: $0) } }, mergedFrom: row["merged_from"])
    }

    /// The id `spec` names: a number, `latest`, or `previous` (the one before the latest).
    public func runID(_ spec: String) throws -> Int64 {
        let all = try runs()
        guard let last = all.last else { throw GradebookError(file: url.path, "no grading run is recorded yet") }
        switch spec.lowercased() {
        case "latest", "last": return last.id
        case "previous", "prev":
            guard all.count >= 2 else { throw GradebookError(file: url.path, "only one run is recorded (\(last.id)); there is no previous run") }
            return all[all.count - 2].id
        default:
            guard let id = Int64(spec), all.contains(where: { $0.id == id }) else {
                throw GradebookError(file: url.path, "no run '\(spec)' (runs recorded: \(Self.idList(all.map(\.id))); or say latest, previous)")
            }
            return id
        }
    }

    static func idList(_ ids: [Int64]) -> String {
        ids.count <= 12 ? ids.map(String.init).joined(separator: ", ")
            : ids.prefix(5).map(String.init).joined(separator: ", ") + ", ..., " + ids.suffix(5).map(String.init).joined(separator: ", ")
    }

    /// One recorded run, whole.
    public func run(_ id: Int64) throws -> RecordedRun {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT r.* FROM runs r JOIN run_seals s ON s.run_id = r.id WHERE r.id = ?", arguments: [id]) else {
                throw GradebookError(file: url.path, "no run \(id) is recorded")
            }
            var run = RecordedRun(info: Self.info(row))
            run.exercises = try Row.fetchAll(db, sql: "SELECT * FROM run_exercises WHERE run_id = ? ORDER BY position", arguments: [id]).map {
                RecordedExercise(name: $0["name"], title: $0["title"], hash: $0["hash"], explanation: $0["explanation"])
            }
            var checks: [Int64: [CheckGrade]] = [:]
            for c in try Row.fetchAll(db, sql: """
                SELECT c.* FROM checks c JOIN submissions s ON s.id = c.submission_id WHERE s.run_id = ? ORDER BY c.submission_id, c.position
                """, arguments: [id]) {
                checks[c["submission_id"], default: []].append(CheckGrade(
                    name: c["name"], hidden: c["hidden"], points: c["points"], max: c["max"],
                    status: CheckGrade.Status(rawValue: c["status"]) ?? .notRun, message: c["message"]))
            }
            let decoder = JSONDecoder()
            for s in try Row.fetchAll(db, sql: "SELECT * FROM submissions WHERE run_id = ? ORDER BY id", arguments: [id]) {
                let notes = (try? decoder.decode([String].self, from: Data((s["notes"] as String).utf8))) ?? []
                let submissionID: Int64 = s["id"]
                var grade = ExerciseGrade(student: s["student"], exercise: s["exercise"],
                                          status: ExerciseStatus(rawValue: s["status"]) ?? .crash, message: s["message"], notes: notes,
                                          checks: checks[submissionID] ?? [], output: s["output"], seconds: s["seconds"],
                                          compileSeconds: s["compile_seconds"], runSeconds: s["run_seconds"])
                grade.cached = s["cached"]
                let submitted: String? = s["submitted_at"]
                let timeSource: String? = s["time_source"]
                grade.submitted = submitted.map(GradebookTime.date).map(LatePolicy.iso)
                grade.timeSource = timeSource.flatMap(SubmissionTimeSource.init(rawValue:))
                if let late: String = s["late"] { grade.late = try? decoder.decode(LateAssessment.self, from: Data(late.utf8)) }
                if let ids: String = s["lms_ids"] { grade.lmsIDs = try? decoder.decode([String: String].self, from: Data(ids.utf8)) }
                run.grades.append(grade)
                run.submissions[SubmissionKey(student: grade.student, exercise: grade.exercise)] = SubmissionMetadata(
                    fileName: s["file_name"], fileSHA256: s["file_sha256"], submittedAt: submitted.map(GradebookTime.date),
                    timeSource: s["time_source"], canvasUserID: s["canvas_user_id"])
            }
            run.penalties = try Row.fetchAll(db, sql: "SELECT * FROM penalties WHERE run_id = ? ORDER BY id", arguments: [id]).map {
                PenaltyRow(student: $0["student"], exercise: $0["exercise"], kind: $0["kind"], points: $0["points"], detail: $0["detail"])
            }
            return run
        }
    }

    /// Each student's grades from the latest run that graded them (a `--student` run regrades
    /// some students; the others keep their earlier run), as one run-like view; `run` restricts
    /// to that run.
    public func latest(run id: Int64? = nil) throws -> LatestGrades {
        if let id { return LatestGrades(runs: [try run(id)], runOf: [:]) }
        let pairs = try read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.student, MAX(s.run_id) AS run_id FROM submissions s JOIN run_seals k ON k.run_id = s.run_id GROUP BY s.student
                """).map { ($0["student"] as String, $0["run_id"] as Int64) }
        }
        let ids = Set(pairs.map(\.1)).sorted()
        return LatestGrades(runs: try ids.map { try run($0) }, runOf: Dictionary(uniqueKeysWithValues: pairs))
    }

    public func studentCount(run id: Int64) throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT student) FROM submissions WHERE run_id = ?", arguments: [id]) ?? 0 }
    }

    /// SQLite's own consistency check ("ok" when whole).
    public func integrityCheck() throws -> String {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }
}

/// A gradebook problem, naming the database file.
public struct GradebookError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}

/// Instants as ISO 8601 text in UTC with milliseconds: readable in `sqlite3`, sortable as text.
enum GradebookTime {
    static func formatter() -> ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
    static func string(_ date: Date) -> String { formatter().string(from: date) }
    static func date(_ string: String) -> Date {
        formatter().date(from: string) ?? ISO8601DateFormatter().date(from: string) ?? Date(timeIntervalSince1970: 0)
    }
    /// `date` as the database will give it back (milliseconds).
    static func rounded(_ date: Date) -> Date { Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000) }
}
