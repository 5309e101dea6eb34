import Foundation
import Grader
import Notebook

/// Times `workbook similarity` (the library run plus the report) on a synthetic class: every
/// student hands in the reference solutions of the course's exercises with small edits of their
/// own (a line added at a student-dependent place in each answer cell, a renamed local, a comment).
///
/// `SIMILARITY_BENCH_STUDENTS` sets the class size (default 30); `SIMILARITY_BENCH_KEEP=DIR` writes
/// the class into DIR and keeps it (to time the CLI on the same files).
func runSimilarityBenchmark() {
    do {
        let env = ProcessInfo.processInfo.environment
        let students = env["SIMILARITY_BENCH_STUDENTS"].flatMap(Int.init) ?? 30
        let fm = FileManager.default
        let packageRoot = try EngineBuild().packageRoot
        let root = env["SIMILARITY_BENCH_KEEP"].map { URL(fileURLWithPath: $0) }
            ?? fm.temporaryDirectory.appendingPathComponent("workbook-similarity-bench-\(getpid())")
        defer { if env["SIMILARITY_BENCH_KEEP"] == nil { try? fm.removeItem(at: root) } }
        let exercisesDir = packageRoot.appendingPathComponent("exercises")
        let exercises = try Release.exerciseFiles(in: exercisesDir).map { try Exercise.load(path: $0.path) }
        let submissions = root.appendingPathComponent("submissions")
        for s in 0..<students {
            let folder = submissions.appendingPathComponent(String(format: "student%02d", s))
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            for exercise in exercises {
                var lines = exercise.lesson.text.components(separatedBy: "\n")
                for (cell, role) in zip(exercise.lesson.cells, exercise.roles).reversed() where role == .answer {
                    let body = cell.codeLine..<cell.endLine  // 1-based code lines
                    guard !body.isEmpty else { continue }
                    let at = body.lowerBound - 1 + (s * 7 + cell.index) % body.count
                    lines.insert("let extra\(s)_\(cell.index) = \(s) * \(cell.index) + 1  // student \(s)", at: at)
                    for i in body.lowerBound - 1..<body.upperBound where lines[i].contains("let ") {
                        // Rename one local per cell: same tokens once names are normalised.
                        if let name = lines[i].split(separator: " ").drop(while: { $0 != "let" }).dropFirst().first,
                           name.allSatisfy({ $0.isLetter }) {
                            lines = lines.map { $0.replacingOccurrences(of: String(name), with: "\(name)S\(s)") }
                        }
                        break
                    }
                }
                try lines.joined(separator: "\n").write(to: folder.appendingPathComponent(exercise.name + ".md"),
                                                        atomically: true, encoding: .utf8)
            }
        }
        // Default options (fingerprints in more than 10 answers ignored: here, most of the reference),
        // then the worst case for the report: nothing ignored, so nearly every pair is listed.
        for maxSharing in [SimilarityRun.Options().maxStudentsPerFingerprint, students] {
            var options = SimilarityRun.Options()
            options.maxStudentsPerFingerprint = maxSharing
            let start = Date()
            let report = try SimilarityRun(exercisesDirectory: exercisesDir, submissions: submissions, options: options).run()
            let analysed = Date().timeIntervalSince(start)
            let page = try report.write(to: root.appendingPathComponent("reports"))
            let total = Date().timeIntervalSince(start)
            let size = (try? fm.attributesOfItem(atPath: page.path)[.size] as? Int) ?? 0
            print(String(format: "similarity (max-sharing %d): %d students x %d exercises: %.2f s (compare %.2f s, report %.2f s, %d KiB); %d pairs listed, %d problems",
                         maxSharing, students, exercises.count, total, analysed, total - analysed, size >> 10,
                         report.pairs.count, report.problems.count))
        }
    } catch {
        print("similarity: \(error)")
    }
}
