// Matrix products on OpenBLAS sgemm: matmul (1-D, 2-D and batched with broadcast batch
// dimensions, like torch.matmul) and linear. Transposes are passed to sgemm, never copied.

/// Matrix product with `torch.matmul` semantics: 1-D x 1-D is a dot product, a 1-D left (right)
/// argument gets a temporary leading (trailing) dimension of 1, and leading batch dimensions
/// broadcast against each other.
public func matmul(_ a: Tensor, _ b: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    requireFloat(a, "matmul", "left argument", file: file, line: line)
    requireFloat(b, "matmul", "right argument", file: file, line: line)
    check(a.rank >= 1 && b.rank >= 1, "matmul",
          "both arguments need at least one dimension, got shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape))",
          file: file, line: line)
    let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
    let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
    let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
    let kb = bShape[bShape.count - 2], n = bShape[bShape.count - 1]
    check(k == kb, "matmul",
          "shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape)) cannot be multiplied (\(k) columns vs \(kb) rows)",
          file: file, line: line)
    let batchA = Array(aShape.dropLast(2)), batchB = Array(bShape.dropLast(2))
    guard let batch = Shape.broadcast(batchA, batchB) else {
        engineFailure("matmul", "batch dimensions of \(describe(shape: a.shape)) and \(describe(shape: b.shape)) cannot be broadcast together",
                      file: file, line: line)
    }
    var outShape = batch
    if a.rank > 1 { outShape.append(m) }
    if b.rank > 1 { outShape.append(n) }

    if a.count == 0 || b.count == 0 { return emptyResult(outShape, "matmul", [a, b]) }
    let plan = MatmulPlan(batch: batch, batchA: batchA, batchB: batchB, m: m, n: n, k: k)
    let aData = a.storage, bData = b.storage
    let out = Tensor.make(shape: outShape) { o in
        aData.withUnsafeBufferPointer { pa in
            bData.withUnsafeBufferPointer { pb in plan.forward(pa.baseAddress!, pb.baseAddress!, o.baseAddress!) }
        }
    }
    let (shapeA, shapeB) = (a.shape, b.shape)
    return Tensor.record(out, "matmul", [a, b]) { g, needs in
        var ga: Tensor?, gb: Tensor?
        g.storage.withUnsafeBufferPointer { pg in
            if needs[0] {
                KernelCounters.matmulLeftGradients += 1
                ga = plan.foldsLeftBatch ? Tensor.make(shape: shapeA) { _ in } : zeroTensor(shapeA)
                ga!.storage.withUnsafeMutableBufferPointer { pga in
                    bData.withUnsafeBufferPointer { pb in plan.gradLeft(pg.baseAddress!, pb.baseAddress!, pga.baseAddress!) }
                }
            }
            if needs[1] {
                KernelCounters.matmulRightGradients += 1
                gb = plan.foldsLeftBatch ? Tensor.make(shape: shapeB) { _ in } : zeroTensor(shapeB)
                gb!.storage.withUnsafeMutableBufferPointer { pgb in
                    aData.withUnsafeBufferPointer { pa in plan.gradRight(pg.baseAddress!, pa.baseAddress!, pgb.baseAddress!) }
                }
            }
        }
        return [ga, gb]
    }
}

extension Tensor {
    /// Matrix product, `torch.matmul(self, other)`.
    public func matmul(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Torch.matmul(self, other, file: file, line: line)
    }
}

/// `input @ weight.T + bias`, with input `[*, in]`, weight `[out, in]`, bias `[out]`
/// (`torch.nn.functional.linear`).
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor?, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    requireFloat(input, "linear", "input", file: file, line: line)
    requireFloat(weight, "linear", "weight", file: file, line: line)
    check(weight.rank == 2, "linear", "weight must be 2-D [out, in], got \(describe(shape: weight.shape))", file: file, line: line)
    check(input.rank >= 1, "linear", "input must have at least one dimension, got a scalar", file: file, line: line)
    let outFeatures = weight.shape[0], inFeatures = weight.shape[1]
    check(input.shape.last! == inFeatures, "linear",
          "input \(describe(shape: input.shape)) has \(input.shape.last!) features but weight \(describe(shape: weight.shape)) expects \(inFeatures)",
          file: file, line: line)
    if let bias {
        requireFloat(bias, "linear", "bias", file: file, line: line)
        check(bias.shape == [outFeatures], "linear",
              "bias \(describe(shape: bias.shape)) does not match weight \(describe(shape: weight.shape)); expected [\(outFeatures)]",
              file: file, line: line)
    }
    let rows = inFeatures == 0 ? Shape.count(Array(input.shape.dropLast())) : input.count / inFeatures
    let outShape = Array(input.shape.dropLast()) + [outFeatures]
    if rows == 0 || outFeatures == 0 {
        return emptyResult(outShape, "linear", bias.map { [input, weight, $0] } ?? [input, weight])
    }
    let xData = input.storage, wData = weight.storage
    let out = Tensor.make(shape: outShape) { o in
        let y = o.baseAddress!
        var beta: Float = 0
        if let bias {
            bias.storage.withUnsafeBufferPointer { pb in
                for r in 0..<rows { (y + r * outFeatures).update(from: pb.baseAddress!, count: outFeatures) }
            }
            beta = 1
        }
        xData.withUnsafeBufferPointer { px in
            wData.withUnsafeBufferPointer { pw in
                sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, px.baseAddress!, lda: inFeatures,
                      pw.baseAddress!, ldb: inFeatures, beta: beta, y, ldc: outFeatures)
            }
        }
    }
    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    let inputShape = input.shape, weightShape = weight.shape
    return Tensor.record(out, "linear", inputs) { g, needs in
        var grads: [Tensor?] = [nil, nil, nil]
        g.storage.withUnsafeBufferPointer { pg in
            let gp = pg.baseAddress!
            if needs[0] {
                grads[0] = Tensor.make(shape: inputShape) { gx in
                    wData.withUnsafeBufferPointer { pw in
                        sgemm(m: rows, n: inFeatures, k: outFeatures, gp, lda: outFeatures, pw.baseAddress!, ldb: inFeatures,
                              gx.baseAddress!, ldc: inFeatures)
                    }
                }
            }
            if needs[1] {
                grads[1] = Tensor.make(shape: weightShape) { gw in
                    xData.withUnsafeBufferPointer { px in
                        sgemm(transA: true, m: outFeatures, n: inFeatures, k: rows, gp, lda: outFeatures,
                              px.baseAddress!, ldb: inFeatures, gw.baseAddress!, ldc: inFeatures)
                    }
                }
            }
            if needs.count > 2 && needs[2] {
                grads[2] = Tensor.make(shape: [outFeatures]) { gb in
                    columnSums(gp, rows: rows, columns: outFeatures, into: gb.baseAddress!)
                }
            }
        }
        return Array(grads.prefix(inputs.count))
    }
}

/// `out[j] = sum_i m[i, j]`, accumulated row by row (vectorizes, deterministic).
func columnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
    out.update(repeating: 0, count: columns)
    for r in 0..<rows {
        let row = m + r * columns
        for j in 0..<columns { out[j] += row[j] }
    }
}

/// The batch layout of one matmul: offsets of every batch's matrices, and whether the left
/// argument's batch can be folded into one tall GEMM (right argument without batch dimensions).
struct MatmulPlan {
    let m: Int, n: Int, k: Int
    let batchCount: Int
    let aOffsets: [Int], bOffsets: [Int]
    let foldsLeftBatch: Bool

    init(batch: [Int], batchA: [Int], batchB: [Int], m: Int, n: Int, k: Int) {
        self.m = m; self.n = n; self.k = k
        batchCount = Shape.count(batch)
        foldsLeftBatch = batchB.isEmpty
        if foldsLeftBatch {
            aOffsets = []; bOffsets = []
            return
        }
        let sa = Broadcasting.strides(of: batchA, in: batch), sb = Broadcasting.strides(of: batchB, in: batch)
        var ao = [Int](repeating: 0, count: batchCount), bo = [Int](repeating: 0, count: batchCount)
        for i in 0..<batchCount {
            var rem = i, oa = 0, ob = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                let idx = rem % batch[d]
                rem /= batch[d]
                oa += idx * sa[d]; ob += idx * sb[d]
            }
            ao[i] = oa * m * k; bo[i] = ob * k * n
        }
        aOffsets = ao; bOffsets = bo
    }

    func forward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
        if foldsLeftBatch {
            sgemm(m: batchCount * m, n: n, k: k, a, lda: k, b, ldb: n, c, ldc: n)
            return
        }
        for i in 0..<batchCount {
            sgemm(m: m, n: n, k: k, a + aOffsets[i], lda: k, b + bOffsets[i], ldb: n, c + i * m * n, ldc: n)
        }
    }

    /// dA = dC * B^T; broadcast batches accumulate into the same slice (`ga` zeroed unless folded).
    func gradLeft(_ g: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ ga: UnsafeMutablePointer<Float>) {
        if foldsLeftBatch {
            sgemm(transB: true, m: batchCount * m, n: k, k: n, g, lda: n, b, ldb: n, ga, ldc: k)
            return
        }
        for i in 0..<batchCount {
            sgemm(transB: true, m: m, n: k, k: n, g + i * m * n, lda: n, b + bOffsets[i], ldb: n,
                  beta: 1, ga + aOffsets[i], ldc: k)
        }
    }

    /// dB = A^T * dC; broadcast batches accumulate (`gb` zeroed unless folded).
    func gradRight(_ g: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ gb: UnsafeMutablePointer<Float>) {
        if foldsLeftBatch {
            sgemm(transA: true, m: k, n: n, k: batchCount * m, a, lda: k, g, ldb: n, gb, ldc: n)
            return
        }
        for i in 0..<batchCount {
            sgemm(transA: true, m: k, n: n, k: m, a + aOffsets[i], lda: k, g + i * m * n, ldb: n,
                  beta: 1, gb + bOffsets[i], ldc: n)
        }
    }
}
