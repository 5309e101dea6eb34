import XCTest
@testable import Torch

/// `sgemm`'s split of large products over the engine's threads (blocks of C's columns or rows),
/// against a double-precision reference.
final class SgemmTests: XCTestCase {
    private let before = Threads.count

    override func tearDown() {
        Threads.count = before
    }

    private struct Case {
        let m: Int, n: Int, k: Int
        let transA: Bool, transB: Bool
        let alpha: Float, beta: Float
    }

    /// Runs `sgemm` on matrices stored with leading dimensions 3 wider than needed (so a block that
    /// used the wrong stride or offset reads or writes the wrong numbers) and returns C with the
    /// reference and the largest error allowed.
    private func run(_ t: Case, seed: UInt64) -> (c: [Float], reference: [Double], tolerance: Double, ldc: Int) {
        var rng = SplitMix(seed)
        let (aRows, aColumns) = t.transA ? (t.k, t.m) : (t.m, t.k)
        let (bRows, bColumns) = t.transB ? (t.n, t.k) : (t.k, t.n)
        let lda = aColumns + 3, ldb = bColumns + 3, ldc = t.n + 3
        let a = (0..<aRows * lda).map { _ in rng.uniform() }
        let b = (0..<bRows * ldb).map { _ in rng.uniform() }
        var c = (0..<t.m * ldc).map { _ in rng.uniform() }
        func aAt(_ i: Int, _ p: Int) -> Double { Double(t.transA ? a[p * lda + i] : a[i * lda + p]) }
        func bAt(_ p: Int, _ j: Int) -> Double { Double(t.transB ? b[j * ldb + p] : b[p * ldb + j]) }
        var reference = c.map(Double.init)
        for i in 0..<t.m {
            for j in 0..<t.n {
                var sum = 0.0
                for p in 0..<t.k { sum += aAt(i, p) * bAt(p, j) }
                reference[i * ldc + j] = Double(t.alpha) * sum + Double(t.beta) * Double(c[i * ldc + j])
            }
        }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, pa.baseAddress!,
                          lda: lda, pb.baseAddress!, ldb: ldb, beta: t.beta, pc.baseAddress!, ldc: ldc)
                }
            }
        }
        return (c, reference, 1e-5 * Double(t.k) + 1e-4, ldc)
    }

    func testSplitProductsMatchTheReference() {
        // Column blocks (n largest), row blocks (m largest, also uneven), a long k, and one product
        // small enough to stay whole.
        let shapes: [(Int, Int, Int)] = [(40, 300, 70), (290, 45, 60), (24, 37, 2_000), (70, 50, 200), (8, 9, 10)]
        for threads in [1, 2, 3] {
            Threads.count = threads
            var seed: UInt64 = 1
            for (m, n, k) in shapes {
                for transA in [false, true] {
                    for transB in [false, true] {
                        for (alpha, beta) in [(Float(1), Float(0)), (2, 1), (0.5, -0.75)] {
                            seed += 1
                            let t = Case(m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta)
                            let (c, reference, tolerance, ldc) = run(t, seed: seed)
                            var worst = 0.0
                            for i in 0..<m {
                                for j in 0..<ldc {
                                    // Padding columns past n must be left as they were.
                                    worst = max(worst, abs(Double(c[i * ldc + j]) - reference[i * ldc + j]))
                                }
                            }
                            XCTAssertLessThan(worst, tolerance, "threads \(threads), \(t)")
                        }
                    }
                }
            }
        }
    }

    func testSplitProductsAreDeterministic() {
        Threads.count = 2
        for (m, n, k) in [(40, 300, 70), (290, 45, 60), (24, 37, 2_000)] {
            let t = Case(m: m, n: n, k: k, transA: false, transB: true, alpha: 1, beta: 1)
            let first = run(t, seed: 7).c
            for _ in 0..<5 { XCTAssertEqual(run(t, seed: 7).c, first, "\(t)") }
        }
    }
}

/// A small fixed-seed generator (uniform values in [-1, 1)).
private struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func uniform() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}
