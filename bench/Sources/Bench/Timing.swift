import Foundation

/// With `--cpu-time` (meaningful with WORKBOOK_THREADS=1 only) the calling thread's CPU time is
/// measured instead of wall time: robust when other processes compete for the cores.
let measureCPUTime = CommandLine.arguments.contains("--cpu-time")

private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// With `--fastest` the fastest run is reported instead of the median: for A/B comparisons on a
/// machine whose speed drifts, the fastest run of each side is the one least hit by the drift.
let reportFastest = CommandLine.arguments.contains("--fastest")

/// Median (or with `--fastest`, least) time of `runs` calls of `body` after `warmup` unmeasured
/// ones, in seconds.
func medianSeconds(warmup: Int, runs: Int, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<max(1, runs) {
        if measureCPUTime {
            let start = threadCPUSeconds()
            body()
            times.append(threadCPUSeconds() - start)
            continue
        }
        let elapsed = clock.measure { body() }
        times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
    times.sort()
    return reportFastest ? times[0] : times[times.count / 2]
}

/// Fixed-width table printing.
struct Table {
    let headers: [String]
    let widths: [Int]
    var rows: [[String]] = []

    init(_ columns: [(String, Int)]) {
        headers = columns.map(\.0)
        widths = columns.map(\.1)
    }

    func format(_ cells: [String]) -> String {
        zip(cells, widths).enumerated().map { i, pair in
            let (cell, width) = pair
            let pad = String(repeating: " ", count: max(0, width - cell.count))
            return i == 0 ? cell + pad : pad + cell
        }.joined(separator: " ")
    }

    func printHeader() {
        print(format(headers))
        print(String(repeating: "-", count: widths.reduce(0, +) + widths.count - 1))
    }
}

func fixed(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
