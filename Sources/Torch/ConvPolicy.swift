import CEngineSupport
import Foundation

/// The knobs that decide which kernels a convolution may run: which kernel families are allowed,
/// and the thresholds between them. `ConvPlan` applies them to one geometry. The defaults depend on
/// the CPU family (`ConvPolicy.defaults(for:)`); the process's policy, `ConvPolicy.environment`,
/// is those defaults with the `WORKBOOK_*` overrides read once at first use.
///
/// A caller scopes another policy to a block, on the calling thread and the tasks it starts:
///
///     var policy = ConvPolicy.current.get()
///     policy.winograd = false
///     ConvPolicy.current.withValue(policy) { _ = conv2d(x, weight: w, bias: nil) }
///
/// A convolution reads the policy once, when it runs forward; its recorded backward keeps that
/// plan. The engine's pool threads do not see a scoped policy: a convolution started inside a
/// `Threads.run` item uses `ConvPolicy.environment`.
/// The measurements behind each default are in bench/RESULTS.md ("Convolution plan: the rules").
public struct ConvPolicy: Sendable, Equatable {
    // MARK: Winograd F(2x2, 3x3) / F(4x4, 3x3), 3x3 stride-1 undilated layers

    /// Winograd for 3x3 stride-1 layers (`WORKBOOK_WINOGRAD=0` turns it off). Needs AVX-512.
    public var winograd = true
    /// Fewest input and output channels for Winograd: below 16 the 16 small products lose to the
    /// flat kernels (`WORKBOOK_WINOGRAD_MIN_CHANNELS`).
    public var winogradMinimumChannels = 16
    /// Forces the output tile of the forward pass and the input gradient, 2 or 4
    /// (`WORKBOOK_WINOGRAD_TILE`); nil lets `ConvPlan.winogradTile` choose.
    public var winogradTile: Int?
    /// F(4x4) only when each thread's images give at least this many 4x4 tiles: its 36 transformed
    /// weight matrices must serve enough tiles to pay for themselves.
    public var winograd4MinimumTilesPerThread = 128
    /// F(4x4) for layers this wide (with rows of `winograd4WideTilesPerRow` tiles or more), where
    /// its 2.25x fewer products win over the larger transforms.
    public var winograd4WideChannels = 128
    public var winograd4WideTilesPerRow = 7

    /// The weight gradient by 16 whole-batch GEMMs for layers with at least this many `C*O`, or
    /// `winogradGEMMWeightGradientMinimumProducts` on outputs of `...MinimumPixels` or more: wide
    /// layers and large images amortise the transformed batch, small ones are memory traffic.
    public var winogradGEMMWeightGradientMinimumWeights = 65_536
    public var winogradGEMMWeightGradientMinimumProducts = 4_096
    public var winogradGEMMWeightGradientMinimumPixels = 400
    /// Every Winograd layer's weight gradient by the whole-batch GEMMs (tests).
    public var winogradGEMMWeightGradientForAllSizes = false
    /// The other Winograd layers' weight gradients as outer products per group of images in L2
    /// (`WORKBOOK_WINOGRAD_OUTER_DW=0` leaves them to the direct outer-product kernel).
    public var winogradOuterProductWeightGradient = true
    /// ... for outputs of at least this many pixels per side: smaller ones fill too few of a tile's
    /// outputs.
    public var winogradOuterProductMinimumOutput = 4
    /// ... and images whose transformed tiles stay within this many floats (8 MB): the groups are
    /// whole images, and larger ones fall out of cache.
    public var winogradOuterProductMaximumImageFloats = 1 << 21
    /// With 2x2 tiles both ways, the input gradient reads the forward pass's transformed weights
    /// instead of transforming the rotated kernels again; the same bits (`WORKBOOK_WINOGRAD_REUSE=0`).
    public var winogradReusesForwardWeights = true
    /// Weights that cannot change (no gradient recorded) keep their transformed copy on the tensor
    /// (`WORKBOOK_WINOGRAD_CACHE=0`).
    public var winogradWeightCache = true
    /// Most floats of transformed tiles the GEMM weight gradient holds at once (64 MB); larger
    /// batches go through in slices (tests lower it).
    public var winogradGradientSliceFloats = 1 << 24

    // MARK: Flat direct kernels (AVX-512)

    /// The flat direct kernels for kernels larger than 1x1 and small strided 1x1 layers
    /// (`WORKBOOK_DIRECT_CONV=0`). Needs AVX-512.
    public var flatKernels = true
    /// Largest `C*kh*kw*O` whose weight gradient (kernels other than 3x3) takes the lane-sum flat
    /// kernel; above it the GEMM path was faster (`WORKBOOK_DIRECT_CONV_LIMIT`).
    public var flatWeightGradientLimit = 40_000
    /// ... and fewest output pixels: smaller images give each horizontal sum too few pixels.
    public var flatWeightGradientMinimumPixels = 100
    /// Weight gradients of 3x3 kernels (any stride, dilation) as outer products of 16 outputs'
    /// gradients and the nine taps' inputs, at every size (`WORKBOOK_OUTER_PRODUCT_DW=0`).
    public var outerProductWeightGradient = true
    /// Strided unpadded 1x1 layers with at most this many weights take the flat kernels on a plane of
    /// the pixels they read; wider ones share each weight among too few pixels, where a GEMM wins.
    public var subsampledPointwiseMaximumWeights = 8_192

    // MARK: im2col + sgemm

    /// Fewest input channels for which a stride-1 input gradient runs as the dual convolution
    /// (dY with the flipped weight); below it its GEMM has too few rows and col2im wins (the RGB stem).
    public var dualInputGradientMinimumChannels = 16
    /// Floats of im2col columns per tile and thread (512 KB, half an L2), so sgemm reads columns
    /// still in cache (`WORKBOOK_CONV_CHUNK_FLOATS`; tests shrink it to force many tiles).
    public var columnBudgetFloats = 1 << 17
    /// Output planes at least this large are lowered one image at a time (`WORKBOOK_CONV_WIDE_IMAGE`).
    public var wideImagePixels = 3136

    // MARK: Batch norm

    /// Eval-mode batch norms fold into the convolution before them (`conv2dAffine`), applying
    /// scale, shift, shortcut and ReLU as the output is written (`WORKBOOK_FOLD_BATCHNORM=0`).
    public var foldsBatchNorm = true

    public init() {}

    /// Nothing but im2col + sgemm: what a CPU without AVX-512 runs, and the reference path tests
    /// compare the others with.
    public static let gemmOnly: ConvPolicy = {
        var policy = ConvPolicy()
        policy.winograd = false
        policy.flatKernels = false
        return policy
    }()
}

// MARK: CPU families

extension ConvPolicy {
    /// The CPU kinds whose defaults may differ.
    public enum CPUFamily: String, Sendable, CaseIterable {
        case amdZen4, amdZen5
        /// Intel Xeon Sapphire/Emerald/Granite Rapids class: AVX-512 with FP16 and AMX.
        case intelSapphireRapids
        case otherAVX512
        case noAVX512

        /// This machine's family, detected once.
        public static let detected: CPUFamily = {
            guard engine_cpu_has_avx512() != 0 else { return .noAVX512 }
            #if os(Linux)
            if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
                return CPUFamily(cpuinfo: info)
            }
            #endif
            return .otherAVX512
        }()

        /// The family an AVX-512 CPU's `/proc/cpuinfo` describes (its first processor).
        init(cpuinfo: String) {
            var fields: [String: String] = [:]
            for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.isEmpty { break }
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
            }
            let flags = Set((fields["flags"] ?? "").split(separator: " ").map(String.init))
            switch (fields["vendor_id"], fields["cpu family"].flatMap { Int($0) }) {
            case ("AuthenticAMD", 25): self = .amdZen4  // family 19h with AVX-512: Zen 4
            case ("AuthenticAMD", 26): self = .amdZen5  // family 1Ah
            case ("GenuineIntel", _) where flags.contains("avx512_fp16") && flags.contains("amx_tile"):
                self = .intelSapphireRapids
            default: self = .otherAVX512
            }
        }
    }

    /// The defaults for `family`. Every threshold was measured on AMD Zen 4 and Zen 5 (2 threads);
    /// the Intel and other AVX-512 families take the same values until they are measured there
    /// (nobody has yet: bench/RESULTS.md). Without AVX-512 only im2col + sgemm exists.
    public static func defaults(for family: CPUFamily) -> ConvPolicy {
        switch family {
        case .amdZen4, .amdZen5: return ConvPolicy()
        case .intelSapphireRapids, .otherAVX512: return ConvPolicy()
        case .noAVX512: return .gemmOnly
        }
    }

    /// The detected family's defaults with the documented `WORKBOOK_*` overrides, read once.
    public static let environment = ConvPolicy(
        defaults: defaults(for: .detected), environment: ProcessInfo.processInfo.environment)

    /// `defaults` with the overrides in `environment`: the switches turn off with "0"; the numbers
    /// replace the default when they parse.
    public init(defaults: ConvPolicy, environment env: [String: String]) {
        self = defaults
        func off(_ name: String) -> Bool { env[name] == "0" }
        func number(_ name: String) -> Int? { env[name].flatMap { Int($0) } }
        if off("WORKBOOK_WINOGRAD") { winograd = false }
        if let value = number("WORKBOOK_WINOGRAD_MIN_CHANNELS") { winogradMinimumChannels = value }
        if let value = number("WORKBOOK_WINOGRAD_TILE"), [2, 4].contains(value) { winogradTile = value }
        if off("WORKBOOK_WINOGRAD_OUTER_DW") { winogradOuterProductWeightGradient = false }
        if off("WORKBOOK_WINOGRAD_REUSE") { winogradReusesForwardWeights = false }
        if off("WORKBOOK_WINOGRAD_CACHE") { winogradWeightCache = false }
        if off("WORKBOOK_DIRECT_CONV") { flatKernels = false }
        if let value = number("WORKBOOK_DIRECT_CONV_LIMIT") { flatWeightGradientLimit = value }
        if off("WORKBOOK_OUTER_PRODUCT_DW") { outerProductWeightGradient = false }
        if let value = number("WORKBOOK_CONV_CHUNK_FLOATS") { columnBudgetFloats = value }
        if let value = number("WORKBOOK_CONV_WIDE_IMAGE") { wideImagePixels = value }
        if off("WORKBOOK_FOLD_BATCHNORM") { foldsBatchNorm = false }
    }

    /// The policy of convolutions started here: `environment` unless a caller scoped another one
    /// with `ConvPolicy.current.withValue(policy) { ... }`. Read it with `ConvPolicy.current.get()`.
    public static let current = TaskLocal<ConvPolicy>(wrappedValue: environment)
}
