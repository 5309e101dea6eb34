import NN
import Torch

/// Reduces the learning rate by `factor` when a metric has stopped improving for `patience`
/// epochs (`ReduceLROnPlateau`); call `step(_ metric:)` once per epoch with e.g. the validation loss.
public final class ReduceLROnPlateau {
    public enum Mode { case min, max }
    public enum ThresholdMode { case rel, abs }

    public let optimizer: Optimizer
    public let mode: Mode
    public let factor: Double
    public let patience: Int
    public let threshold: Double
    public let thresholdMode: ThresholdMode
    public let cooldown: Int
    public let minLrs: [Double]
    public let eps: Double
    /// Best metric seen so far.
    public private(set) var best: Double
    public private(set) var numBadEpochs = 0
    public private(set) var cooldownCounter = 0
    public private(set) var lastEpoch = 0
    private var lastLrs: [Double]

    public init(_ optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10, threshold: Double = 1e-4,
                thresholdMode: ThresholdMode = .rel, cooldown: Int = 0, minLr: Double = 0, eps: Double = 1e-8,
                file: StaticString = #fileID, line: UInt = #line) {
        guard factor < 1 else {
            engineFailure("ReduceLROnPlateau", "factor should be < 1.0, got \(factor)", file: file, line: line)
        }
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.thresholdMode = thresholdMode
        self.cooldown = cooldown
        self.minLrs = Array(repeating: minLr, count: optimizer.paramGroups.count)
        self.eps = eps
        best = mode == .min ? .infinity : -.infinity
        lastLrs = optimizer.paramGroups.map(\.lr)
    }

    private func isBetter(_ a: Double) -> Bool {
        switch (mode, thresholdMode) {
        case (.min, .rel): return a < best * (1 - threshold)
        case (.min, .abs): return a < best - threshold
        case (.max, .rel): return a > best * (threshold + 1)
        case (.max, .abs): return a > best + threshold
        }
    }

    /// Records one epoch's metric and lowers the rates if it has not improved for `patience` epochs.
    public func step(_ metric: Double) {
        lastEpoch += 1
        if isBetter(metric) {
            best = metric
            numBadEpochs = 0
        } else {
            numBadEpochs += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            numBadEpochs = 0
        }
        if numBadEpochs > patience {
            for i in optimizer.paramGroups.indices {
                let old = optimizer.paramGroups[i].lr
                let new = max(old * factor, minLrs[i])
                if old - new > eps { optimizer.paramGroups[i].lr = new }
            }
            cooldownCounter = cooldown
            numBadEpochs = 0
        }
        lastLrs = optimizer.paramGroups.map(\.lr)
    }

    /// The groups' learning rates after the last `step`.
    public func getLastLr() -> [Double] { lastLrs }

    /// The scheduler's progress, for saving with a checkpoint.
    public func stateDict() -> [String: OptimizerValue] {
        ["best": .double(best), "num_bad_epochs": .int(numBadEpochs), "cooldown_counter": .int(cooldownCounter),
         "last_epoch": .int(lastEpoch), "_last_lr": .doubles(lastLrs)]
    }

    /// Restores progress saved by `stateDict()`.
    public func loadStateDict(_ dict: [String: OptimizerValue]) throws {
        guard case .double(let best)? = dict["best"], case .int(let bad)? = dict["num_bad_epochs"],
              case .int(let cool)? = dict["cooldown_counter"], case .int(let epoch)? = dict["last_epoch"],
              case .doubles(let last)? = dict["_last_lr"] else {
            throw OptimizerError(message: "ReduceLROnPlateau state needs best, num_bad_epochs, cooldown_counter, last_epoch and _last_lr")
        }
        self.best = best
        numBadEpochs = bad
        cooldownCounter = cool
        lastEpoch = epoch
        lastLrs = last
    }
}
