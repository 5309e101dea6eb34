import Dispatch
import Foundation
import Torch

/// Per-channel mean and (population) standard deviation of every pixel of every sample, the
/// numbers `Normalize` wants. Images count as values in [0, 1] (as after `ToTensor()`); tensor
/// samples must be `[C, H, W]`. Fashion-MNIST's training set gives about 0.2860 / 0.3530.
/// Deterministic: fixed chunks summed in order, in double precision.
public func channelStatistics(_ dataset: any Dataset, file: StaticString = #fileID, line: UInt = #line) -> (mean: [Float], std: [Float]) {
    let n = dataset.count
    guard n > 0 else { visionFailure("channelStatistics", "the dataset is empty", file: file, line: line) }
    let chunks = min(n, max(1, ProcessInfo.processInfo.activeProcessorCount) * 4)
    var partial = [(sum: [Double], squares: [Double], count: Int)](repeating: ([], [], 0), count: chunks)
    var failure: String?
    let lock = NSLock()
    partial.withUnsafeMutableBufferPointer { out in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            var sum: [Double] = [], squares: [Double] = [], count = 0
            let generator = Generator(seed: UInt64(c))
            for i in (n * c / chunks)..<(n * (c + 1) / chunks) {
                let (value, _) = dataset.sample(at: i, generator: generator)
                var channels = 0, plane = 0
                var values: [Float] = []
                switch value {
                case .image(let image):
                    channels = image.channels; plane = image.width * image.height
                    values = image.toTensor().scalars
                case .tensor(let tensor):
                    guard tensor.rank == 3 else {
                        lock.lock(); failure = "sample \(i) has shape \(describe(shape: tensor.shape)); expected [C, H, W]"; lock.unlock()
                        return
                    }
                    channels = tensor.shape[0]; plane = tensor.shape[1] * tensor.shape[2]
                    values = tensor.float().scalars
                }
                if sum.isEmpty {
                    sum = [Double](repeating: 0, count: channels); squares = sum
                } else if sum.count != channels {
                    lock.lock(); failure = "sample \(i) has \(channels) channels, earlier samples \(sum.count)"; lock.unlock()
                    return
                }
                for ch in 0..<channels {
                    var s = 0.0, q = 0.0
                    for k in (ch * plane)..<((ch + 1) * plane) {
                        let v = Double(values[k])
                        s += v; q += v * v
                    }
                    sum[ch] += s; squares[ch] += q
                }
                count += plane
            }
            out[c] = (sum, squares, count)
        }
    }
    if let failure { visionFailure("channelStatistics", failure, file: file, line: line) }
    let channels = partial.first { !$0.sum.isEmpty }?.sum.count ?? 0
    var sum = [Double](repeating: 0, count: channels), squares = sum
    var count = 0
    for p in partial where !p.sum.isEmpty {
        guard p.sum.count == channels else { visionFailure("channelStatistics", "samples have different channel counts", file: file, line: line) }
        for ch in 0..<channels { sum[ch] += p.sum[ch]; squares[ch] += p.squares[ch] }
        count += p.count
    }
    let mean = sum.map { $0 / Double(count) }
    let std = (0..<channels).map { ch in max(0, squares[ch] / Double(count) - mean[ch] * mean[ch]).squareRoot() }
    return (mean.map { Float($0) }, std.map { Float($0) })
}
