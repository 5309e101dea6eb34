import Foundation
import XCTest
@testable import Torch

/// Temporary: writes the kernel choices of the pre-ConvPlan predicates for `ConvPlanGrid`.
final class ConvPlanCaptureTests: XCTestCase {
    func testCapture() throws {
        guard let path = ProcessInfo.processInfo.environment["CONV_PLAN_CAPTURE"] else { throw XCTSkip("no capture") }
        let savedThreads = Threads.count
        defer { Threads.count = savedThreads }
        var lines: [String] = []
        for (label, kernels) in [("default", true), ("gemm", false)] {
            let saved = (ConvGeometry.winogradEnabled, ConvGeometry.flatKernelsEnabled)
            if !kernels { (ConvGeometry.winogradEnabled, ConvGeometry.flatKernelsEnabled) = (false, false) }
            defer { (ConvGeometry.winogradEnabled, ConvGeometry.flatKernelsEnabled) = saved }
            for g in ConvPlanGrid.geometries {
                Threads.count = g.threads
                let geometry = ConvGeometry(input: g.input, weight: g.weight, bias: nil, stride: (g.sh, g.sw),
                                            padding: (g.ph, g.pw), dilation: (g.dh, g.dw), groups: g.groups,
                                            file: #fileID, line: #line)
                lines.append("\(label) \(g): \(Self.choices(geometry))")
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func choices(_ g: ConvGeometry) -> String {
        var forward = "gemm", input = "gemm", weight = "gemm", cache = "-"
        if g.usesWinograd {
            let tile = g.winogradTile(channels: min(g.c, g.o), outputHeight: g.ho, outputWidth: g.wo)
            forward = "winograd\(tile)"
            let inputTile = g.winogradTile(channels: min(g.c, g.o), outputHeight: g.h, outputWidth: g.w)
            let reuse = ConvGeometry.winogradReuseForInputGradient && tile == 2 && inputTile == 2
            input = "winograd\(inputTile)" + (reuse ? "-reuse" : "")
            if ConvGeometry.winogradWeightCacheEnabled { cache = "cache" }
        } else if g.usesFlatKernels {
            forward = "flat"
            input = "flat"
        } else if g.dualForInputGradient != nil {
            input = "dual"
        }
        if g.usesWinograd || g.usesFlatKernels {
            if g.usesWinogradOuterProductWeightGradient {
                let tile = g.winogradTile(channels: min(g.c, g.o), outputHeight: g.ho, outputWidth: g.wo) == 4
                    && (g.wo + 3) / 4 <= 7 ? 4 : 2
                weight = "winograd-outer\(tile)"
            } else if g.usesWinogradGEMMWeightGradient {
                weight = "winograd-gemm"
            } else if g.usesFlatWeightGradient {
                weight = g.usesOuterProductWeightGradient ? "flat-outer" : "flat"
            }
        }
        return "\(forward) \(input) \(weight) \(cache)"
    }
}
