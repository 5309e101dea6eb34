import Foundation
import Workbook

// Kernel benchmark: sgemm peak, then conv2d forward / input-grad / weight-grad throughput for
// ResNet-shaped layers as a fraction of that peak.
//   swift run -c release Bench [--quick] [--filter TEXT] [--no-gemm] [--gemm-shapes] [--cpu-time]
//   swift run -c release Bench --runner      (lesson runner overhead, RunnerBench.swift)
//   swift run -c release Bench --dataloader  (Fashion-MNIST epoch with augmentation, DataLoaderBench.swift)
//   swift run -c release Bench --grader      (grading throughput, GraderBench.swift)
//   swift run -c release Bench --site        (site rebuild times, SiteBench.swift)
// --cpu-time measures the calling thread's CPU time; use it with WORKBOOK_THREADS=1 on a busy machine.

if CommandLine.arguments.contains("--runner") {
    runRunnerBenchmark()
    exit(0)
}
if CommandLine.arguments.contains("--dataloader") {
    runDataLoaderBenchmark()
    exit(0)
}
if CommandLine.arguments.contains("--site") {
    runSiteBenchmark()
    exit(0)
}
if CommandLine.arguments.contains("--grader") {
    runGraderBenchmark()
    exit(0)
}

let quick = CommandLine.arguments.contains("--quick")
let warmup = quick ? 1 : 2
let runs = quick ? 3 : 7
// `--filter TEXT` times only the layers whose name contains TEXT.
let filter = CommandLine.arguments.firstIndex(of: "--filter").flatMap { i in
    i + 1 < CommandLine.arguments.count ? CommandLine.arguments[i + 1] : nil
}
let skipGemm = CommandLine.arguments.contains("--no-gemm")

print("Workbook kernel benchmark\(quick ? " (quick)" : "")")
print("threads: \(Threads.count)   OpenBLAS core type: \(Threads.openBLASCoreType.isEmpty ? "(OpenBLAS default)" : Threads.openBLASCoreType)")
print("OpenBLAS config: \(Threads.openBLASConfig)")
print("")

let allThreads = Threads.count
let gemmSize = quick ? 1024 : 2048
var peak = 1.0
if !skipGemm {
    Threads.count = 1
    let single = sgemmGFLOPS(n: gemmSize, warmup: 1, runs: quick ? 2 : 3)
    Threads.count = allThreads
    peak = sgemmGFLOPS(n: gemmSize, warmup: 1, runs: quick ? 3 : 5)
    print("sgemm \(gemmSize)^3: \(fixed(single)) GFLOP/s on 1 thread, \(fixed(peak)) GFLOP/s on \(allThreads) threads (= 100% below)")
    print("")
}

if CommandLine.arguments.contains("--gemm-shapes") { printGemmShapes(warmup: warmup, runs: runs) }

var table = Table([("layer", 22), ("input -> output", 30), ("GFLOP", 6),
                   ("fwd ms", 8), ("GF/s", 6), ("%pk", 4),
                   ("dX ms", 8), ("GF/s", 6), ("%pk", 4),
                   ("dW ms", 8), ("GF/s", 6), ("%pk", 4)])
table.printHeader()
for layer in resNet18Layers + smallNetLayers where filter.map({ layer.name.contains($0) }) ?? true {
    let t = timeConv(layer, warmup: warmup, runs: runs)
    var cells = [layer.name, layer.shapeText, fixed(layer.flops / 1e9, 2)]
    for seconds in [t.forward, t.inputGrad, t.weightGrad] {
        let gflops = layer.flops / seconds / 1e9
        cells += [fixed(seconds * 1e3, 2), fixed(gflops), fixed(100 * gflops / peak, 0)]
    }
    print(table.format(cells))
}
