import Foundation
import NN
import Torch

/// The 1cycle policy (`OneCycleLR`), stepped once per batch: the rate rises from
/// `maxLr/divFactor` to `maxLr` over the first `pctStart` of `totalSteps`, then anneals to
/// `initial/finalDivFactor`; momentum (SGD's `momentum` or Adam's β₁) cycles inversely between
/// `maxMomentum` and `baseMomentum`. Defaults as in PyTorch (cosine annealing, pctStart 0.3,
/// divFactor 25, finalDivFactor 1e4, momentum 0.85–0.95).
public final class OneCycleLR: LRScheduler {
    public enum AnnealStrategy { case cos, linear }

    struct Phase {
        let endStep: Double
        let startLr: String, endLr: String
        let startMomentum: String, endMomentum: String
    }

    public let totalSteps: Int
    public let annealStrategy: AnnealStrategy
    public let cycleMomentum: Bool
    private let phases: [Phase]
    private let usesBetas: Bool
    private var groupValues: [[String: Double]] = []

    public init(_ optimizer: Optimizer, maxLr: Double, totalSteps: Int? = nil, epochs: Int? = nil, stepsPerEpoch: Int? = nil,
                pctStart: Double = 0.3, annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true,
                baseMomentum: Double = 0.85, maxMomentum: Double = 0.95, divFactor: Double = 25,
                finalDivFactor: Double = 1e4, threePhase: Bool = false,
                file: StaticString = #fileID, line: UInt = #line) {
        let total: Int
        if let totalSteps { total = totalSteps } else if let epochs, let stepsPerEpoch { total = epochs * stepsPerEpoch } else {
            engineFailure("OneCycleLR", "give totalSteps, or epochs and stepsPerEpoch", file: file, line: line)
        }
        guard total > 0, pctStart >= 0, pctStart <= 1 else {
            engineFailure("OneCycleLR", "totalSteps must be positive and pctStart in [0, 1], got \(total) and \(pctStart)", file: file, line: line)
        }
        self.totalSteps = total
        self.annealStrategy = annealStrategy
        self.cycleMomentum = cycleMomentum
        let t = Double(total)
        if threePhase {
            phases = [Phase(endStep: pctStart * t - 1, startLr: "initial_lr", endLr: "max_lr", startMomentum: "max_momentum", endMomentum: "base_momentum"),
                      Phase(endStep: 2 * pctStart * t - 2, startLr: "max_lr", endLr: "initial_lr", startMomentum: "base_momentum", endMomentum: "max_momentum"),
                      Phase(endStep: t - 1, startLr: "initial_lr", endLr: "min_lr", startMomentum: "max_momentum", endMomentum: "max_momentum")]
        } else {
            phases = [Phase(endStep: pctStart * t - 1, startLr: "initial_lr", endLr: "max_lr", startMomentum: "max_momentum", endMomentum: "base_momentum"),
                      Phase(endStep: t - 1, startLr: "max_lr", endLr: "min_lr", startMomentum: "base_momentum", endMomentum: "max_momentum")]
        }
        usesBetas = optimizer.defaults["betas"] != nil
        if cycleMomentum && !usesBetas && optimizer.defaults["momentum"] == nil {
            engineFailure("OneCycleLR", "optimizer must support momentum or betas with cycleMomentum enabled", file: file, line: line)
        }
        for i in optimizer.paramGroups.indices {
            let initial = maxLr / divFactor
            optimizer.paramGroups[i].initialLr = initial
            var values = ["initial_lr": initial, "max_lr": maxLr, "min_lr": initial / finalDivFactor]
            if cycleMomentum {
                if usesBetas {
                    optimizer.paramGroups[i].betas = (maxMomentum, optimizer.paramGroups[i].betas.1)
                } else {
                    optimizer.paramGroups[i].momentum = maxMomentum
                }
                values["max_momentum"] = maxMomentum
                values["base_momentum"] = baseMomentum
                optimizer.paramGroups[i]["max_momentum"] = .double(maxMomentum)
                optimizer.paramGroups[i]["base_momentum"] = .double(baseMomentum)
            }
            optimizer.paramGroups[i]["max_lr"] = .double(maxLr)
            optimizer.paramGroups[i]["min_lr"] = .double(initial / finalDivFactor)
            groupValues.append(values)
        }
        super.init(optimizer: optimizer)
        initialStep()
    }

    private func anneal(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        switch annealStrategy {
        case .cos: return end + (start - end) / 2 * (cos(Double.pi * pct) + 1)
        case .linear: return (end - start) * pct + start
        }
    }

    public override func computeLrs() -> [Double] {
        let stepNum = Double(lastEpoch)
        guard lastEpoch <= totalSteps else {
            engineFailure("OneCycleLR", "tried to step \(lastEpoch) times; the schedule has totalSteps \(totalSteps)",
                          file: #fileID, line: #line)
        }
        var lrs: [Double] = []
        for (gi, values) in groupValues.enumerated() {
            var startStep = 0.0
            for (i, phase) in phases.enumerated() {
                if stepNum <= phase.endStep || i == phases.count - 1 {
                    let pct = (stepNum - startStep) / (phase.endStep - startStep)
                    lrs.append(anneal(values[phase.startLr]!, values[phase.endLr]!, pct))
                    if cycleMomentum {
                        let m = anneal(values[phase.startMomentum]!, values[phase.endMomentum]!, pct)
                        if usesBetas {
                            optimizer.paramGroups[gi].betas = (m, optimizer.paramGroups[gi].betas.1)
                        } else {
                            optimizer.paramGroups[gi].momentum = m
                        }
                    }
                    break
                }
                startStep = phase.endStep
            }
        }
        return lrs
    }
}
