import Foundation
import Workbook

// Model-level workloads, the same as bench/pytorch_reference.py runs in PyTorch, so that
// bench/compare can put both side by side. Every workload reports a median step time in ms and
// images per second; names are shared with the Python script (the JSON keys).

/// One measured workload.
struct WorkloadResult {
    let name: String
    let description: String
    var ms: Double
    var imagesPerSecond: Double
    var extra: [String: Double] = [:]

    var json: [String: Any] {
        var d: [String: Any] = ["description": description, "ms": ms, "img_s": imagesPerSecond]
        for (k, v) in extra { d[k] = v }
        return d
    }
}

/// Names of the model workloads, in the order they run.
let modelWorkloadNames = ["small_train_b128", "small_eval_b512", "r18_eval_b8", "r50_eval_b8", "r18_train_b8",
                          "feature_extraction", "r50_train_b8_peak_rss"]

/// Runs the model workloads whose name is in `names` (all when nil).
func runModelBenchmarks(names: Set<String>?, quick: Bool) -> [WorkloadResult] {
    let runs = quick ? 3 : 7, warmup = quick ? 1 : 2
    var results: [WorkloadResult] = []
    func wanted(_ n: String) -> Bool { names.map { $0.contains(n) } ?? true }

    if wanted("small_train_b128") {
        let model = smallResNet(numClasses: 10)
        results.append(timeTrainStep(model, name: "small_train_b128", description: "small ResNet train step, batch 128, 1x28x28",
                                     input: [128, 1, 28, 28], classes: 10, lr: 0.1, warmup: warmup + 1, runs: runs * 2))
    }
    if wanted("small_eval_b512") {
        let model = smallResNet(numClasses: 10)
        results.append(timeEval(model, name: "small_eval_b512", description: "small ResNet eval, batch 512",
                                input: [512, 1, 28, 28], warmup: warmup, runs: runs))
    }
    if wanted("r18_eval_b8") {
        results.append(timeEval(resnet18(), name: "r18_eval_b8", description: "resnet18 eval, batch 8, 3x224x224",
                                input: [8, 3, 224, 224], warmup: warmup, runs: runs))
    }
    if wanted("r50_eval_b8") {
        results.append(timeEval(resnet50(), name: "r50_eval_b8", description: "resnet50 eval, batch 8, 3x224x224",
                                input: [8, 3, 224, 224], warmup: warmup, runs: runs))
    }
    if wanted("r18_train_b8") {
        results.append(timeTrainStep(resnet18(), name: "r18_train_b8", description: "resnet18 train step (CE + SGD momentum), batch 8",
                                     input: [8, 3, 224, 224], classes: 1000, lr: 0.01, warmup: warmup, runs: runs))
    }
    if wanted("feature_extraction") {
        results.append(timeFeatureExtraction(epochs: 30))
    }
    if wanted("r50_train_b8_peak_rss") {
        results.append(peakMemoryInChild(workload: "r50_train_b8"))
    }
    return results
}

/// One optimisation step: zero grads, forward, cross-entropy, backward, SGD (momentum 0.9).
func timeTrainStep(_ model: Module, name: String, description: String, input: [Int], classes: Int, lr: Double,
                   warmup: Int, runs: Int) -> WorkloadResult {
    model.train()
    let x = Tensor.randn(input, generator: Generator(seed: 11))
    let y = Tensor.randint(0, classes, [input[0]], generator: Generator(seed: 12))
    let optimizer = SGD(model.parameters(), lr: lr, momentum: 0.9)
    let seconds = medianSeconds(warmup: warmup, runs: runs) {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(x), y)
        loss.backward()
        optimizer.step()
    }
    return WorkloadResult(name: name, description: description, ms: seconds * 1e3, imagesPerSecond: Double(input[0]) / seconds)
}

/// Inference without a graph, the model in eval mode.
func timeEval(_ model: Module, name: String, description: String, input: [Int], warmup: Int, runs: Int) -> WorkloadResult {
    model.eval()
    let x = Tensor.randn(input, generator: Generator(seed: 13))
    let seconds = medianSeconds(warmup: warmup, runs: runs) {
        _ = withNoGrad { model(x) }
    }
    return WorkloadResult(name: name, description: description, ms: seconds * 1e3, imagesPerSecond: Double(input[0]) / seconds)
}

/// Frozen small-ResNet backbone (eval mode) + a fresh Linear(64 -> 5) head, `epochs` epochs over
/// 512 synthetic images in batches of 64 with Adam. Naive: every step runs the backbone on its
/// batch. Cached: the pooled features are computed once, then the head trains on them. Both see
/// the same batches in the same order, so they reach the same accuracy (reported).
func timeFeatureExtraction(epochs: Int) -> WorkloadResult {
    let images = 512, batch = 64, classes = 5
    let backbone = smallResNet(numClasses: classes)
    backbone.fc = Identity()
    backbone.freeze()
    backbone.eval()
    // Learnable synthetic task: the label is decided by a random linear map of the image.
    let x = Tensor.randn([images, 1, 28, 28], generator: Generator(seed: 21))
    let labels: Tensor = {
        let features = withNoGrad { backbone(x) }
        let projection = Tensor.randn([64, classes], generator: Generator(seed: 22))
        return withNoGrad { features.matmul(projection).argmax(dim: 1) }
    }()
    let orders: [[Int]] = (0..<epochs).map { e in
        let g = Generator(seed: UInt64(100 + e))
        return Tensor.randperm(images, generator: g).int64Scalars.map(Int.init)
    }

    // Timed: the training loop only (plus, for the cached path, computing the features once).
    // The accuracy of each trained head is measured afterwards, untimed, the same way for both.
    func train(featuresOf: (Tensor) -> Tensor) -> Linear {
        manualSeed(5)
        let head = Linear(64, classes)
        let optimizer = Adam(head.parameters(), lr: 3e-2)
        for order in orders {
            var start = 0
            while start < images {
                let idx = Tensor(Array(order[start..<min(images, start + batch)]), dtype: .int64)
                let f = featuresOf(idx)
                optimizer.zeroGrad()
                crossEntropy(head(f), labels.indexSelect(dim: 0, index: idx)).backward()
                optimizer.step()
                start += batch
            }
        }
        return head
    }
    func accuracy(_ head: Linear) -> Double {
        let predicted = withNoGrad { head(backbone(x)).argmax(dim: 1) }
        return Double((predicted .== labels).float().sum().item()) / Double(images)
    }

    let clock = ContinuousClock()
    var naiveHead: Linear?, cachedHead: Linear?
    let naive = clock.measure {
        naiveHead = train { idx in withNoGrad { backbone(x.indexSelect(dim: 0, index: idx)) } }
    }
    let cached = clock.measure {
        var chunks: [Tensor] = []
        var start = 0
        while start < images {
            let n = min(256, images - start)
            chunks.append(withNoGrad { backbone(x.narrow(dim: 0, start: start, length: n)) })
            start += n
        }
        let features = cat(chunks, dim: 0)
        cachedHead = train { idx in features.indexSelect(dim: 0, index: idx) }
    }
    let naiveAccuracy = accuracy(naiveHead!), cachedAccuracy = accuracy(cachedHead!)
    let naiveS = seconds(naive), cachedS = seconds(cached)
    let steps = Double(epochs * ((images + batch - 1) / batch))
    return WorkloadResult(name: "feature_extraction",
                          description: "frozen backbone: head on cached features vs backbone every step (\(epochs) epochs)",
                          ms: cachedS * 1e3 / steps, imagesPerSecond: Double(epochs * images) / cachedS,
                          extra: ["naive_s": naiveS, "cached_s": cachedS, "speedup": naiveS / cachedS,
                                  "naive_accuracy": naiveAccuracy, "cached_accuracy": cachedAccuracy])
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Peak resident memory (VmHWM) of this process in MB.
func peakRSSMegabytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}

/// Runs `--child-memory NAME` in a fresh copy of this executable so peaks don't mix.
func peakMemoryInChild(workload: String) -> WorkloadResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).absoluteURL
    process.arguments = ["--child-memory", workload]
    let pipe = Pipe()
    process.standardOutput = pipe
    var before = 0.0, peak = 0.0, ms = 0.0
    do {
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let v = Double(parts[1]) else { continue }
            switch parts[0] {
            case "before_mb": before = v
            case "peak_mb": peak = v
            case "ms": ms = v
            default: break
            }
        }
    } catch {
        print("could not start the memory child: \(error)")
    }
    return WorkloadResult(name: "r50_train_b8_peak_rss", description: "resnet50 train step batch 8: peak RSS (MB), own process",
                          ms: ms, imagesPerSecond: ms > 0 ? 8000 / ms : 0,
                          extra: ["peak_mb": peak, "model_mb": before, "step_mb": peak - before])
}

/// The child side: builds the model, records VmHWM, runs three train steps, reports the peak.
func runMemoryChild(_ workload: String) -> Never {
    guard workload == "r50_train_b8" else { print("unknown memory workload \(workload)"); exit(2) }
    let model = resnet50()
    let before = peakRSSMegabytes()
    let r = timeTrainStep(model, name: workload, description: "", input: [8, 3, 224, 224], classes: 1000, lr: 0.01,
                          warmup: 1, runs: 2)
    print("before_mb \(before)")
    print("peak_mb \(peakRSSMegabytes())")
    print("ms \(r.ms)")
    exit(0)
}

/// The conv layer table as workload results (GFLOP/s and % of the sgemm peak per pass), for every
/// layer or those whose name contains `filter`. With `localPeak`, the sgemm peak is measured again
/// just before each layer and the layer's percentages are of that reading: the VM's speed drifts by
/// up to 2x within minutes, and a peak read once at the start would put that drift into every
/// percentage. Without it, `peak` serves every layer.
func convResults(peak: Double, localPeak: (() -> Double)? = nil, filter: String?, warmup: Int, runs: Int,
                 printTable: Bool) -> [WorkloadResult] {
    let table = Table([("layer", 22), ("input -> output", 30), ("GFLOP", 6),
                       ("fwd ms", 8), ("GF/s", 6), ("%pk", 4),
                       ("dX ms", 8), ("GF/s", 6), ("%pk", 4),
                       ("dW ms", 8), ("GF/s", 6), ("%pk", 4), ("peak", 6)])
    if printTable { table.printHeader() }
    var results: [WorkloadResult] = []
    for layer in resNet18Layers + smallNetLayers where filter.map({ layer.name.contains($0) }) ?? true {
        let layerPeak = localPeak?() ?? peak
        let t = timeConv(layer, warmup: warmup, runs: runs)
        var cells = [layer.name, layer.shapeText, fixed(layer.flops / 1e9, 2)]
        var extra: [String: Double] = ["peak_gflops": layerPeak]
        for (pass, s) in [("fwd", t.forward), ("dx", t.inputGrad), ("dw", t.weightGrad)] {
            let gflops = layer.flops / s / 1e9
            cells += [fixed(s * 1e3, 2), fixed(gflops), fixed(100 * gflops / layerPeak, 0)]
            extra["\(pass)_ms"] = s * 1e3
            extra["\(pass)_gflops"] = gflops
            extra["\(pass)_pct_peak"] = 100 * gflops / layerPeak
        }
        cells.append(fixed(layerPeak, 0))
        if printTable { print(table.format(cells)) }
        let key = "conv " + layer.name
        results.append(WorkloadResult(name: key, description: layer.shapeText, ms: t.forward * 1e3,
                                      imagesPerSecond: Double(layer.batch) / t.forward, extra: extra))
    }
    return results
}

/// Writes `{"machine": ..., "workloads": {...}}` atomically.
func writeJSON(_ results: [WorkloadResult], sgemmPeak: Double?, to path: String) {
    var workloads: [String: Any] = [:]
    for r in results { workloads[r.name] = r.json }
    var info = utsname()
    uname(&info)
    let machine = withUnsafeBytes(of: &info.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    var root: [String: Any] = ["engine": "workbook", "date": ISO8601DateFormatter().string(from: Date()),
                               "threads": Threads.count, "openblas_core": Threads.openBLASCoreType,
                               "machine": machine, "cpu": cpuModelName(), "workloads": workloads]
    if let sgemmPeak { root["sgemm_gflops"] = sgemmPeak }
    do {
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        let tmp = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        _ = rename(tmp, path)
    } catch {
        print("could not write \(path): \(error)")
    }
}

func cpuModelName() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "" }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
    return ""
}

func printModelTable(_ results: [WorkloadResult]) {
    let table = Table([("workload", 24), ("ms", 10), ("img/s", 10), ("notes", 50)])
    table.printHeader()
    for r in results {
        var notes = r.description
        if let s = r.extra["speedup"] {
            notes = String(format: "speed-up %.1fx (naive %.2f s, cached %.2f s; acc %.3f / %.3f)", s,
                           r.extra["naive_s"] ?? 0, r.extra["cached_s"] ?? 0,
                           r.extra["naive_accuracy"] ?? 0, r.extra["cached_accuracy"] ?? 0)
        }
        if let p = r.extra["peak_mb"] { notes = String(format: "peak RSS %.0f MB (model %.0f MB)", p, r.extra["model_mb"] ?? 0) }
        print(table.format([r.name, fixed(r.ms, 1), fixed(r.imagesPerSecond, 1), notes]))
    }
}
