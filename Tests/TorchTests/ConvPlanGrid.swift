@testable import Torch

/// The geometries whose kernel choices `ConvPlanTests` pins: channel pairs, batches, image sizes and
/// kernel shapes around every threshold of the default policy (16 channels for Winograd, 4x4 and
/// 10x10 outputs, 2M floats of one image's tiles, 4,096 and 65,536 weights per tap, 8,192 weights
/// of a strided 1x1, C*kh*kw*O = 40,000), on one and two threads.
enum ConvPlanGrid {
    struct Geometry: CustomStringConvertible {
        let n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int
        let sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int, groups: Int, threads: Int

        var description: String {
            [n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups, threads].map(String.init).joined(separator: ",")
        }
        var isValid: Bool {
            h + 2 * ph >= dh * (kh - 1) + 1 && w + 2 * pw >= dw * (kw - 1) + 1 && c % groups == 0 && o % groups == 0
        }
        /// Shapes only, no values: a geometry reads nothing else, and the grid's batches of 224x224
        /// images would take gigabytes.
        var input: Tensor { Tensor(shape: [n, c, h, w], dtype: .float32, storage: [], int64Storage: []) }
        var weight: Tensor { Tensor(shape: [o, c / groups, kh, kw], dtype: .float32, storage: [], int64Storage: []) }
    }

    static let channels = [(3, 16), (3, 64), (8, 8), (15, 16), (16, 16), (16, 32), (32, 64), (64, 64), (64, 128),
                           (128, 128), (128, 256), (256, 512), (512, 512)]
    static let batches = [1, 8, 128]
    static let sizes = [(1, 1), (4, 4), (6, 6), (7, 7), (14, 14), (28, 28), (56, 56), (224, 224), (9, 75)]
    /// (kh, kw, sh, sw, ph, pw, dh, dw, groups)
    static let kernels = [(1, 1, 1, 1, 0, 0, 1, 1, 1), (1, 1, 2, 2, 0, 0, 1, 1, 1), (1, 1, 2, 2, 1, 1, 1, 1, 1),
                          (3, 3, 1, 1, 1, 1, 1, 1, 1), (3, 3, 1, 1, 0, 0, 1, 1, 1), (3, 3, 1, 1, 2, 2, 1, 1, 1),
                          (3, 3, 1, 1, 3, 3, 1, 1, 1), (3, 3, 2, 2, 1, 1, 1, 1, 1), (3, 3, 1, 1, 2, 2, 2, 2, 1),
                          (3, 3, 1, 1, 1, 1, 1, 1, 2), (5, 5, 1, 1, 2, 2, 1, 1, 1), (7, 7, 2, 2, 3, 3, 1, 1, 1),
                          (1, 3, 1, 1, 0, 1, 1, 1, 1), (3, 3, 1, 2, 1, 1, 1, 1, 1)]

    /// Every valid geometry of the grid: two threads for all, one thread for the 3x3 stride-1 padding-1
    /// layers (the Winograd tile depends on the images per thread).
    static var geometries: [Geometry] {
        var result: [Geometry] = []
        for (ki, k) in kernels.enumerated() {
            for threads in ki == 3 ? [2, 1] : [2] {
                for (c, o) in channels {
                    for n in batches {
                        for (h, w) in sizes {
                            let g = Geometry(n: n, c: c, h: h, w: w, o: o, kh: k.0, kw: k.1, sh: k.2, sw: k.3, ph: k.4,
                                             pw: k.5, dh: k.6, dw: k.7, groups: k.8, threads: threads)
                            if g.isValid { result.append(g) }
                        }
                    }
                }
            }
        }
        return result
    }
}
