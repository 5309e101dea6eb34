// `relu(a + b)`, the last step of every residual block, as one op: one pass over memory forward,
// one masking pass backward (shared by both inputs), and no intermediate sum tensor.

/// `relu(a + b)` in one pass with its own backward. Same-shaped Float32 operands take the fused
/// path; anything else (broadcasting, other dtypes) is computed as `relu(a + b)`.
public func addReLU(_ a: Tensor, _ b: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    guard a.shape == b.shape, a.dtype == .float32, b.dtype == .float32 else {
        return a.add(b, file: file, line: line).relu()
    }
    let n = a.count
    let out = Tensor.make(shape: a.shape) { y in
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                guard let x0 = pa.baseAddress, let x1 = pb.baseAddress, let o = y.baseAddress else { return }
                Threads.parallelFor(n) { r in vectorAdd(x0 + r.lowerBound, x1 + r.lowerBound, o + r.lowerBound, r.count, reLU: true) }
            }
        }
    }
    // The output's values (not the tensor, which would keep itself alive through its gradFn).
    let saved = out.storage
    return Tensor.record(out, "addReLU", [a, b]) { g, needs in
        let masked = maskedByPositive(g, saved)
        return [needs[0] ? masked : nil, needs[1] ? masked : nil]
    }
}

/// `ref > 0 ? g : 0` element-wise: the ReLU backward.
func maskedByPositive(_ g: Tensor, _ ref: [Float]) -> Tensor {
    Tensor.make(shape: g.shape) { out in
        g.storage.withUnsafeBufferPointer { pg in
            ref.withUnsafeBufferPointer { pr in
                guard let gp = pg.baseAddress, let rp = pr.baseAddress, let o = out.baseAddress else { return }
                Threads.parallelFor(out.count) { r in
                    vectorMaskPositive(gp + r.lowerBound, rp + r.lowerBound, o + r.lowerBound, r.count)
                }
            }
        }
    }
}
