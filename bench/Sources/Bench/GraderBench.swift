import Foundation
import Grader
import Notebook

/// Grades a synthetic class on the course's exercises (exercises/, 28 of them) and reports the
/// wall time. Students are copies of the reference solutions (full marks) with some variants
/// mixed in: every 5th student hands in the untouched handout (starter code: a `fatalError` in
/// every answer cell), every 7th has a syntax error in each answer cell (compile errors), every
/// 11th deletes its answer cells, and every 13th leaves exercises out.
///
/// `GRADER_BENCH_STUDENTS` sets the class size (default 30), `GRADER_BENCH_EXERCISES` limits the
/// exercises to the first N (default all); the wall time is extrapolated to 30 x 28.
func runGraderBenchmark() {
    do {
        let engine = try EngineBuild()
        try engine.ensureBuilt()
        let env = ProcessInfo.processInfo.environment
        let students = env["GRADER_BENCH_STUDENTS"].flatMap(Int.init) ?? 30
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("workbook-grader-bench-\(getpid())")
        defer { try? fm.removeItem(at: root) }
        var files = try Release.exerciseFiles(in: engine.packageRoot.appendingPathComponent("exercises"))
        if let limit = env["GRADER_BENCH_EXERCISES"].flatMap(Int.init) { files = Array(files.prefix(limit)) }
        let exercisesDir = root.appendingPathComponent("exercises")
        try fm.createDirectory(at: exercisesDir, withIntermediateDirectories: true)
        for file in files { try fm.copyItem(at: file, to: exercisesDir.appendingPathComponent(file.lastPathComponent)) }
        let exercises = try files.map { try Exercise.load(path: exercisesDir.appendingPathComponent($0.lastPathComponent).path) }

        let submissions = root.appendingPathComponent("submissions")
        var kinds: [String: Int] = [:]
        for s in 0..<students {
            let folder = submissions.appendingPathComponent(String(format: "student%02d", s))
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            let kind = s % 5 == 4 ? "handout" : s % 7 == 6 ? "syntax-error" : s % 11 == 10 ? "deleted-cells"
                : s % 13 == 12 ? "partial" : "reference"
            kinds[kind, default: 0] += 1
            for (i, exercise) in exercises.enumerated() {
                if kind == "partial" && i % 2 == 1 { continue }
                var text: String
                switch kind {
                case "handout": text = try exercise.studentVersion()
                case "syntax-error": text = try variant(exercise, replacingAnswersWith: "let = oops (")
                case "deleted-cells": text = try variant(exercise, replacingAnswersWith: nil)
                default: text = exercise.lesson.text
                }
                // A per-student comment keeps every submission distinct (no cache hits).
                text += "\n<!-- student \(s) -->\n"
                try text.write(to: folder.appendingPathComponent(exercise.name + ".md"), atomically: true, encoding: .utf8)
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
        // Measured with whatever isolation the machine has (WORKBOOK_SANDBOX_PROBE=unavailable: none).
        run.allowsUnsandboxedPrograms = true
        print("grader: sandbox: \(Sandbox.isolationProblem.map { "none (\($0))" } ?? "bubblewrap\(getuid() == 0 ? ", leased uids" : "")")")
        var last = Date()
        run.progress = { done, total, _ in
            if Date().timeIntervalSince(last) > 30 || done == total {
                last = Date()
                print("grader: \(done)/\(total) graded")
            }
        }
        let start = Date()
        let (grades, _) = try run.run()
        let wall = Date().timeIntervalSince(start)
        let programs = grades.filter { $0.status != .missing }.count
        var byStatus: [String: Int] = [:]
        for g in grades { byStatus[g.status.rawValue, default: 0] += 1 }
        let references = grades.filter { $0.status == .ok }
        let wrongReferences = references.filter { $0.points != $0.maxPoints }
        func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }
        let compile = mean(grades.compactMap(\.compileSeconds))
        let runTime = mean(references.compactMap(\.runSeconds))
        let perExercise = Dictionary(grouping: references, by: \.exercise).mapValues { mean($0.compactMap(\.runSeconds)) }
        print("grader: class \(kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")
        print(String(format: "grader: %d students x %d exercises = %d programs in %.1f s with %d parallel; statuses %@",
                     students, exercises.count, programs, wall, run.parallelism,
                     byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        print(String(format: "grader: mean compile %.2f s, mean run of a finished program %.2f s; ok programs without full marks: %d",
                     compile, runTime, wrongReferences.count))
        for (name, seconds) in perExercise.sorted(by: { $0.key < $1.key }) {
            print(String(format: "grader:   %@ run %.2f s", name, seconds))
        }
        print(String(format: "grader: checkers built once per exercise: %.1f s in all (%.2f s each)",
                     checkerSeconds, checkerSeconds / Double(max(1, exercises.count))))
        let perProgram = wall / Double(max(1, programs))
        print(String(format: "grader: wall per program %.2f s; extrapolated 30 students x 28 exercises (840 programs): %.1f min + %.1f min of checkers",
                     perProgram, perProgram * 840 / 60, checkerSeconds / Double(max(1, exercises.count)) * 28 / 60))
    } catch {
        print("grader: \(error)")
    }
}

/// `exercise`'s handout with every answer cell's code replaced by `code`, or the answer cells
/// deleted (nil).
private func variant(_ exercise: Exercise, replacingAnswersWith code: String?) throws -> String {
    let handout = try exercise.studentVersion()
    let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: handout, path: exercise.path)
    var lines = handout.components(separatedBy: "\n")
    for cell in lesson.cells.reversed() where cell.options.extra["answer"] != nil {
        if let code {
            lines.replaceSubrange(cell.codeLine - 1 ..< cell.endLine - 1, with: [code])
        } else {
            lines.removeSubrange(cell.line - 1 ... cell.endLine - 1)
        }
    }
    return lines.joined(separator: "\n")
}
