import XCTest
@testable import Torch

final class MatmulTests: XCTestCase {
    /// torch.matmul by definition: promote 1-D arguments, broadcast batch dims, sum products.
    private func referenceMatmul(_ a: Tensor, _ b: Tensor) -> [Float] {
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape.last!, n = bShape.last!
        let batchA = Array(aShape.dropLast(2)), batchB = Array(bShape.dropLast(2))
        let batch = Shape.broadcast(batchA, batchB)!
        let av = a.scalars, bv = b.scalars
        func offset(_ index: [Int], in sub: [Int]) -> Int {
            var o = 0
            let shift = index.count - sub.count
            for (d, size) in sub.enumerated() { o = o * size + (size == 1 ? 0 : index[d + shift]) }
            return o
        }
        var out: [Float] = []
        for flat in 0..<Shape.count(batch) {
            var index = [Int](repeating: 0, count: batch.count), rem = flat
            for d in stride(from: batch.count - 1, through: 0, by: -1) { index[d] = rem % batch[d]; rem /= batch[d] }
            let ao = offset(index, in: batchA) * m * k, bo = offset(index, in: batchB) * k * n
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<k { s += av[ao + i * k + p] * bv[bo + p * n + j] }
                    out.append(s)
                }
            }
        }
        return out
    }

    private let cases: [([Int], [Int], [Int])] = [
        ([3, 4], [4, 5], [3, 5]),
        ([4], [4, 2], [2]),
        ([3, 4], [4], [3]),
        ([6], [6], []),
        ([2, 3, 4], [4, 5], [2, 3, 5]),
        ([3, 4], [2, 4, 5], [2, 3, 5]),
        ([2, 1, 3, 4], [1, 3, 4, 2], [2, 3, 3, 2]),
        ([2, 3, 4], [4], [2, 3]),
        ([4], [2, 4, 3], [2, 3]),
        ([7, 1], [1, 6], [7, 6]),
    ]

    func testMatchesReferenceOnManyShapes() {
        for (i, (sa, sb, so)) in cases.enumerated() {
            let a = randomTensor(sa, seed: UInt64(10 + i)), b = randomTensor(sb, seed: UInt64(50 + i))
            let y = matmul(a, b)
            XCTAssertEqual(y.shape, so, "case \(sa) x \(sb)")
            assertClose(y.scalars, referenceMatmul(a, b))
            XCTAssertEqual(a.matmul(b).scalars, y.scalars)
        }
    }

    func testGradientsOnManyShapes() {
        for (i, (sa, sb, _)) in cases.enumerated() {
            let a = randomTensor(sa, seed: UInt64(100 + i)), b = randomTensor(sb, seed: UInt64(200 + i))
            assertGradientsMatch([a, b]) { matmul($0[0], $0[1]) }
        }
    }

    func testLargerMatrixAgainstReference() {
        let a = randomTensor([37, 65], seed: 1), b = randomTensor([65, 29], seed: 2)
        assertClose(matmul(a, b).scalars, referenceMatmul(a, b), tolerance: 1e-4)
    }

    func testBackwardComputesOnlyTheNeededSide() {
        let a = randomTensor([2, 3, 4], seed: 3).requiringGrad()
        let b = randomTensor([4, 5], seed: 4)
        let left = KernelCounters.matmulLeftGradients, right = KernelCounters.matmulRightGradients
        matmul(a, b).backward(Tensor.ones([2, 3, 5]))
        XCTAssertEqual(KernelCounters.matmulLeftGradients, left + 1)
        XCTAssertEqual(KernelCounters.matmulRightGradients, right)
        XCTAssertNil(b.grad)
        // d(sum(a @ b))/da[i, p] = sum_j b[p, j]
        let rowSums = (0..<4).map { p in (0..<5).reduce(Float(0)) { $0 + b.scalars[p * 5 + $1] } }
        assertClose(a.grad!.scalars, (0..<6).flatMap { _ in rowSums })
    }

    func testLinearMatchesMatmulWithTransposedWeight() {
        let x = randomTensor([2, 3, 4], seed: 5), w = randomTensor([6, 4], seed: 6), bias = randomTensor([6], seed: 7)
        let y = linear(x, weight: w, bias: bias)
        XCTAssertEqual(y.shape, [2, 3, 6])
        var wt = [Float](repeating: 0, count: 24)
        for o in 0..<6 { for i in 0..<4 { wt[i * 6 + o] = w.scalars[o * 4 + i] } }
        let expected = referenceMatmul(x, Tensor(wt, shape: [4, 6]))
        assertClose(y.scalars, (0..<36).map { expected[$0] + bias.scalars[$0 % 6] })
        XCTAssertEqual(linear(x, weight: w, bias: nil).shape, [2, 3, 6])
        XCTAssertEqual(linear(Tensor([1, 2, 3, 4]), weight: w, bias: nil).shape, [6])
    }

    func testLinearGradients() {
        let x = randomTensor([5, 4], seed: 8), w = randomTensor([3, 4], seed: 9), b = randomTensor([3], seed: 10)
        assertGradientsMatch([x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        assertGradientsMatch([x, w]) { linear($0[0], weight: $0[1], bias: nil) }
        let x3 = randomTensor([2, 2, 4], seed: 11)
        assertGradientsMatch([x3, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) }
    }

    func testFrozenLinearWeightGetsNoGradient() {
        let x = randomTensor([5, 4], seed: 12), w = randomTensor([3, 4], seed: 13), b = randomTensor([3], seed: 14)
        assertGradientsMatch([x]) { linear($0[0], weight: w, bias: b) }
        XCTAssertNil(w.grad)
        XCTAssertNil(b.grad)
    }
}
