import Foundation
import Notebook

/// How `GradingRun.run()` records a run in `<output>/gradebook.sqlite` and publishes its files.
extension GradingRun {
    /// `<output>/gradebook.sqlite`.
    public var databaseURL: URL { output.appendingPathComponent(GradebookDatabase.fileName) }

    /// Opens (or makes) the gradebook before any grading, so a file that is not a gradebook, or
    /// one from a newer workbook, stops the run at once rather than after an hour of grading.
    func openDatabase() throws -> GradebookDatabase {
        try GradebookDatabase(url: databaseURL, create: true)
    }

    /// The students this run grades: `--student` names (checked by `students()`), then this
    /// machine's share under `--shard I/N`.
    func selectedForRun() throws -> [String] {
        let all = try students()
        guard let shard else { return all }
        return all.filter(shard.contains)
    }

    /// SHA-256 of the engine library's bytes: two machines agree exactly when they run the same build.
    func engineFingerprint() -> String {
        guard let handle = try? FileHandle(forReadingFrom: grader.engine.library) else { return "unreadable:\(grader.engine.fingerprint)" }
        defer { try? handle.close() }
        var h = SHA256()
        while let chunk = try? handle.read(upToCount: 4 << 20), !chunk.isEmpty { h.update(chunk) }
        return h.finalize()
    }

    /// Records the graded run in one transaction, reads it back, and writes its CSV/JSON/feedback
    /// set from what was recorded.
    func publish(grades: [ExerciseGrade], files: [SubmissionKey: URL], startedAt: Date,
                 database: GradebookDatabase) throws -> Gradebook.Written {
        let packageRoot = grader.engine.packageRoot
        let exercises = self.exercises.map { RecordedExercise($0, packageRoot: packageRoot) }
        var submissions: [SubmissionKey: SubmissionMetadata] = [:]
        var recorded: [ExerciseGrade] = []
        for var g in grades {
            let key = SubmissionKey(student: g.student, exercise: g.exercise)
            var meta = submissionMetadata(key, files[key])
            // The intake's time (Canvas, git) beats a file's mtime; its Canvas id fills a gap.
            if meta.timeSource == nil || meta.timeSource == SubmissionTimeSource.mtime.rawValue,
               let source = g.timeSource, source != .mtime, let submitted = g.submitted,
               let date = ISO8601DateFormatter().date(from: submitted) {
                meta.submittedAt = GradebookTime.rounded(date)
                meta.timeSource = source.rawValue
            }
            if meta.canvasUserID == nil { meta.canvasUserID = g.lmsIDs?["canvas_user_id"] }
            submissions[key] = meta
            // The grade states the time the gradebook records (as it reads back).
            g.submitted = meta.submittedAt.map(LatePolicy.iso)
            g.timeSource = meta.timeSource.flatMap(SubmissionTimeSource.init(rawValue:))
            recorded.append(g)
        }
        let info = GradebookRunInfo(startedAt: startedAt, finishedAt: Date(), exerciseSetHash: RecordedExercise.setHash(exercises),
                                    engineFingerprint: engineFingerprint(), toolchain: EngineBuild.toolchainVersion(),
                                    graderVersion: GradebookRunInfo.currentGraderVersion, shard: shard)
        let run = RecordedRun(info: info, exercises: exercises, grades: recorded, submissions: submissions,
                              penalties: try penalties(recorded, submissions))
        let id = try database.record(run)
        var written = try database.run(id).gradebook.write(to: output)
        written.database = database.url
        written.runID = id
        return written
    }
}
