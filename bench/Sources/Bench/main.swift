import Foundation
import Workbook

// Engine benchmark.
//   swift run -c release Bench [--quick] [--filter TEXT] [--no-gemm] [--gemm-shapes] [--cpu-time]
//       sgemm peak, then conv2d forward / input-grad / weight-grad per ResNet layer shape (default)
//   swift run -c release Bench --models [--only NAME[,NAME]]   model workloads (ModelBench.swift)
//   swift run -c release Bench --all          sgemm + conv layers + models + data loader
//   swift run -c release Bench --json FILE    also write the results as JSON (for bench/compare)
//   swift run -c release Bench --runner      (lesson runner overhead, RunnerBench.swift)
//   swift run -c release Bench --dataloader  (Fashion-MNIST epoch with augmentation, DataLoaderBench.swift)
//   swift run -c release Bench --grader      (grading throughput, GraderBench.swift)
//   swift run -c release Bench --similarity  (workbook similarity on 30 x 28 edited references, SimilarityBench.swift)
//   swift run -c release Bench --site        (site rebuild times, SiteBench.swift)
//   swift run -c release Bench --notebook-latency  (notebook Run latency, NotebookLatencyBench.swift)
// --cpu-time measures the calling thread's CPU time; use it with WORKBOOK_THREADS=1 on a busy machine.
// --fastest reports each workload's fastest run instead of the median (for A/B runs on a drifting VM).

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { i in i + 1 < arguments.count ? arguments[i + 1] : nil }
}

if let child = option("--child-memory") { runMemoryChild(child) }
if arguments.contains("--runner") {
    runRunnerBenchmark()
    exit(0)
}
if arguments.contains("--dataloader") {
    runDataLoaderBenchmark()
    exit(0)
}
if arguments.contains("--site") {
    runSiteBenchmark()
    exit(0)
}
if arguments.contains("--grader") {
    runGraderBenchmark()
    exit(0)
}
if arguments.contains("--notebook-latency") {
    runNotebookLatencyBenchmark()
    exit(0)
}
if arguments.contains("--similarity") {
    runSimilarityBenchmark()
    exit(0)
}

let quick = arguments.contains("--quick")
let all = arguments.contains("--all")
let models = arguments.contains("--models") || all
let convs = !arguments.contains("--models") || all
let warmup = quick ? 1 : 2
let runs = quick ? 3 : 7
// `--filter TEXT` times only the conv layers whose name contains TEXT.
let filter = option("--filter")
let skipGemm = arguments.contains("--no-gemm") || !convs
let jsonPath = option("--json")

print("Workbook engine benchmark\(quick ? " (quick)" : "")")
print("threads: \(Threads.count)   OpenBLAS core type: \(Threads.openBLASCoreType.isEmpty ? "(OpenBLAS default)" : Threads.openBLASCoreType)")
print("OpenBLAS config: \(Threads.openBLASConfig)")
print("")

var results: [WorkloadResult] = []
let allThreads = Threads.count
let gemmSize = quick ? 1024 : 2048
var peak = 1.0
var measuredPeak: Double?
if !skipGemm {
    let single = sgemmGFLOPS(n: gemmSize, threads: 1, warmup: 1, runs: quick ? 2 : 3)
    peak = sgemmGFLOPS(n: gemmSize, threads: allThreads, warmup: 1, runs: quick ? 3 : 5)
    measuredPeak = peak
    let engine = engineMatmulGFLOPS(n: gemmSize, warmup: 1, runs: quick ? 3 : 5)
    print("sgemm \(gemmSize)^3: \(fixed(single)) GFLOP/s on 1 thread, \(fixed(peak)) GFLOP/s on \(allThreads) threads "
          + "(OpenBLAS's own threads; read again before each layer below, whose %pk is of that reading); "
          + "the engine's matmul: \(fixed(engine)) GFLOP/s")
    print("")
    results.append(WorkloadResult(name: "sgemm_\(gemmSize)", description: "sgemm \(gemmSize)^3", ms: 0, imagesPerSecond: 0,
                                  extra: ["gflops": peak, "gflops_1thread": single, "engine_matmul_gflops": engine]))
}

if arguments.contains("--gemm-shapes") { printGemmShapes(warmup: warmup, runs: runs) }

if convs {
    // The peak again before each layer (same measurement, fewer runs), unless there was none.
    let localPeak: (() -> Double)? = skipGemm ? nil : {
        sgemmGFLOPS(n: gemmSize, threads: allThreads, warmup: 1, runs: quick ? 2 : 3)
    }
    results += convResults(peak: peak, localPeak: localPeak, filter: filter, warmup: warmup, runs: runs, printTable: true)
    print("")
}
if models {
    let only = option("--only").map { Set($0.split(separator: ",").map(String.init)) }
    let modelResults = runModelBenchmarks(names: only, quick: quick)
    printModelTable(modelResults)
    results += modelResults
    print("")
}
if all { runDataLoaderBenchmark() }
if let jsonPath { writeJSON(results, sgemmPeak: measuredPeak, to: jsonPath) }
