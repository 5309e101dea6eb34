import Foundation
import NN
import Optim
import Torch
import XCTest

/// Learning-rate sequences compared with PyTorch's (Fixtures/schedulers.json): equal to the last bit.
final class SchedulerTests: XCTestCase {
    private func expected(_ name: String) throws -> (lr: [Double], momentum: [Double]) {
        let run = try jsonFixture("schedulers.json")[name] as! [String: [Double]]
        return (run["lr"]!, run["momentum"]!)
    }

    private func makeOptimizer() -> SGD {
        SGD([Tensor([0]).requiringGrad()], lr: 0.1, momentum: 0.9)
    }

    private func check(_ name: String, steps: Int, tolerance: Double = 0,
                       _ make: (SGD) -> LRScheduler, file: StaticString = #filePath, line: UInt = #line) throws {
        let (lrs, moms) = try expected(name)
        let optimizer = makeOptimizer()
        let scheduler = make(optimizer)
        var got = [scheduler.getLastLr()[0]], gotMomentum = [optimizer.paramGroups[0].momentum]
        for _ in 0..<steps {
            optimizer.step()
            scheduler.step()
            got.append(scheduler.getLastLr()[0])
            gotMomentum.append(optimizer.paramGroups[0].momentum)
        }
        XCTAssertEqual(got.count, lrs.count, file: file, line: line)
        for (i, (a, b)) in zip(got, lrs).enumerated() {
            XCTAssertEqual(a, b, accuracy: tolerance * max(1, abs(b)), "\(name) lr at step \(i)", file: file, line: line)
        }
        for (i, (a, b)) in zip(gotMomentum, moms).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-12, "\(name) momentum at step \(i)", file: file, line: line)
        }
        XCTAssertEqual(optimizer.paramGroups[0].lr, got.last!, file: file, line: line)
    }

    func testStepMultiStepCosineLinearOneCycle() throws {
        try check("step", steps: 10) { StepLR($0, stepSize: 3, gamma: 0.5) }
        try check("multistep", steps: 8) { MultiStepLR($0, milestones: [2, 5, 6], gamma: 0.1) }
        try check("cosine", steps: 14) { CosineAnnealingLR($0, tMax: 5, etaMin: 0.001) }
        try check("linear", steps: 7) { LinearLR($0, startFactor: 0.25, endFactor: 1, totalIters: 4) }
        try check("onecycle", steps: 9) { OneCycleLR($0, maxLr: 0.5, totalSteps: 10) }
    }

    func testCosineClosedForm() {
        let optimizer = makeOptimizer()
        let scheduler = CosineAnnealingLR(optimizer, tMax: 10, etaMin: 0.01)
        for t in 1...10 {
            scheduler.step()
            let closed = 0.01 + (0.1 - 0.01) * (1 + cos(Double.pi * Double(t) / 10)) / 2
            XCTAssertEqual(scheduler.getLastLr()[0], closed, accuracy: 1e-12)
        }
    }

    func testReduceLROnPlateau() throws {
        let metrics = try jsonFixture("schedulers.json")["plateau_metrics"] as! [Double]
        let optimizer = makeOptimizer()
        let plateau = ReduceLROnPlateau(optimizer, mode: .min, factor: 0.5, patience: 2, threshold: 0.01, cooldown: 1, minLr: 0.02)
        var lrs = [optimizer.paramGroups[0].lr]
        for m in metrics {
            plateau.step(m)
            lrs.append(optimizer.paramGroups[0].lr)
        }
        XCTAssertEqual(lrs, try expected("plateau_min").lr)

        let optimizer2 = makeOptimizer()
        let maxMode = ReduceLROnPlateau(optimizer2, mode: .max, factor: 0.1, patience: 1, threshold: 0.05, thresholdMode: .abs)
        var lrs2 = [optimizer2.paramGroups[0].lr]
        for m in [0.5, 0.52, 0.6, 0.61, 0.62, 0.63] {
            maxMode.step(m)
            lrs2.append(maxMode.getLastLr()[0])
        }
        XCTAssertEqual(lrs2, try expected("plateau_max_abs").lr)

        // Saved progress carries over: one more bad epoch reduces again (patience 1).
        let optimizer3 = makeOptimizer()
        let resumed = ReduceLROnPlateau(optimizer3, mode: .max, factor: 0.1, patience: 1, threshold: 0.05, thresholdMode: .abs)
        try resumed.loadStateDict(maxMode.stateDict())
        XCTAssertEqual(resumed.best, 0.6)
        XCTAssertEqual(resumed.numBadEpochs, 1)
        resumed.step(0.6)
        XCTAssertEqual(optimizer3.paramGroups[0].lr, 0.1 * 0.1, accuracy: 1e-17)
    }

    func testSchedulersChangeEveryGroupAndOneCycleCyclesAdamBetas() {
        let a = Tensor([0]).requiringGrad(), b = Tensor([0]).requiringGrad()
        let sgd = SGD([ParamGroup(params: [a], lr: 0.1), ParamGroup(params: [b], lr: 0.01)])
        let step = StepLR(sgd, stepSize: 1, gamma: 0.5)
        step.step()
        XCTAssertEqual(step.getLastLr(), [0.05, 0.005])
        XCTAssertEqual(sgd.paramGroups.map { $0.initialLr! }, [0.1, 0.01])

        let adam = Adam([Tensor([0]).requiringGrad()], lr: 0.001)
        let cycle = OneCycleLR(adam, maxLr: 0.01, epochs: 2, stepsPerEpoch: 5)
        XCTAssertEqual(adam.paramGroups[0].betas.0, 0.95, accuracy: 1e-12)
        XCTAssertEqual(cycle.getLastLr()[0], 0.01 / 25, accuracy: 1e-12)
        cycle.step(); cycle.step()  // the peak is at step pctStart·totalSteps − 1 = 2
        XCTAssertEqual(cycle.getLastLr()[0], 0.01, accuracy: 1e-12)
        XCTAssertEqual(adam.paramGroups[0].betas.0, 0.85, accuracy: 1e-12)
        XCTAssertEqual(adam.paramGroups[0].betas.1, 0.999)
    }

    func testLambdaExponentialAndSchedulerState() throws {
        let optimizer = makeOptimizer()
        let warmup = LambdaLR(optimizer) { epoch in min(1, Double(epoch + 1) / 4) }
        XCTAssertEqual(warmup.getLastLr()[0], 0.025, accuracy: 1e-15)
        warmup.step(); warmup.step()
        XCTAssertEqual(warmup.getLastLr()[0], 0.075, accuracy: 1e-15)

        let opt2 = makeOptimizer()
        let exp = ExponentialLR(opt2, gamma: 0.5)
        exp.step(); exp.step()
        XCTAssertEqual(exp.getLastLr()[0], 0.025, accuracy: 1e-15)
        let saved = exp.stateDict()
        let opt3 = makeOptimizer()
        let restored = ExponentialLR(opt3, gamma: 0.5)
        try restored.loadStateDict(saved)
        XCTAssertEqual(restored.lastEpoch, 2)
        XCTAssertEqual(restored.getLastLr(), [0.025])
    }
}
