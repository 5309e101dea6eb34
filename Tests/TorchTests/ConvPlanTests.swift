import XCTest
@testable import Torch

/// `ConvPlan` decides which kernels each geometry runs; these tests pin its choices.
final class ConvPlanTests: XCTestCase {
    /// The plan chooses, for every geometry of the grid, exactly the kernels the predicates it
    /// replaced chose (`convPlanTable`, captured from them before the change): with the default
    /// policy every convolution runs the same kernels, so gives the same bits, as before.
    func testDefaultPolicyChoosesWhatThePredicatesChose() throws {
        try XCTSkipUnless(ConvPlan.winogradAvailable && ConvPlan.flatKernelsAvailable,
                          "no AVX-512 here: the table was captured where Winograd and the flat kernels run")
        var expected: [String: [String: String]] = [:], section = ""
        for line in convPlanTable.split(separator: "\n") {
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()); continue }
            let parts = line.split(separator: " ", maxSplits: 1)
            expected[section, default: [:]][String(parts[0])] = String(parts[1])
        }
        for (section, policy) in [("default", ConvPolicy.defaults(for: .amdZen4)), ("gemm", ConvPolicy.gemmOnly)] {
            var checked = 0, mismatches: [String] = []
            for g in ConvPlanGrid.geometries where section == "default" || g.n == 8 {
                let plan = ConvPlan(input: [g.n, g.c, g.h, g.w], weight: [g.o, g.c / g.groups, g.kh, g.kw],
                                    stride: (g.sh, g.sw), padding: (g.ph, g.pw), dilation: (g.dh, g.dw),
                                    groups: g.groups, policy: policy, threads: g.threads)
                let key = g.description
                guard let want = expected[section]?[key] else { return XCTFail("\(section) \(key) is not in the table") }
                checked += 1
                if Self.codes(plan) != want { mismatches.append("\(section) \(key): plan \(Self.codes(plan)), table \(want)") }
            }
            XCTAssertEqual(checked, expected[section]?.count, "\(section): the grid and the table differ in size")
            XCTAssertEqual(mismatches, [], "\(mismatches.count) geometries changed kernels")
        }
    }

    /// The table's codes for a plan.
    static func codes(_ plan: ConvPlan) -> String {
        let forward: String, input: String, weight: String
        switch plan.forward {
        case .winograd(let tile): forward = "W\(tile)"
        case .flat: forward = "F"
        case .gemm: forward = "G"
        }
        switch plan.inputGradient {
        case .winograd(let tile, let reuses): input = "W\(tile)" + (reuses ? "r" : "")
        case .flat: input = "F"
        case .dualGEMM: input = "D"
        case .gemm: input = "G"
        }
        switch plan.weightGradient {
        case .winogradGEMM: weight = "WG"
        case .winogradOuterProduct(let tile): weight = "WO\(tile)"
        case .flatOuterProduct: weight = "FO"
        case .flat: weight = "F"
        case .gemm: weight = "G"
        }
        return "\(forward) \(input) \(weight) \(plan.cachesWinogradWeights ? "c" : "-")"
    }

    /// The environment's overrides: switches off with "0", numbers where they parse, the rest kept.
    func testEnvironmentOverridesTheDefaults() {
        let defaults = ConvPolicy.defaults(for: .amdZen5)
        XCTAssertEqual(ConvPolicy(defaults: defaults, environment: [:]), defaults)
        XCTAssertEqual(ConvPolicy(defaults: defaults, environment: ["WORKBOOK_WINOGRAD": "1", "WORKBOOK_DIRECT_CONV": ""]),
                       defaults)
        let policy = ConvPolicy(defaults: defaults, environment: [
            "WORKBOOK_WINOGRAD": "0", "WORKBOOK_WINOGRAD_MIN_CHANNELS": "8", "WORKBOOK_WINOGRAD_TILE": "4",
            "WORKBOOK_WINOGRAD_OUTER_DW": "0", "WORKBOOK_WINOGRAD_REUSE": "0", "WORKBOOK_WINOGRAD_CACHE": "0",
            "WORKBOOK_DIRECT_CONV": "0", "WORKBOOK_DIRECT_CONV_LIMIT": "1000", "WORKBOOK_OUTER_PRODUCT_DW": "0",
            "WORKBOOK_CONV_CHUNK_FLOATS": "4096", "WORKBOOK_CONV_WIDE_IMAGE": "100", "WORKBOOK_FOLD_BATCHNORM": "0",
        ])
        XCTAssertFalse(policy.winograd)
        XCTAssertEqual(policy.winogradMinimumChannels, 8)
        XCTAssertEqual(policy.winogradTile, 4)
        XCTAssertFalse(policy.winogradOuterProductWeightGradient)
        XCTAssertFalse(policy.winogradReusesForwardWeights)
        XCTAssertFalse(policy.winogradWeightCache)
        XCTAssertFalse(policy.flatKernels)
        XCTAssertEqual(policy.flatWeightGradientLimit, 1000)
        XCTAssertFalse(policy.outerProductWeightGradient)
        XCTAssertEqual(policy.columnBudgetFloats, 4096)
        XCTAssertEqual(policy.wideImagePixels, 100)
        XCTAssertFalse(policy.foldsBatchNorm)
        // A tile other than 2 or 4 and numbers that do not parse leave the defaults.
        let odd = ConvPolicy(defaults: defaults, environment: ["WORKBOOK_WINOGRAD_TILE": "3",
                                                               "WORKBOOK_DIRECT_CONV_LIMIT": "many"])
        XCTAssertEqual(odd, defaults)
    }

    func testCPUFamilyFromCPUInfo() {
        func info(_ vendor: String, _ family: Int, _ flags: String) -> String {
            "processor\t: 0\nvendor_id\t: \(vendor)\ncpu family\t: \(family)\nflags\t\t: fpu avx512f \(flags)\n\nprocessor\t: 1\n"
        }
        XCTAssertEqual(ConvPolicy.CPUFamily(cpuinfo: info("AuthenticAMD", 25, "avx512bw")), .amdZen4)
        XCTAssertEqual(ConvPolicy.CPUFamily(cpuinfo: info("AuthenticAMD", 26, "avx512bw")), .amdZen5)
        XCTAssertEqual(ConvPolicy.CPUFamily(cpuinfo: info("GenuineIntel", 6, "avx512_fp16 amx_tile avx512_vnni")),
                       .intelSapphireRapids)
        XCTAssertEqual(ConvPolicy.CPUFamily(cpuinfo: info("GenuineIntel", 6, "avx512_vnni")), .otherAVX512)
        XCTAssertEqual(ConvPolicy.CPUFamily(cpuinfo: ""), .otherAVX512)
        XCTAssertEqual(ConvPolicy.defaults(for: .noAVX512), .gemmOnly)
        // This machine: no AVX-512 means no kernels but GEMM; otherwise its /proc/cpuinfo decides.
        if !ConvPlan.flatKernelsAvailable {
            XCTAssertEqual(ConvPolicy.CPUFamily.detected, .noAVX512)
        } else if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            XCTAssertEqual(ConvPolicy.CPUFamily.detected, ConvPolicy.CPUFamily(cpuinfo: text))
        }
        XCTAssertEqual(ConvPolicy.defaults(for: .intelSapphireRapids), ConvPolicy.defaults(for: .amdZen4))
    }

    /// A scoped policy reaches the convolutions inside the scope only, and a recorded backward keeps
    /// the plan of its forward pass even when it runs after the scope.
    func testScopedPolicyReachesItsConvolutionsOnly() throws {
        try XCTSkipUnless(ConvPlan.flatKernelsAvailable, "no AVX-512 here: every policy plans im2col + sgemm")
        let shapes = (input: [2, 16, 12, 12], weight: [16, 16, 3, 3])
        XCTAssertEqual(ConvPlan(input: shapes.input, weight: shapes.weight, padding: (1, 1)).forward,
                       ConvPlan(input: shapes.input, weight: shapes.weight, padding: (1, 1),
                                policy: ConvPolicy.environment).forward)
        ConvPolicy.current.withValue(.gemmOnly) {
            let plan = ConvPlan(input: shapes.input, weight: shapes.weight, padding: (1, 1))
            XCTAssertEqual(plan.forward, .gemm)
            XCTAssertEqual(plan.inputGradient, .dualGEMM)
            XCTAssertEqual(plan.weightGradient, .gemm)
        }
        let g = Generator(seed: 3)
        let x = Tensor.randn(shapes.input, generator: g).requiringGrad()
        let w = Tensor.randn(shapes.weight, generator: g).requiringGrad()
        // Outside the scope the backward runs where the default policy would choose other kernels
        // (Winograd or the flat ones, whose sums round differently): its result shows which ran.
        let y = ConvPolicy.current.withValue(.gemmOnly) { conv2d(x, weight: w, bias: nil, padding: (1, 1)) }
        y.sum().backward()
        let scopedGradient = w.grad!.scalars
        w.zeroGrad(); x.zeroGrad()
        ConvPolicy.current.withValue(.gemmOnly) { conv2d(x, weight: w, bias: nil, padding: (1, 1)).sum().backward() }
        XCTAssertEqual(w.grad!.scalars, scopedGradient, "the backward ran another kernel than its forward's plan")
        w.zeroGrad(); x.zeroGrad()
        conv2d(x, weight: w, bias: nil, padding: (1, 1)).sum().backward()
        XCTAssertNotEqual(w.grad!.scalars, scopedGradient, "the default policy's kernels gave the same bits: no evidence")
    }
}
