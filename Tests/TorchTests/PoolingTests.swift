import XCTest
@testable import Torch

final class PoolingTests: XCTestCase {
    // Expected values from make_kernel_expectations.py (PyTorch 2.15) on closedForm([1, 2, 5, 5], 1.7, 0.4).
    private let x = closedForm([1, 2, 5, 5], 1.7, 0.4)

    func testMaxPoolSimpleValues() {
        let y = maxPool2d(Tensor(shape: [1, 1, 4, 4], scalars: (0..<16).map(Float.init)), kernelSize: (2, 2))
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.scalars, [5, 7, 13, 15])
    }

    func testMaxPoolMatchesPyTorch() {
        let y = maxPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
        XCTAssertEqual(y.shape, [1, 2, 3, 3])
        assertClose(y.scalars, [1.726419, 1.981215, 1.981215, 1.388329, 1.981215, 1.981215, 1.388329, 1.947291, 1.947291,
                                1.812661, 1.467588, 1.993518, 1.812661, 1.666502, 1.993518, 1.995238, 1.666502, 1.802808])
        let d = maxPool2d(x, kernelSize: (2, 2), stride: (1, 1), padding: (1, 1), dilation: (2, 2))
        XCTAssertEqual(d.shape, [1, 2, 5, 5])
        assertClose(Array(d.scalars.prefix(10)), [-1.845551, 1.002042, 1.981215, 0.01592637, 1.981215, 1.726419, 1.85759,
                                                   1.726419, 1.85759, -0.974349])
        assertClose(Array(d.scalars.suffix(5)), [1.666502, 0.8818536, 1.666502, 0.8818536, -1.893746])
    }

    func testAvgPoolMatchesPyTorch() {
        let noCount = avgPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false)
        assertClose(noCount.scalars, [0.4154365, -0.2165296, 0.543349, 0.05065404, -0.03125896, 0.08775949, 0.2379056, -0.1866523,
                                      0.5885844, 0.4523641, -0.06196529, -0.1779839, 0.07829835, -0.01518642, -0.01105339,
                                      0.5575382, -0.1339111, 0.03541598])
        let count = avgPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: true)
        assertClose(count.scalars, [0.1846385, -0.144353, 0.2414885, 0.03376935, -0.03125896, 0.05850633, 0.1057358, -0.1244349,
                                    0.261593, 0.2010507, -0.04131019, -0.07910393, 0.0521989, -0.01518642, -0.007368929,
                                    0.2477947, -0.0892741, 0.01574043])
        let ceil = avgPool2d(x, kernelSize: (2, 2), stride: (2, 2), ceilMode: true)
        XCTAssertEqual(ceil.shape, [1, 2, 3, 3])
        assertClose(ceil.scalars, [0.4154365, -0.2950113, 0.801631, 0.2868583, -0.4087384, 0.1559201, -0.8427306, 1.074363,
                                   -0.7032296, 0.4523641, -0.5336659, 0.4609355, -0.4868537, 0.386058, -0.8612261, 0.9374717,
                                   -0.668891, 1.802808])
        XCTAssertEqual(avgPool2d(x, kernelSize: (2, 2)).shape, [1, 2, 2, 2])
    }

    func testAdaptiveAvgPoolMatchesPyTorch() {
        let y = adaptiveAvgPool2d(x, outputSize: (3, 2))
        XCTAssertEqual(y.shape, [1, 2, 3, 2])
        assertClose(y.scalars, [-0.01473887, 0.07053614, -0.008340942, 0.01639603, -0.09284384, 0.140942,
                                0.2180999, -0.2021321, 0.03174059, -0.0278272, 0.1912944, -0.156787])
    }

    func testGlobalAveragePool() {
        let t = randomTensor([3, 4, 5, 6], seed: 1)
        let y = adaptiveAvgPool2d(t, outputSize: (1, 1))
        XCTAssertEqual(y.shape, [3, 4, 1, 1])
        let v = t.scalars
        assertClose(y.scalars, (0..<12).map { p in v[(p * 30)..<(p * 30 + 30)].reduce(0, +) / 30 })
        // Same as a full-size average pool.
        assertClose(y.scalars, avgPool2d(t, kernelSize: (5, 6)).scalars)
    }

    func testMaxPoolGradients() {
        let t = randomTensor([2, 2, 6, 5], seed: 2)  // random values: no ties
        assertGradientsMatch([t], eps: 1e-3) { maxPool2d($0[0], kernelSize: (2, 2)) }
        assertGradientsMatch([t], eps: 1e-3) { maxPool2d($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) }
        assertGradientsMatch([t], eps: 1e-3) { maxPool2d($0[0], kernelSize: (2, 3), stride: (1, 2), padding: (1, 1), dilation: (2, 1)) }
    }

    func testAvgPoolGradients() {
        let t = randomTensor([2, 2, 6, 5], seed: 3)
        assertGradientsMatch([t]) { avgPool2d($0[0], kernelSize: (2, 2)) }
        assertGradientsMatch([t]) { avgPool2d($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false) }
        assertGradientsMatch([t]) { avgPool2d($0[0], kernelSize: (3, 2), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: true) }
    }

    func testAdaptiveAvgPoolGradients() {
        let t = randomTensor([2, 2, 5, 7], seed: 4)
        assertGradientsMatch([t]) { adaptiveAvgPool2d($0[0], outputSize: (3, 2)) }
        assertGradientsMatch([t]) { adaptiveAvgPool2d($0[0], outputSize: (1, 1)) }
        assertGradientsMatch([t]) { adaptiveAvgPool2d($0[0], outputSize: (7, 9)) }  // upsampling windows overlap
    }

    func testUnbatchedInput() {
        let t = randomTensor([3, 4, 4], seed: 5)
        XCTAssertEqual(maxPool2d(t, kernelSize: (2, 2)).shape, [3, 2, 2])
        XCTAssertEqual(avgPool2d(t, kernelSize: (2, 2)).shape, [3, 2, 2])
        XCTAssertEqual(adaptiveAvgPool2d(t, outputSize: (1, 1)).shape, [3, 1, 1])
    }
}

final class MaxPoolNoGradTests: XCTestCase {
    /// The values-only path (no gradient wanted) equals the indexed path for every geometry.
    func testValuesOnlyPathMatchesIndexedPath() {
        let x = randomTensor([2, 3, 13, 21], seed: 31)
        var values = x.scalars
        values[5] = .nan; values[300] = -.infinity
        let input = Tensor(shape: x.shape, scalars: values)
        let configs: [((Int, Int), (Int, Int), (Int, Int), Bool)] = [
            ((3, 3), (2, 2), (1, 1), false), ((2, 2), (2, 2), (0, 0), false), ((3, 3), (2, 2), (1, 1), true),
            ((3, 2), (1, 3), (1, 1), true), ((5, 5), (3, 2), (2, 2), false), ((1, 1), (1, 1), (0, 0), false)]
        for (k, s, p, ceil) in configs {
            let fast = withNoGrad { maxPool2d(input, kernelSize: k, stride: s, padding: p, ceilMode: ceil) }
            let indexed = withGrad { maxPool2d(input.detach().requiringGrad(), kernelSize: k, stride: s, padding: p, ceilMode: ceil) }
            XCTAssertEqual(fast.shape, indexed.shape)
            XCTAssertNil(fast.gradFn)
            XCTAssertNotNil(indexed.gradFn)
            for (a, b) in zip(fast.scalars, indexed.scalars) {
                XCTAssertTrue(a == b || (a.isNaN && b.isNaN), "kernel \(k) stride \(s) padding \(p) ceil \(ceil): \(a) vs \(b)")
            }
        }
    }

    /// Ties (common after a ReLU) route the gradient to the first maximum in row-major window order,
    /// as PyTorch does; checked against a naive reference.
    func testGradientGoesToFirstMaximumOfEachWindow() {
        let h = 9, w = 11
        let raw = randomTensor([2, 2, h, w], seed: 32).scalars.map { max(0, ($0 * 2).rounded()) }  // many zeros and ties
        var values = raw
        values[17] = .nan
        let configs: [((Int, Int), (Int, Int), (Int, Int), Bool)] = [
            ((3, 3), (2, 2), (1, 1), false), ((2, 3), (1, 2), (1, 1), true), ((3, 3), (1, 1), (0, 0), false)]
        for (k, s, p, ceil) in configs {
            let x = Tensor(shape: [2, 2, h, w], scalars: values).requiringGrad()
            let y = maxPool2d(x, kernelSize: k, stride: s, padding: p, ceilMode: ceil)
            let (ho, wo) = (y.shape[2], y.shape[3])
            let g = randomTensor(y.shape, seed: 33)
            y.backward(g)
            var expected = [Float](repeating: 0, count: values.count)
            for plane in 0..<4 {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var best = -Float.infinity, bestIndex = -1
                        for i in (oh * s.0 - p.0)..<(oh * s.0 - p.0 + k.0) where i >= 0 && i < h {
                            for j in (ow * s.1 - p.1)..<(ow * s.1 - p.1 + k.1) where j >= 0 && j < w {
                                let v = values[plane * h * w + i * w + j]
                                if bestIndex < 0 || (!best.isNaN && (v > best || v.isNaN)) { best = v; bestIndex = i * w + j }
                            }
                        }
                        expected[plane * h * w + bestIndex] += g.scalars[plane * ho * wo + oh * wo + ow]
                    }
                }
            }
            XCTAssertEqual(x.grad!.scalars, expected, "kernel \(k) stride \(s) padding \(p) ceil \(ceil)")
        }
    }
}

final class MaxPoolKernelTests: XCTestCase {
    /// The AVX-512 plane kernel, the row-vectorised Swift loops and the plain window loop agree on
    /// values and indices: rows wider than a vector, strides 1-3, padding, ceil mode, NaN, ties, -inf.
    func testPlaneImplementationsAgree() throws {
        let (h, w) = (11, 37)
        var values = randomTensor([3, h, w], seed: 41).scalars.map { max(0, ($0 * 2).rounded()) }  // ties
        values[7] = .nan; values[40] = .nan; values[41] = .nan; values[w * h + 20] = -.infinity
        for i in 0..<w { values[2 * w * h + 3 * w + i] = -.infinity }  // a whole row of -inf
        let input = Tensor(shape: [1, 3, h, w], scalars: values)
        let configs: [((Int, Int), (Int, Int), (Int, Int), Bool)] = [
            ((3, 3), (2, 2), (1, 1), false), ((3, 3), (2, 2), (1, 1), true), ((3, 3), (1, 1), (1, 1), false),
            ((2, 2), (2, 2), (0, 0), true), ((3, 5), (1, 3), (1, 2), true), ((5, 4), (3, 4), (2, 2), false),
            ((1, 1), (1, 1), (0, 0), false), ((2, 3), (2, 1), (0, 1), true)]
        for (k, s, p, ceil) in configs {
            let g = PoolGeometry(op: "test", input: input, kernel: k, stride: s, padding: p, dilation: (1, 1),
                                 ceilMode: ceil, file: #fileID, line: #line)
            let n = 3 * g.ho * g.wo
            func run(kernel: Bool, rowVectorised: Bool, indexed: Bool) -> ([Float], [Int32]) {
                var y = [Float](repeating: 7, count: n), idx = [Int32](repeating: 7, count: n)
                values.withUnsafeBufferPointer { px in
                    y.withUnsafeMutableBufferPointer { py in
                        idx.withUnsafeMutableBufferPointer { pi in
                            g.maxPlanes(0..<3, px.baseAddress!, py.baseAddress!, indexed ? pi.baseAddress! : nil,
                                        kernel: kernel, rowVectorised: rowVectorised)
                        }
                    }
                }
                return (y, idx)
            }
            let reference = run(kernel: false, rowVectorised: false, indexed: true)
            var candidates = [("swift indexed", run(kernel: false, rowVectorised: true, indexed: true), true),
                              ("swift values", run(kernel: false, rowVectorised: true, indexed: false), false)]
            if PoolGeometry.kernelAvailable {
                candidates += [("kernel indexed", run(kernel: true, rowVectorised: true, indexed: true), true),
                               ("kernel values", run(kernel: true, rowVectorised: true, indexed: false), false)]
            }
            for (name, (y, idx), indexed) in candidates {
                for i in 0..<n {
                    let (a, b) = (y[i], reference.0[i])
                    XCTAssertTrue(a == b || (a.isNaN && b.isNaN), "\(name) k \(k) s \(s) p \(p) ceil \(ceil) at \(i): \(a) vs \(b)")
                    if indexed { XCTAssertEqual(idx[i], reference.1[i], "\(name) k \(k) s \(s) p \(p) ceil \(ceil) index at \(i)") }
                }
            }
        }
    }
}
