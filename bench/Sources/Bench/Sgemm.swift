import CBLAS
import Workbook

/// GFLOP/s of a square row-major sgemm of size `n`, with the engine's current thread count.
func sgemmGFLOPS(n: Int, warmup: Int, runs: Int) -> Double {
    let a = Tensor.randn([n, n], generator: Generator(seed: 1))
    let b = Tensor.randn([n, n], generator: Generator(seed: 2))
    var c = [Float](repeating: 0, count: n * n)
    let seconds = a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                medianSeconds(warmup: warmup, runs: runs) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(n), blasint(n), 1,
                                pa.baseAddress!, blasint(n), pb.baseAddress!, blasint(n), 0, pc.baseAddress!, blasint(n))
                }
            }
        }
    }
    return 2 * Double(n) * Double(n) * Double(n) / seconds / 1e9
}
