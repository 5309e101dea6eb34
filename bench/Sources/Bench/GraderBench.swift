import Foundation
import Grader
import Notebook

/// Grades N synthetic students (the reference answers, each in its own folder) on the sample
/// exercises and extrapolates to the course: 30 students x 28 exercises. `GRADER_BENCH_STUDENTS`
/// sets N (default 4).
func runGraderBenchmark() {
    do {
        let engine = try EngineBuild()
        try engine.ensureBuilt()
        let students = ProcessInfo.processInfo.environment["GRADER_BENCH_STUDENTS"].flatMap(Int.init) ?? 4
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("workbook-grader-bench-\(getpid())")
        defer { try? fm.removeItem(at: root) }
        let exercisesDir = engine.packageRoot.appendingPathComponent("exercises")
        let files = try Release.exerciseFiles(in: exercisesDir)
        let submissions = root.appendingPathComponent("submissions")
        for s in 0..<students {
            let folder = submissions.appendingPathComponent("student\(s)")
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            for file in files {
                // A per-student comment keeps every submission distinct (no cache hits).
                let text = try String(contentsOf: file, encoding: .utf8) + "\n<!-- student \(s) -->\n"
                try text.write(to: folder.appendingPathComponent(file.lastPathComponent), atomically: true, encoding: .utf8)
            }
        }
        var run = try GradingRun(exercisesDirectory: exercisesDir, submissions: submissions,
                                 output: root.appendingPathComponent("gradebooks"), engine: engine,
                                 workDirectory: root.appendingPathComponent("work"))
        // Checkers are built once per exercise; time them apart from the per-student work.
        let t0 = Date()
        for exercise in run.exercises { _ = try run.grader.checker(for: exercise, includeHidden: true) }
        let checkerSeconds = Date().timeIntervalSince(t0)
        run.useCache = false
        let start = Date()
        let (grades, _) = try run.run()
        let wall = Date().timeIntervalSince(start)
        let programs = grades.count
        let failed = grades.filter { $0.points != $0.maxPoints }.count
        let compile = grades.compactMap(\.compileSeconds).reduce(0, +) / Double(max(1, programs))
        let runTime = grades.compactMap(\.runSeconds).reduce(0, +) / Double(max(1, programs))
        let perProgram = grades.map(\.seconds).reduce(0, +) / Double(max(1, programs))
        let effective = wall / Double(max(1, programs))
        print(String(format: "grader: %d students x %d exercises = %d programs in %.1f s with %d parallel (%d not full marks)",
                     students, files.count, programs, wall, run.parallelism, failed))
        print(String(format: "grader: per exercise-program %.2f s (compile %.2f s, run %.2f s, checks %.2f s); wall per program %.2f s",
                     perProgram, compile, runTime, perProgram - compile - runTime, effective))
        print(String(format: "grader: checkers built once per exercise: %.2f s each", checkerSeconds / Double(max(1, files.count))))
        print(String(format: "grader: extrapolated 30 students x 28 exercises = 840 programs: %.1f min (+ %.1f min for 28 checkers)",
                     effective * 840 / 60, checkerSeconds / Double(max(1, files.count)) * 28 / 60))
    } catch {
        print("grader: \(error)")
    }
}
