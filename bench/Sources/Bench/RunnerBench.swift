import Foundation
import Notebook

/// Per-lesson overhead of the cell runner with a trivial body: generate + compile + launch
/// (cache bypassed). Target: under 1 s. Needs the release engine build.
func runRunnerBenchmark() {
    do {
        let engine = try EngineBuild()
        try engine.ensureBuilt()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("workbook-runner-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("trivial.md").path
        try "# Trivial\n\n```swift\nlet x = 1\n```\n\n```swift\nprint(x + 1)\n```\n".write(toFile: path, atomically: true, encoding: .utf8)
        var options = LessonPipeline.Options()
        options.useCache = false
        var pipeline = LessonPipeline(engine: engine, options: options)
        pipeline.workDirectory = directory.appendingPathComponent("build")
        _ = EngineBuild.toolchainVersion()
        var totals: [Double] = [], compiles: [Double] = [], runs: [Double] = []
        for _ in 0..<3 {
            let start = Date()
            let run = try pipeline.run(path: path)
            guard run.result.succeeded else { print("runner: the trivial lesson failed: \(run.result.cells)"); return }
            totals.append(Date().timeIntervalSince(start))
            compiles.append(run.result.durations.compile)
            runs.append(run.result.durations.run)
        }
        let best = totals.min()!
        print(String(format: "runner: per-lesson overhead %.3f s (best of 3; compile %.3f s, run %.3f s) target < 1 s %@",
                     best, compiles.min()!, runs.min()!, best < 1 ? "OK" : "SLOW"))
    } catch {
        print("runner: \(error)")
    }
}
