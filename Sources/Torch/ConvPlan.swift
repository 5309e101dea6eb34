import CEngineSupport

/// Which kernels one convolution geometry runs under one `ConvPolicy`: the forward pass, the input
/// gradient and the weight gradient, decided here and nowhere else. The kernels follow the plan;
/// the measurements behind each rule are in bench/RESULTS.md ("Convolution plan: the rules").
public struct ConvPlan: Sendable, Equatable, CustomStringConvertible {
    public enum Forward: Sendable, Equatable {
        /// Winograd F(tile x tile, 3x3) (Winograd.swift).
        case winograd(tile: Int)
        /// The flat direct kernels on zero-padded phase planes (DirectConvolution.swift).
        case flat
        /// im2col + sgemm in cache-sized tiles (Convolution.swift).
        case gemm
    }

    public enum InputGradient: Sendable, Equatable {
        /// dY convolved with the rotated kernels by Winograd; `reusesForwardWeights`: reading the
        /// forward pass's transformed weights (2x2 tiles both ways).
        case winograd(tile: Int, reusesForwardWeights: Bool)
        case flat
        /// The dual convolution of dY with the flipped, transposed weight (stride 1), itself planned.
        case dualGEMM
        /// Wᵀ dY, then col2im.
        case gemm
    }

    public enum WeightGradient: Sendable, Equatable {
        /// 16 whole-batch GEMMs of transformed tiles (2x2).
        case winogradGEMM
        /// Outer products of transformed tiles per group of images in L2.
        case winogradOuterProduct(tile: Int)
        /// Outer products of 16 outputs' dY and the nine taps' inputs (3x3 kernels).
        case flatOuterProduct
        /// Lane sums over the flat planes.
        case flat
        /// dY colsᵀ over im2col tiles.
        case gemm
    }

    public let forward: Forward
    public let inputGradient: InputGradient
    public let weightGradient: WeightGradient
    /// A weight that cannot change between calls keeps its Winograd transform on the tensor.
    public let cachesWinogradWeights: Bool

    public var description: String {
        "forward \(forward), input gradient \(inputGradient), weight gradient \(weightGradient)"
            + (cachesWinogradWeights ? ", caches transformed weights" : "")
    }

    /// The plan for `input` `[N, C, H, W]` and `weight` `[O, C / groups, kh, kw]` shapes under
    /// `policy` with `threads` engine threads.
    public init(input: [Int], weight: [Int], stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1, policy: ConvPolicy = ConvPolicy.current.get(),
                threads: Int = Threads.count, file: StaticString = #fileID, line: UInt = #line) {
        // Tensors of these shapes without values: the geometry reads shapes only.
        func shaped(_ shape: [Int]) -> Tensor { Tensor(shape: shape, dtype: .float32, storage: [], int64Storage: []) }
        let geometry = ConvGeometry(input: shaped(input), weight: shaped(weight), bias: nil, stride: stride,
                                    padding: padding, dilation: dilation, groups: groups, policy: policy,
                                    threads: threads, file: file, line: line)
        self = geometry.plan
    }

    /// Not planned yet (a geometry's value until its own init plans it).
    static let unplanned = ConvPlan(forward: .gemm, inputGradient: .gemm, weightGradient: .gemm,
                                    cachesWinogradWeights: false)

    private init(forward: Forward, inputGradient: InputGradient, weightGradient: WeightGradient,
                 cachesWinogradWeights: Bool) {
        self.forward = forward
        self.inputGradient = inputGradient
        self.weightGradient = weightGradient
        self.cachesWinogradWeights = cachesWinogradWeights
    }

    /// Kernels compiled for this CPU: both families need AVX-512.
    static let winogradAvailable = engine_winograd_available() != 0
    static let flatKernelsAvailable = engine_flat_conv_available() != 0

    init(_ g: ConvGeometry, policy p: ConvPolicy, threads: Int) {
        // Winograd: 3x3, stride 1, no dilation, one group, padding at most 2 (so the input gradient,
        // padded 2 - p, is one too), and enough channels for its 16 small products to pay.
        let winograd = p.winograd && ConvPlan.winogradAvailable && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1
            && g.dh == 1 && g.dw == 1 && g.groups == 1 && g.n > 0 && g.ph <= 2 && g.pw <= 2 && g.ho >= 1 && g.wo >= 1
            && min(g.c, g.o) >= p.winogradMinimumChannels
        // The flat kernels take every kernel larger than 1x1, and strided 1x1 layers small enough
        // that their plane of read pixels beats a GEMM.
        let flat = p.flatKernels && ConvPlan.flatKernelsAvailable && g.groups == 1 && g.n > 0
            && (g.kh * g.kw > 1 || g.isSubsampledPointwise)
        let channels = min(g.c, g.o)

        if winograd {
            let tile = ConvPlan.winogradTile(g, channels: channels, outputHeight: g.ho, outputWidth: g.wo,
                                             policy: p, threads: threads)
            let inputTile = ConvPlan.winogradTile(g, channels: channels, outputHeight: g.h, outputWidth: g.w,
                                                  policy: p, threads: threads)
            forward = .winograd(tile: tile)
            inputGradient = .winograd(tile: inputTile,
                                      reusesForwardWeights: p.winogradReusesForwardWeights && tile == 2 && inputTile == 2)
            cachesWinogradWeights = p.winogradWeightCache
        } else {
            forward = flat ? .flat : .gemm
            if flat {
                inputGradient = .flat
            } else {
                inputGradient = g.hasDualForInputGradient ? .dualGEMM : .gemm
            }
            cachesWinogradWeights = false
        }

        // Weight gradients: Winograd's whole-batch GEMMs for wide layers or large images, its
        // outer products for the other layers with outputs of 4x4+ whose image tiles fit in cache;
        // then the flat outer products (3x3), the flat lane sums (small layers, 10x10+ outputs),
        // else im2col + sgemm.
        let winogradGEMM = winograd && (g.c * g.o >= p.winogradGEMMWeightGradientMinimumWeights
            || (g.c * g.o >= p.winogradGEMMWeightGradientMinimumProducts && g.ohw >= p.winogradGEMMWeightGradientMinimumPixels)
            || p.winogradGEMMWeightGradientForAllSizes)
        let winogradOuter = winograd && !winogradGEMM && p.winogradOuterProductWeightGradient
            && min(g.ho, g.wo) >= p.winogradOuterProductMinimumOutput
            && g.winogradImageTileFloats(tile: 2) <= p.winogradOuterProductMaximumImageFloats
        if winogradGEMM {
            weightGradient = .winogradGEMM
        } else if winogradOuter {
            // F(4x4) where the forward pass takes it on a narrow image (its 36 sums per 4x4 outputs
            // against 64); the wide-image 4x4 transforms have no weight-gradient kernel.
            let narrow = (g.wo + 3) / 4 <= Int(ENGINE_WINOGRAD_NARROW4_TILES)
            weightGradient = .winogradOuterProduct(tile: forward == .winograd(tile: 4) && narrow ? 4 : 2)
        } else if flat && g.kh * g.kw == 9 && p.outerProductWeightGradient {
            weightGradient = .flatOuterProduct
        } else if flat && g.c * g.kh * g.kw * g.o <= p.flatWeightGradientLimit
                    && g.ohw >= p.flatWeightGradientMinimumPixels {
            weightGradient = .flat
        } else {
            weightGradient = .gemm
        }
    }

    /// The Winograd output tile of a pass producing `outputHeight` x `outputWidth` from `channels`:
    /// F(4x4, 3x3) (36 products per 16 outputs, 2.25x fewer than F(2x2)) when each thread's images
    /// give enough 4x4 tiles, and either the layer is wide or the image is narrow (its transforms
    /// run on several tile rows at once) and needs at most 3/4 of F(2x2)'s products, padding
    /// included; else F(2x2, 3x3).
    static func winogradTile(_ g: ConvGeometry, channels: Int, outputHeight: Int, outputWidth: Int,
                             policy p: ConvPolicy, threads: Int) -> Int {
        if let forced = p.winogradTile { return forced }
        let images = (g.n + threads - 1) / threads
        let tilesPerRow = (outputWidth + 3) / 4, tileRows = (outputHeight + 3) / 4
        guard images * tileRows * tilesPerRow >= p.winograd4MinimumTilesPerThread else { return 2 }
        if channels >= p.winograd4WideChannels && tilesPerRow >= p.winograd4WideTilesPerRow { return 4 }
        // Products per image: 36 per 4x4 tile against 16 per 2x2 tile, padding included.
        let products4 = 36 * tileRows * tilesPerRow, products2 = 16 * ((outputHeight + 1) / 2) * ((outputWidth + 1) / 2)
        let narrow = tilesPerRow <= Int(ENGINE_WINOGRAD_NARROW4_TILES)
        return narrow && 4 * products4 <= 3 * products2 ? 4 : 2
    }
}
