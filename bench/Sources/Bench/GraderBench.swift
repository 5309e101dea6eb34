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
/// exercises to the first N (default all); the wall time is extrapolated to 100 x 28 (issue 31's
/// class). Each program's time is split into stages (prepare, compile and its jobs, the sandboxed
/// run, classify, check), and the CPU time of all child processes is reported beside the wall
/// time: on a machine shared with other work the CPU time is the steadier figure.
func runGraderBenchmark() {
    // Line by line into a log file too: a long run is followed (and may be stopped) as it goes.
    setvbuf(stdout, nil, _IOLBF, 0)
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
        let work = root.appendingPathComponent("work")
        func makeRun() throws -> GradingRun {
            var run = try GradingRun(exercisesDirectory: exercisesDir, submissions: submissions,
                                     output: root.appendingPathComponent("gradebooks"), engine: engine, workDirectory: work)
            run.useCache = false
            // Measured with whatever isolation the machine has (WORKBOOK_SANDBOX_PROBE=unavailable: none).
            run.allowsUnsandboxedPrograms = true
            return run
        }
        // Checkers and reference runs are made once per exercise (and kept in the work folder
        // across runs); time them apart from the per-student work.
        let warm = try makeRun()
        let t0 = Date()
        for exercise in warm.exercises { _ = try warm.grader.checker(for: exercise, includeHidden: true) }
        let checkerSeconds = Date().timeIntervalSince(t0)
        let t1 = Date()
        for (i, exercise) in warm.exercises.enumerated() {
            let reference = warm.grader.cachedReference(exercise: exercise, uid: 61000 + UInt32(i))
            if let problem = ExerciseGrader.referenceProblem(reference.grade) { print("grader: \(exercise.name)'s reference: \(problem)") }
        }
        let referenceSeconds = Date().timeIntervalSince(t1)
        print("grader: sandbox: \(Sandbox.isolationProblem.map { "none (\($0))" } ?? "bubblewrap\(getuid() == 0 ? ", leased uids" : "")")")
        print("grader: OpenBLAS core type given to graded programs: \(ExerciseGrader.openBLASCoreType ?? "none (OpenBLAS chooses; no re-exec)")")
        print("grader: class \(kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")

        // GRADER_BENCH_VARIANTS: comma-separated variants, each "default" or tweaks joined by
        // "+": driver (run swiftc for every program), gold (the system linker), reexec (programs
        // re-execute themselves for OpenBLAS's kernels), jobsN (N students at once). They run
        // interleaved, GRADER_BENCH_ROUNDS times (default 1), so a loaded machine hits all alike.
        // "driver+gold+reexec+jobs2" is how grading ran before these options existed.
        let variants = (env["GRADER_BENCH_VARIANTS"] ?? "default").split(separator: ",").map(String.init)
        let rounds = max(1, env["GRADER_BENCH_ROUNDS"].flatMap(Int.init) ?? 1)
        var firstGrades: [String]?
        struct Totals { var wall = 0.0, cpu = 0.0, programs = 0, runs = 0, differing = 0 }
        var totals: [String: Totals] = [:]
        var stages: [String: [String: (seconds: Double, count: Int)]] = [:]
        for round in 0..<rounds {
            for variant in variants {
                var run = try makeRun()
                let tweaks = Set(variant.split(separator: "+").map(String.init))
                run.grader.compiler.reusesDriverPlan = !tweaks.contains("driver")
                run.grader.compiler.usesToolchainLinker = !tweaks.contains("gold")
                run.grader.presetsOpenBLASCoreType = !tweaks.contains("reexec")
                if let jobs = tweaks.first(where: { $0.hasPrefix("jobs") }).flatMap({ Int($0.dropFirst(4)) }) { run.parallelism = max(1, jobs) }
                var last = Date()
                let start = Date()
                // With the rate so far, so that a long run stopped early still says something.
                run.progress = { done, total, _ in
                    if Date().timeIntervalSince(last) > 60 || done == total {
                        last = Date()
                        let elapsed = last.timeIntervalSince(start)
                        print(String(format: "grader: [%@, round %d] %d/%d graded in %.0f s (%.3f s wall each so far)",
                                     variant, round + 1, done, total, elapsed, elapsed / Double(max(1, done))))
                    }
                }
                let cpuBefore = childrenCPUSeconds()
                let (grades, _) = try run.run()
                let wall = Date().timeIntervalSince(start)
                let cpu = childrenCPUSeconds() - cpuBefore
                let programs = grades.filter { $0.status != .missing }.count
                var byStatus: [String: Int] = [:]
                for g in grades { byStatus[g.status.rawValue, default: 0] += 1 }
                let references = grades.filter { $0.status == .ok }
                let wrongReferences = references.filter { $0.points != $0.maxPoints }
                // Every variant must grade alike: the grades without their timings, compared with the first variant's.
                let comparable = grades.map(comparable)
                var differing = 0
                if let firstGrades {
                    let pairs = zip(firstGrades, comparable).filter { $0 != $1 }
                    differing = pairs.count + abs(firstGrades.count - comparable.count)
                    // Where they part, so a difference can be told from run-to-run noise (timings in output).
                    for (a, b) in pairs.prefix(3) {
                        let common = zip(a, b).prefix { $0 == $1 }.count
                        print("grader: differs: \(a.prefix(120))… first: …\(a.dropFirst(max(0, common - 80)).prefix(300))… now: …\(b.dropFirst(max(0, common - 80)).prefix(300))…")
                    }
                } else {
                    firstGrades = comparable
                }
                print(String(format: "grader: [%@, round %d] %d students x %d exercises = %d programs in %.1f s with %d parallel (%.3f s wall, %.3f s CPU per program); statuses %@; ok without full marks: %d; grades differing from the first variant's: %d",
                             variant, round + 1, students, exercises.count, programs, wall, run.parallelism,
                             wall / Double(max(1, programs)), cpu / Double(max(1, programs)),
                             byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                             wrongReferences.count, differing))
                totals[variant, default: Totals()].wall += wall
                totals[variant, default: Totals()].cpu += cpu
                totals[variant, default: Totals()].programs += programs
                totals[variant, default: Totals()].runs += 1
                totals[variant, default: Totals()].differing += differing
                for (stage, value) in run.grader.stageTimes.summary {
                    stages[variant, default: [:]][stage, default: (0, 0)].seconds += value.seconds
                    stages[variant, default: [:]][stage, default: (0, 0)].count += value.count
                }
                if round == rounds - 1 && variant == variants.last {
                    let perExercise = Dictionary(grouping: references, by: \.exercise).mapValues { mean($0.compactMap(\.runSeconds)) }
                    for (name, seconds) in perExercise.sorted(by: { $0.key < $1.key }) {
                        print(String(format: "grader:   %@ run %.2f s", name, seconds))
                    }
                }
            }
        }
        for variant in variants {
            guard let t = totals[variant] else { continue }
            let perProgram = t.wall / Double(max(1, t.programs))
            print(String(format: "grader: %@: wall per program %.3f s, CPU per program %.3f s (all processes); extrapolated 100 students x 28 exercises (2800 programs): %.1f min; grades differing: %d",
                         variant, perProgram, t.cpu / Double(max(1, t.programs)), perProgram * 2800 / 60, t.differing))
            // Per-program means of each stage: wall seconds inside one grading slot.
            let table = stages[variant] ?? [:]
            let programsGraded = Double(max(1, table["compile"]?.count ?? 1))
            for (stage, value) in table.sorted(by: { $0.key < $1.key }) {
                print(String(format: "grader:   %@ stage %-22@ %.3f s per program (%d timed)", variant, stage as NSString,
                             value.seconds / programsGraded, value.count))
            }
        }
        print(String(format: "grader: checkers built once per exercise: %.1f s in all (%.2f s each); reference runs %.1f s in all",
                     checkerSeconds, checkerSeconds / Double(max(1, exercises.count)), referenceSeconds))
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

private func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

/// User + system seconds of every child process waited for so far (their children included).
private func childrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_CHILDREN.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
}

/// A grade without what varies from run to run (its timings, whether it came from the cache).
private func comparable(_ grade: ExerciseGrade) -> String {
    var g = grade
    g.seconds = 0
    g.compileSeconds = nil
    g.runSeconds = nil
    g.cached = false
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return (try? encoder.encode(g)).map { String(decoding: $0, as: UTF8.self) } ?? ""
}
