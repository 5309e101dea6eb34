import CBLAS
import Foundation

// Shared plumbing of the numerical kernels: the sgemm call, a pool of scratch buffers, and
// counters tests use to prove that skipped gradients really were skipped.

/// Row-major `C = alpha * op(A) * op(B) + beta * C` through OpenBLAS.
/// `op(A)` is m x k, `op(B)` is k x n; leading dimensions are the row lengths as stored.
/// Large products are split into blocks of C's columns (or rows, when it has more rows) that the
/// engine's threads compute at once, each with single-threaded OpenBLAS; inside a pool item the
/// product runs whole on the calling thread.
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS would read nothing from A and B; only the scaling of C remains.
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 { row.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { row[j] *= beta } }
        }
        return
    }
    // Blocks of C's columns (or rows, when it has more), in whole 16-float lines; products below
    // OpenBLAS's own threading threshold, or on a pool thread already, stay whole.
    let byRows = m > n, extent = byRows ? m : n
    let threads = Threads.count  // also makes OpenBLAS single-threaded before its first use
    let parts = Double(m) * Double(n) * Double(k) < 262_144 || Threads.isInsidePool ? 1 : min(threads, extent / 32)
    func block(_ lo: Int, _ hi: Int) {
        let rows = byRows ? hi - lo : m, columns = byRows ? n : hi - lo
        let (aBlock, bBlock, cBlock) = byRows
            ? (transA ? a + lo : a + lo * lda, b, c + lo * ldc)
            : (a, transB ? b + lo * ldb : b + lo, c + lo)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(rows), blasint(columns), blasint(k), alpha, aBlock, blasint(lda), bBlock, blasint(ldb),
                    beta, cBlock, blasint(ldc))
    }
    if parts <= 1 { return block(0, extent) }
    Threads.run(parts) { part in
        let lo = part == 0 ? 0 : extent * part / parts / 16 * 16
        let hi = part == parts - 1 ? extent : extent * (part + 1) / parts / 16 * 16
        block(lo, hi)
    }
}

/// Reusable scratch memory for im2col columns and gathered gradients. Large fresh allocations
/// are page-faulted in on every call; keeping a few buffers around avoids that per layer.
final class ScratchPool: @unchecked Sendable {
    static let shared = ScratchPool()
    private let lock = NSLock()
    private var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private let maxKept = 6

    /// Runs `body` with an uninitialized buffer of at least `count` floats.
    func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let buffer = take(max(count, 1))
        defer { give(buffer) }
        return body(buffer.pointer)
    }

    private func take(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        var best: Int?
        for (i, b) in free.enumerated() where b.capacity >= count {
            if best == nil || b.capacity < free[best!].capacity { best = i }
        }
        if let best {
            let b = free.remove(at: best)
            lock.unlock()
            return b
        }
        lock.unlock()
        // Cache-line aligned: kernels that pad their rows to whole vectors then load whole lines.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: count), count)
    }

    private func give(_ buffer: (pointer: UnsafeMutablePointer<Float>, capacity: Int)) {
        lock.lock()
        free.append(buffer)
        if free.count > maxKept {
            // Drop the smallest: big buffers are the expensive ones to recreate.
            let i = free.indices.min { free[$0].capacity < free[$1].capacity }!
            free[i].pointer.deallocate()
            free.remove(at: i)
        }
        lock.unlock()
    }
}

/// How often the expensive backward paths ran; tests check that frozen weights skip theirs (and
/// that shapes meant for a path take it).
enum KernelCounters {
    nonisolated(unsafe) static var conv2dWeightGradients = 0
    nonisolated(unsafe) static var conv2dInputGradients = 0
    nonisolated(unsafe) static var matmulLeftGradients = 0
    nonisolated(unsafe) static var matmulRightGradients = 0
    nonisolated(unsafe) static var convTilesInParallel = 0
}

/// Converts a Float32 storage array to a tensor without copying.
@inline(__always)
func floatTensor(_ shape: [Int], _ values: [Float]) -> Tensor {
    Tensor(shape: shape, dtype: .float32, storage: values, int64Storage: [])
}

/// A zero-filled Float32 tensor.
@inline(__always)
func zeroTensor(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, dtype: .float32, storage: [Float](repeating: 0, count: Shape.count(shape)), int64Storage: [])
}

/// Checks that `t` holds Float32 values, naming the op and argument otherwise.
@inline(__always)
func requireFloat(_ t: Tensor, _ op: String, _ what: String, file: StaticString, line: UInt) {
    check(t.dtype == .float32, op, "\(what) must be a Float32 tensor, got \(t.dtype) of shape \(describe(shape: t.shape)); call .float() first",
          file: file, line: line)
}

/// Runs `body` with a mutable pointer to `t`'s Float32 storage, or nil when there is no tensor
/// (kernels and optimizers with optional outputs or state).
@inline(__always)
public func withOptionalMutablePointer<R>(_ t: Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.storage.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}

/// The result of an op on empty tensors (a batch of 0, say): zeros of `shape`, with zero
/// gradients, so kernels never touch the missing buffers.
func emptyResult(_ shape: [Int], _ name: String, _ inputs: [Tensor]) -> Tensor {
    let shapes = inputs.map(\.shape)
    return Tensor.record(zeroTensor(shape), name, inputs) { _, needs in
        zip(shapes, needs).map { $1 ? zeroTensor($0) : nil }
    }
}

/// glibc hands every allocation above 128 KB-ish straight to mmap and returns it on free, so each
/// new activation tensor is page-faulted and zeroed by the kernel again (measured: 10-15% of a
/// small-ResNet train step). Keeping freed blocks up to 32 MB in the heap lets the next layer's
/// tensors reuse them.
enum MemoryTuning {
    static let applied: Bool = {
        #if os(Linux)
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 32 << 20)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 512 << 20)
        #endif
        return true
    }()
}

#if os(Linux)
// <malloc.h> is not part of the Glibc module map.
@_silgen_name("mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif

/// `body` with a pointer to `values`' elements, or nil.
func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let values else { return body(nil) }
    return values.withUnsafeBufferPointer { body($0.baseAddress!) }
}
