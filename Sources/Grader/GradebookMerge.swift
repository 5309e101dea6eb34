import Foundation

/// `workbook gradebook merge OUT PARTIAL...`: the partial databases of `workbook grade --shard
/// I/N` (each one's latest run) become one run in OUT, as if one machine had graded everyone.
/// It refuses partial runs of different exercise sets, engines, toolchains or grader versions,
/// a shard given twice or missing, a student graded by two shards, and a run that is not partial.
public enum GradebookMerge {
    /// Checks the partial runs and combines them into one run (not yet recorded).
    public static func combine(_ partials: [(file: String, run: RecordedRun)]) throws -> RecordedRun {
        guard let first = partials.first else { throw GradebookError(file: "merge", "no partial gradebooks given") }
        for p in partials where p.run.info.shard == nil {
            throw GradebookError(file: p.file, "run \(p.run.info.id) is not a partial run (it was not graded with --shard I/N)")
        }
        let count = first.run.info.shard!.count
        for p in partials {
            let info = p.run.info, base = first.run.info
            if info.shard!.count != count {
                throw GradebookError(file: p.file, "shard \(info.shard!) does not belong with \(first.file)'s shard \(base.shard!) (different N)")
            }
            if info.exerciseSetHash != base.exerciseSetHash {
                let names = GradebookDiff(first.run, p.run).changedExercises
                throw GradebookError(file: p.file, "graded a different set of exercises than \(first.file)"
                    + (names.isEmpty ? "" : " (differing: \(names.joined(separator: ", ")))") + "; grade every shard with the same exercises")
            }
            if info.engineFingerprint != base.engineFingerprint {
                throw GradebookError(file: p.file, "graded with a different engine build than \(first.file) (engine \(info.engineFingerprint.prefix(12)) vs \(base.engineFingerprint.prefix(12))); grade every shard with one build")
            }
            if info.toolchain != base.toolchain {
                throw GradebookError(file: p.file, "graded with a different toolchain than \(first.file) (\(info.toolchain) vs \(base.toolchain))")
            }
            if info.graderVersion != base.graderVersion {
                throw GradebookError(file: p.file, "graded by a different grader version than \(first.file) (\(info.graderVersion) vs \(base.graderVersion))")
            }
        }
        var byIndex: [Int: String] = [:]
        for p in partials {
            let index = p.run.info.shard!.index
            if let other = byIndex[index] {
                throw GradebookError(file: p.file, "shard \(index)/\(count) is given twice (also \(other))")
            }
            byIndex[index] = p.file
        }
        let missing = (1...count).filter { byIndex[$0] == nil }
        if !missing.isEmpty {
            throw GradebookError(file: "merge", "missing shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")) (given: \(byIndex.keys.sorted().map { "\($0)/\(count)" }.joined(separator: ", ")))")
        }
        var owner: [String: String] = [:]
        for p in partials {
            for s in p.run.students {
                if let other = owner[s] { throw GradebookError(file: p.file, "student '\(s)' was also graded in \(other)") }
                owner[s] = p.file
            }
        }
        let sorted = partials.sorted { $0.run.info.shard!.index < $1.run.info.shard!.index }
        let provenance = sorted.map { "\($0.run.info.shard!) run \($0.run.info.id) of \($0.file)" }.joined(separator: "; ")
        var merged = RecordedRun(info: GradebookRunInfo(
            startedAt: sorted.map(\.run.info.startedAt).min()!, finishedAt: sorted.map(\.run.info.finishedAt).max()!,
            exerciseSetHash: first.run.info.exerciseSetHash, engineFingerprint: first.run.info.engineFingerprint,
            toolchain: first.run.info.toolchain, graderVersion: first.run.info.graderVersion, shard: nil, mergedFrom: provenance))
        merged.exercises = first.run.exercises
        // Students in name order, as one unsharded run lists them.
        let order = Dictionary(uniqueKeysWithValues: first.run.exercises.enumerated().map { ($1.name, $0) })
        merged.grades = sorted.flatMap(\.run.grades).sorted {
            ($0.student, order[$0.exercise] ?? Int.max) < ($1.student, order[$1.exercise] ?? Int.max)
        }
        for p in sorted { merged.submissions.merge(p.run.submissions) { a, _ in a } }
        merged.penalties = sorted.flatMap(\.run.penalties)
        return merged
    }

    /// Merges the latest run of each partial database into `output` (created when missing) and
    /// returns the new run's id.
    public static func merge(into output: GradebookDatabase, partials: [URL]) throws -> (id: Int64, run: RecordedRun) {
        var runs: [(file: String, run: RecordedRun)] = []
        for url in partials {
            if url.standardizedFileURL.path == output.url.path {
                throw GradebookError(file: url.path, "is the merge's output; give the partial databases and a different output")
            }
            let db = try GradebookDatabase(url: url)
            guard let last = try db.runs().last else { throw GradebookError(file: url.path, "holds no recorded run") }
            runs.append((url.path, try db.run(last.id)))
        }
        let merged = try combine(runs)
        let id = try output.record(merged)
        return (id, try output.run(id))
    }
}
