import CBLAS
import Workbook

/// GFLOP/s of a square row-major sgemm of size `n` on OpenBLAS's own `threads` threads: the
/// reference peak. (The engine keeps OpenBLAS single-threaded and splits products itself; this
/// measures OpenBLAS as any other program would use it.)
func sgemmGFLOPS(n: Int, threads: Int, warmup: Int, runs: Int) -> Double {
    onOpenBLASThreads(threads) { sgemmShapeGFLOPS(m: n, n: n, k: n, warmup: warmup, runs: runs) }
}

/// Runs `body` with OpenBLAS on its own `threads` threads, then sets it back to one (the engine's setting).
private func onOpenBLASThreads<R>(_ threads: Int, _ body: () -> R) -> R {
    openblas_set_num_threads(Int32(threads))
    defer { openblas_set_num_threads(1) }
    return body()
}

/// GFLOP/s of the engine's own `matmul` of two n x n matrices (its GEMM split over its threads).
func engineMatmulGFLOPS(n: Int, warmup: Int, runs: Int) -> Double {
    let a = Tensor.randn([n, n], generator: Generator(seed: 1))
    let b = Tensor.randn([n, n], generator: Generator(seed: 2))
    let seconds = medianSeconds(warmup: warmup, runs: runs) { _ = a.matmul(b) }
    return 2 * Double(n) * Double(n) * Double(n) / seconds / 1e9
}

/// GFLOP/s of one row-major sgemm shape `[m, k] x [k, n]` (optionally with a transposed operand
/// as stored) on OpenBLAS's current threads, for judging how convolution lowerings' GEMM shapes fare.
func sgemmShapeGFLOPS(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, warmup: Int, runs: Int) -> Double {
    let a = Tensor.randn([m * k], generator: Generator(seed: 1))
    let b = Tensor.randn([k * n], generator: Generator(seed: 2))
    var c = [Float](repeating: 0, count: m * n)
    let seconds = a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                medianSeconds(warmup: warmup, runs: runs) {
                    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                                blasint(m), blasint(n), blasint(k), 1, pa.baseAddress!, blasint(transA ? m : k),
                                pb.baseAddress!, blasint(transB ? k : n), 0, pc.baseAddress!, blasint(n))
                }
            }
        }
    }
    return 2 * Double(m) * Double(n) * Double(k) / seconds / 1e9
}

/// `--gemm-shapes`: the GEMMs behind typical small-network convolutions, both orientations.
func printGemmShapes(warmup: Int, runs: Int) {
    print("GEMM shapes (M x K x N)")
    let shapes: [(String, Int, Int, Int)] = [
        ("conv 16ch 28x28 per image", 16, 144, 784),
        ("  transposed orientation", 784, 144, 16),
        ("conv 16ch 28x28 x8 images", 16, 144, 6272),
        ("conv 64ch 7x7 x32 images", 64, 576, 1568),
        ("  transposed orientation", 1568, 576, 64),
        ("r18 layer1 per image", 64, 576, 3136),
        ("r18 layer4 x8 images", 512, 4608, 392),
    ]
    for (name, m, k, n) in shapes {
        let g = onOpenBLASThreads(Threads.count) { sgemmShapeGFLOPS(m: m, n: n, k: k, warmup: warmup, runs: runs) }
        print("\(name.padding(toLength: 30, withPad: " ", startingAt: 0)) \(m)x\(k)x\(n): \(fixed(g)) GFLOP/s")
    }
    print("")
}
