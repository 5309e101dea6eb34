import Foundation
import NN
import Torch

/// The base of epoch/step-based learning-rate schedulers (`torch.optim.lr_scheduler.LRScheduler`).
///
/// On creation it records each group's `initial_lr` and applies the schedule's first value; call
/// `step()` after each `optimizer.step()` (per epoch or per batch, as the schedule is meant).
/// Rates follow PyTorch's recursive ("chainable") formulas in Double, so the sequences match
/// PyTorch's to the last bit in ordinary use.
open class LRScheduler {
    public let optimizer: Optimizer
    /// Index of the current epoch/step (0 after creation).
    public private(set) var lastEpoch: Int
    /// Each group's starting learning rate.
    public private(set) var baseLrs: [Double]
    var lastLrs: [Double] = []
    /// Number of `step()` calls including the initial one.
    public private(set) var stepCount = 0
    /// True during the step made by the initializer.
    public private(set) var isInitial = false

    public init(optimizer: Optimizer) {
        self.optimizer = optimizer
        for i in optimizer.paramGroups.indices where optimizer.paramGroups[i].initialLr == nil {
            optimizer.paramGroups[i].initialLr = optimizer.paramGroups[i].lr
        }
        baseLrs = optimizer.paramGroups.map { $0.initialLr! }
        lastEpoch = -1
    }

    /// Subclasses call this at the end of their initializer (PyTorch's `_initial_step`).
    public func initialStep() {
        isInitial = true
        step()
        isInitial = false
    }

    /// The learning rates for `lastEpoch`, from the groups' current rates; subclasses override.
    open func computeLrs() -> [Double] { currentLrs }

    /// The groups' current learning rates.
    public var currentLrs: [Double] { optimizer.paramGroups.map(\.lr) }

    /// Advances the schedule by one epoch (or batch) and sets the groups' learning rates.
    open func step() {
        stepCount += 1
        lastEpoch += 1
        let lrs = computeLrs()
        for (i, lr) in lrs.enumerated() { optimizer.paramGroups[i].lr = lr }
        lastLrs = lrs
    }

    /// The learning rates set by the last `step()`, one per group (`get_last_lr()`).
    public func getLastLr() -> [Double] { lastLrs }

    /// The schedule's position, for saving with a checkpoint.
    public func stateDict() -> [String: OptimizerValue] {
        ["last_epoch": .int(lastEpoch), "_step_count": .int(stepCount), "base_lrs": .doubles(baseLrs), "_last_lr": .doubles(lastLrs)]
    }

    /// Restores a position saved by `stateDict()`.
    public func loadStateDict(_ dict: [String: OptimizerValue]) throws {
        guard case .int(let epoch)? = dict["last_epoch"], case .int(let count)? = dict["_step_count"],
              case .doubles(let bases)? = dict["base_lrs"], case .doubles(let last)? = dict["_last_lr"] else {
            throw OptimizerError(message: "scheduler state needs last_epoch, _step_count, base_lrs and _last_lr")
        }
        lastEpoch = epoch
        stepCount = count
        baseLrs = bases
        lastLrs = last
    }
}

/// Multiplies the rate by `gamma` every `stepSize` epochs (`StepLR`).
public final class StepLR: LRScheduler {
    public let stepSize: Int
    public let gamma: Double

    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLrs() -> [Double] {
        if lastEpoch == 0 || lastEpoch % stepSize != 0 { return currentLrs }
        return currentLrs.map { $0 * gamma }
    }
}

/// Multiplies the rate by `gamma` at each milestone epoch (`MultiStepLR`).
public final class MultiStepLR: LRScheduler {
    public let milestones: [Int]
    public let gamma: Double

    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones.sorted()
        self.gamma = gamma
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLrs() -> [Double] {
        let hits = milestones.filter { $0 == lastEpoch }.count
        if hits == 0 { return currentLrs }
        return currentLrs.map { $0 * pow(gamma, Double(hits)) }
    }
}

/// Multiplies the rate by `gamma` every epoch (`ExponentialLR`).
public final class ExponentialLR: LRScheduler {
    public let gamma: Double

    public init(_ optimizer: Optimizer, gamma: Double) {
        self.gamma = gamma
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLrs() -> [Double] {
        lastEpoch == 0 ? currentLrs : currentLrs.map { $0 * gamma }
    }
}

/// Cosine annealing from the base rate to `etaMin` over `tMax` epochs, then back up (`CosineAnnealingLR`):
/// lr = η_min + (base − η_min)(1 + cos(π·t/T_max))/2, computed recursively as PyTorch does.
public final class CosineAnnealingLR: LRScheduler {
    public let tMax: Int
    public let etaMin: Double

    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0) {
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLrs() -> [Double] {
        let t = Double(lastEpoch), T = Double(tMax)
        if isInitial { return currentLrs }
        if stepCount == 1 && lastEpoch > 0 {
            return baseLrs.map { etaMin + ($0 - etaMin) * (1 + cos(t * Double.pi / T)) / 2 }
        }
        if (lastEpoch - 1 - tMax).modulo(2 * tMax) == 0 {
            return zip(currentLrs, baseLrs).map { lr, base in lr + (base - etaMin) * (1 - cos(Double.pi / T)) / 2 }
        }
        return currentLrs.map { lr in
            (1 + cos(Double.pi * t / T)) / (1 + cos(Double.pi * (t - 1) / T)) * (lr - etaMin) + etaMin
        }
    }
}

/// Linear warm-up (or decay): the rate goes from `startFactor`·base to `endFactor`·base over
/// `totalIters` steps, then stays (`LinearLR`).
public final class LinearLR: LRScheduler {
    public let startFactor: Double
    public let endFactor: Double
    public let totalIters: Int

    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5,
                file: StaticString = #fileID, line: UInt = #line) {
        guard startFactor > 0, startFactor <= 1, endFactor >= 0, endFactor <= 1 else {
            engineFailure("LinearLR", "startFactor must be in (0, 1] and endFactor in [0, 1], got \(startFactor) and \(endFactor)",
                          file: file, line: line)
        }
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLrs() -> [Double] {
        if lastEpoch == 0 { return currentLrs.map { $0 * startFactor } }
        if isInitial || lastEpoch > totalIters { return currentLrs }
        let change = endFactor - startFactor
        return currentLrs.map { $0 * (1.0 + change / (Double(totalIters) * startFactor + Double(lastEpoch - 1) * change)) }
    }
}

/// The base rate times a function of the epoch (`LambdaLR`), e.g. a custom warm-up.
public final class LambdaLR: LRScheduler {
    public let lrLambda: (Int) -> Double

    public init(_ optimizer: Optimizer, lrLambda: @escaping (Int) -> Double) {
        self.lrLambda = lrLambda
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLrs() -> [Double] { baseLrs.map { $0 * lrLambda(lastEpoch) } }
}

extension Int {
    /// Python's `%` (result has the sign of the divisor).
    func modulo(_ m: Int) -> Int { ((self % m) + m) % m }
}
