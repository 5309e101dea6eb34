import CBLAS
import CEngineSupport
import Foundation

/// The engine's thread settings: its data-parallel loops, convolution kernels and GEMMs all run on
/// one pool of `count` threads. Work is split into chunks that depend only on the size and thread
/// count, so a fixed seed and thread count give bit-identical results.
///
/// OpenBLAS itself runs single-threaded: `sgemm` splits a large product into column or row blocks
/// on the pool. With OpenBLAS's own workers beside the pool's, three or more threads took turns on
/// two cores, and a worker spinning for the next job delayed the one with work.
public enum Threads {
    nonisolated(unsafe) private static var configured: Int = {
        let env = ProcessInfo.processInfo.environment
        let fromEnv = env["WORKBOOK_THREADS"].flatMap(Int.init) ?? env["OMP_NUM_THREADS"].flatMap(Int.init)
        openblas_set_num_threads(1)
        return max(1, fromEnv ?? ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Number of threads the engine uses (default: all cores, or `WORKBOOK_THREADS`).
    public static var count: Int {
        get { configured }
        set { configured = max(1, newValue) }
    }

    /// True on a thread that is running one of the pool's items, where `run` runs inline.
    static var isInsidePool: Bool { engine_pool_inside() != 0 }

    /// OpenBLAS's core type: "SkylakeX" when the AVX-512 kernels were selected at load time.
    public static var openBLASCoreType: String {
        String(cString: engine_openblas_coretype())
    }

    /// OpenBLAS's own report of its build and selected kernels.
    public static var openBLASConfig: String {
        String(cString: openblas_get_config())
    }

    /// Runs `body(range)` over `0..<n` split into at most `count` contiguous chunks, in parallel
    /// when the work is large enough (`n * costPerItem >= 32_768`). Chunks never overlap.
    @inlinable
    public static func parallelFor(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let threads = count
        if threads <= 1 || n * costPerItem < 32_768 || n < 2 {
            body(0..<n)
            return
        }
        let chunks = min(threads, n)
        run(chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(k)` for `k` in `0..<count` on up to `Threads.count` threads, the caller one of
    /// them, each item on whichever thread is free first, and returns when all are done. Nested
    /// calls run their items in turn. `body(k)` must depend on `k` only, never on the thread.
    public static func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            if count == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { context in
                engine_pool_run(Int32(count), Int32(Threads.count), { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
                }, context)
            }
        }
    }

    /// Sets the number of threads, `torch.set_num_threads`.
    public static func setNumThreads(_ n: Int) { count = n }
}
