import Foundation
import Grader
import Notebook

/// Latency of the notebook page's Run (issue 29), warm (the first run of each case is not counted):
/// (a) an exercise's answer cell: from the Run call (CellEditor save + `runLive`) to the first
///     output event and to the last check event, on a handout copy of course exercises; every run
///     saves a changed answer (a comment line), so each one compiles;
/// (b) a lesson: time to the first output, and the whole live run against the lesson's own batch
///     run (`LessonPipeline`, cache bypassed: what `workbook run --force` does).
/// Targets: exercise first output at most 1.0 s; a lesson at most its own run time + 0.5 s.
///
/// `NOTEBOOK_BENCH_EXERCISES` (default q03-device,q11-count-parameters), `NOTEBOOK_BENCH_LESSONS`
/// (default 01-why-transfer-works), `NOTEBOOK_BENCH_RUNS` (default 3) choose what is timed.
func runNotebookLatencyBenchmark() {
    do {
        let engine = try EngineBuild()
        try engine.ensureBuilt()
        let env = ProcessInfo.processInfo.environment
        let runs = env["NOTEBOOK_BENCH_RUNS"].flatMap(Int.init) ?? 3
        let exercises = (env["NOTEBOOK_BENCH_EXERCISES"] ?? "q03-device,q11-count-parameters").split(separator: ",").map(String.init)
        let lessons = (env["NOTEBOOK_BENCH_LESSONS"] ?? "01-why-transfer-works").split(separator: ",").map(String.init)
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("workbook-notebook-bench-\(getpid())")
        try fm.createDirectory(at: root.appendingPathComponent("handout"), withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }
        print("notebook latency, warm, median of \(runs) runs after one unmeasured; sandbox isolation: \(Sandbox.isolationAvailable ? "yes" : "no (\(Sandbox.isolationProblem ?? ""))")")

        let grader = ExerciseGrader(engine: engine, workDirectory: root.appendingPathComponent("work"))
        for name in exercises {
            let reference = try Exercise.load(path: engine.packageRoot.appendingPathComponent("exercises/\(name).md").path)
            let file = root.appendingPathComponent("handout/\(name).md")
            try Data(try reference.studentVersion().utf8).write(to: file)
            let answers = reference.lesson.cells.filter { reference.roles[$0.index] == .answer }
            var firsts: [Double] = [], checks: [Double] = [], compiles: [Double] = [], starts: [Double] = []
            for run in 0...runs {
                let timer = EventTimer()
                let start = Date()
                // Each run is an edit (a new comment line), so the program is compiled anew as after a real change.
                for cell in answers {
                    _ = try CellEditor.replaceCode(ofCell: cell.index, in: file, with: Exercise.solutionSource(of: cell) + "\n// edit \(run)")
                }
                let grade = try grader.runLive(exerciseAt: file, control: LiveRunControl(), onEvent: { timer.note($0) })
                guard grade.status == .ok, grade.checks.allSatisfy({ $0.status == .passed }) else {
                    print("  \(name): the reference answer did not pass: \(grade.message) \(grade.checks.map { "\($0.name) \($0.status)" })")
                    break
                }
                if run == 0 { continue }
                firsts.append(timer.firstOutput.map { $0.timeIntervalSince(start) } ?? .nan)
                checks.append(timer.lastCheck.map { $0.timeIntervalSince(start) } ?? .nan)
                compiles.append(grade.compileSeconds ?? .nan)
                starts.append(timer.started.map { $0.timeIntervalSince(start) } ?? .nan)
            }
            guard !firsts.isEmpty else { continue }
            let first = median(firsts), last = median(checks)
            print(String(format: "  exercise %@: first output %.2f s (target <= 1.0 s: %@), last check %.2f s; compile %.2f s, first cell started %.2f s",
                         name, first, first <= 1.0 ? "met" : "missed", last, median(compiles), median(starts)))
        }

        var runner = LiveRunner(engine: engine)
        runner.cache = ExecutionCache(directory: root.appendingPathComponent("cache"))
        runner.workDirectory = root.appendingPathComponent("build")
        var batchOptions = LessonPipeline.Options()
        batchOptions.force = true
        var batch = LessonPipeline(engine: engine, options: batchOptions)
        batch.cache = ExecutionCache(directory: root.appendingPathComponent("batch-cache"))
        batch.workDirectory = root.appendingPathComponent("batch-build")
        // Lessons read models/ relative to the package, as `workbook run` does from its folder.
        fm.changeCurrentDirectoryPath(engine.packageRoot.path)
        for name in lessons {
            let file = engine.packageRoot.appendingPathComponent("lessons/\(name).md")
            var firsts: [Double] = [], totals: [Double] = [], batches: [Double] = [], programs: [Double] = [], starts: [Double] = []
            var liveTotal = 0.0
            for run in 0...runs {
                let start = Date()
                // NOTEBOOK_BENCH_RUNS=0: only whether each lesson runs live (in the sandbox), no timing.
                let batchRun = runs == 0 ? nil : try batch.run(path: "lessons/\(name).md")
                let batchSeconds = Date().timeIntervalSince(start)
                let timer = EventTimer()
                let liveStart = Date()
                let result = try runner.runLesson(at: file, control: LiveRunControl(), onEvent: { timer.note($0) })
                let liveSeconds = Date().timeIntervalSince(liveStart)
                liveTotal = liveSeconds
                guard result.succeeded, batchRun?.result.succeeded ?? true else {
                    print("  lesson \(name): did not succeed (live \(result.succeeded), batch \(batchRun.map { "\($0.result.succeeded)" } ?? "not run")): \(result.messages) \(result.cells.compactMap(\.error))")
                    break
                }
                if run == 0 { continue }
                firsts.append(timer.firstOutput.map { $0.timeIntervalSince(liveStart) } ?? .nan)
                starts.append(timer.started.map { $0.timeIntervalSince(liveStart) } ?? .nan)
                totals.append(liveSeconds)
                batches.append(batchSeconds)
                programs.append(batchRun?.result.durations.run ?? .nan)
            }
            guard !totals.isEmpty else {
                if runs == 0 { print(String(format: "  lesson %@: ran live in %.1f s", name, liveTotal)) }
                continue
            }
            let total = median(totals), own = median(batches)
            print(String(format: "  lesson %@: first cell started %.2f s, first output %.2f s, live run %.2f s vs batch run %.2f s (+%.2f s; target <= +0.5 s: %@); the batch program itself ran %.2f s",
                         name, median(starts), median(firsts), total, own, total - own, total - own <= 0.5 ? "met" : "missed", median(programs)))
        }
    } catch {
        print("notebook latency: \(error)")
    }
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// When the first output and the last check event arrived.
private final class EventTimer: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var firstOutput: Date?
    private(set) var started: Date?
    private(set) var lastCheck: Date?

    func note(_ event: LiveEvent) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case .output, .progress: if firstOutput == nil { firstOutput = Date() }
        case .check: lastCheck = Date()
        case .cellStarted: if started == nil { started = Date() }
        default: break
        }
    }
}
