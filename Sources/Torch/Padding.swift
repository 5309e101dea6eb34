/// Constant padding (`torch.nn.functional.pad` with mode "constant").

enum PadValidation {
    /// Per-dim (before, after) amounts for every dim, and the output shape.
    static func pad(shape: [Int], padding: [Int]) -> Result<(before: [Int], after: [Int], shape: [Int]), OpFailure> {
        guard padding.count % 2 == 0 else {
            return .failure(OpFailure(op: "pad", message: "padding length must be even (pairs of before/after), got \(padding.count): \(padding)"))
        }
        guard padding.count / 2 <= shape.count else {
            return .failure(OpFailure(op: "pad", message: "padding \(padding) pads \(padding.count / 2) dimensions but the input "
                                      + "shape \(describe(shape: shape)) has only \(shape.count)"))
        }
        var before = [Int](repeating: 0, count: shape.count), after = before
        for p in 0..<(padding.count / 2) {
            let d = shape.count - 1 - p
            before[d] = padding[2 * p]
            after[d] = padding[2 * p + 1]
        }
        let out = (0..<shape.count).map { shape[$0] + before[$0] + after[$0] }
        if let d = out.firstIndex(where: { $0 < 0 }) {
            return .failure(OpFailure(op: "pad", message: "padding \(padding) makes dim \(d) of shape \(describe(shape: shape)) negative (\(out[d]))"))
        }
        return .success((before, after, out))
    }
}

extension Tensor {
    /// Pads with `value`. `padding` lists (before, after) amounts starting from the LAST dim, as
    /// in PyTorch: `[left, right]` pads the last dim, `[left, right, top, bottom]` the last two.
    /// Negative amounts crop.
    public func pad(_ padding: [Int], value: Float = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let (before, _, outShape) = PadValidation.pad(shape: shape, padding: padding).orFail(file: file, line: line)
        if outShape == shape && before.allSatisfy({ $0 == 0 }) { return self }
        let out: Tensor
        switch dtype {
        case .int64:
            out = Tensor.makeInt64(shape: outShape) { o in
                int64Storage.withUnsafeBufferPointer { s in
                    padKernel(s.baseAddress, o.baseAddress, inShape: shape, outShape: outShape, before: before, value: Int64(value))
                }
            }
        case .float32, .bool:
            let fill: Float = dtype == .bool ? (value != 0 ? 1 : 0) : value
            out = Tensor.makeRaw(shape: outShape, dtype: dtype) { raw in
                storage.withUnsafeBufferPointer { s in
                    padKernel(s.baseAddress, raw.assumingMemoryBound(to: Float.self), inShape: shape, outShape: outShape,
                              before: before, value: fill)
                }
            }
        }
        let inverse = padding.map { -$0 }
        return Tensor.record(out, "constantPadNd", [self]) { g, _ in [g.pad(inverse)] }
    }
}

/// Pads `value` around the input, dropping input elements that fall outside (negative padding).
private func padKernel<T>(_ src: UnsafePointer<T>?, _ dst: UnsafeMutablePointer<T>?, inShape: [Int], outShape: [Int],
                          before: [Int], value: T) {
    let n = Shape.count(outShape)
    guard n > 0, let dst else { return }
    dst.update(repeating: value, count: n)
    guard let src, Shape.count(inShape) > 0 else { return }
    let rank = inShape.count
    // The input box that lands inside the output, per dim.
    let lo = (0..<rank).map { max(0, -before[$0]) }
    let hi = (0..<rank).map { min(inShape[$0], outShape[$0] - before[$0]) }
    if (0..<rank).contains(where: { lo[$0] >= hi[$0] }) { return }
    let inStrides = Shape.strides(inShape), outStrides = Shape.strides(outShape)
    var index = lo
    let last = rank - 1
    let run = hi[last] - lo[last]
    while true {
        var si = 0, di = 0
        for d in 0..<rank {
            si += index[d] * inStrides[d]
            di += (index[d] + before[d]) * outStrides[d]
        }
        (dst + di).update(from: src + si, count: run)
        var d = last - 1
        while d >= 0 {
            index[d] += 1
            if index[d] < hi[d] { break }
            index[d] = lo[d]
            d -= 1
        }
        if d < 0 { return }
    }
}

/// Constant padding, `torch.nn.functional.pad(input, padding, value=value)`.
public func pad(_ input: Tensor, padding: [Int], value: Float = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    input.pad(padding, value: value, file: file, line: line)
}
