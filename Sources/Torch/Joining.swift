/// Joining and splitting: cat, stack, chunk, split.

enum JoinValidation {
    /// The resolved dim and output shape of concatenating `shapes` along `dim`.
    static func cat(_ shapes: [[Int]], dtypes: [DType], dim: Int, op: String = "cat") -> Result<(dim: Int, shape: [Int]), OpFailure> {
        guard let first = shapes.first else {
            return .failure(OpFailure(op: op, message: "expected a non-empty list of tensors"))
        }
        guard Set(dtypes).count == 1 else {
            return .failure(OpFailure(op: op, message: "all tensors must have the same dtype, got \(dtypes.map(\.description))"))
        }
        guard !first.isEmpty else {
            return .failure(OpFailure(op: op, message: "zero-dimensional tensor (shape []) cannot be concatenated"))
        }
        let d: Int
        switch resolveDim(dim, rank: first.count, op: op, shape: first) {
        case .success(let r): d = r
        case .failure(let f): return .failure(f)
        }
        var total = 0
        for (i, s) in shapes.enumerated() {
            let sameOtherDims = s.count == first.count && (0..<s.count).allSatisfy { $0 == d || s[$0] == first[$0] }
            guard sameOtherDims else {
                return .failure(OpFailure(op: op, message: "sizes of tensors must match except in dimension \(dim): tensor 0 has shape "
                                          + "\(describe(shape: first)) but tensor \(i) has shape \(describe(shape: s))"))
            }
            total += s[d]
        }
        var out = first
        out[d] = total
        return .success((d, out))
    }
}

extension Tensor {
    /// Concatenates tensors of equal shape except along `dim` (`torch.cat`).
    public static func cat(_ tensors: [Tensor], dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let (d, outShape) = JoinValidation.cat(tensors.map(\.shape), dtypes: tensors.map(\.dtype), dim: dim)
            .orFail(file: file, line: line)
        if tensors.count == 1 { return tensors[0] }
        let dtype = tensors[0].dtype
        let (outer, total, inner) = outerSizeInner(outShape, d)
        let es = dtype == .int64 ? 8 : 4
        let out = Tensor.makeRaw(shape: outShape, dtype: dtype) { dst in
            var start = 0
            for t in tensors {
                let length = t.shape[d]
                t.withRawElements { src in
                    copyRows(src: src, srcRow: length * inner * es, srcOffset: 0,
                             dst: dst, dstRow: total * inner * es, dstOffset: start * inner * es,
                             outer: outer, bytes: length * inner * es)
                }
                start += length
            }
        }
        let starts = tensors.reduce(into: [0]) { $0.append($0.last! + $1.shape[d]) }
        return Tensor.record(out, "cat", tensors) { g, needs in
            (0..<tensors.count).map { i in
                needs[i] ? g.narrowed(dim: d, start: starts[i], length: starts[i + 1] - starts[i]) : nil
            }
        }
    }

    /// Joins equally shaped tensors along a new dimension `dim` (`torch.stack`).
    public static func stack(_ tensors: [Tensor], dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(!tensors.isEmpty, "stack", "expected a non-empty list of tensors", file: file, line: line)
        let shape = tensors[0].shape
        for (i, t) in tensors.enumerated() where t.shape != shape {
            engineFailure("stack", "expects each tensor to be equal size, but got \(describe(shape: shape)) at entry 0 and "
                          + "\(describe(shape: t.shape)) at entry \(i)", file: file, line: line)
        }
        let d = resolveDim(dim, rank: shape.count + 1, op: "stack", shape: shape).orFail(file: file, line: line)
        return cat(tensors.map { $0.unsqueeze(dim: d) }, dim: d, file: file, line: line)
    }

    /// Splits into `chunks` pieces along `dim`, each of size `ceil(size / chunks)` except possibly
    /// the last (`torch.chunk`); fewer pieces come back when the size is small.
    public func chunk(_ chunks: Int, dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> [Tensor] {
        check(chunks > 0, "chunk", "number of chunks must be positive, got \(chunks)", file: file, line: line)
        let d = resolveDim(dim, rank: rank, op: "chunk", shape: shape).orFail(file: file, line: line)
        let size = rank == 0 ? 1 : shape[d]
        let piece = Swift.max(1, (size + chunks - 1) / chunks)
        return split(piece, dim: d, file: file, line: line)
    }

    /// Splits into pieces of `splitSize` along `dim` (the last may be smaller), `torch.split`.
    public func split(_ splitSize: Int, dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> [Tensor] {
        check(splitSize > 0, "split", "split size must be positive, got \(splitSize)", file: file, line: line)
        check(rank > 0, "split", "cannot split a 0-dim tensor (shape [])", file: file, line: line)
        let d = resolveDim(dim, rank: rank, op: "split", shape: shape).orFail(file: file, line: line)
        return stride(from: 0, to: Swift.max(shape[d], 1), by: splitSize).map {
            narrowed(dim: d, start: $0, length: Swift.min(splitSize, shape[d] - $0))
        }
    }

    /// Splits into pieces of the given sizes along `dim`; they must add up to the dim's size.
    public func split(sizes: [Int], dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> [Tensor] {
        check(rank > 0, "split", "cannot split a 0-dim tensor (shape [])", file: file, line: line)
        let d = resolveDim(dim, rank: rank, op: "split", shape: shape).orFail(file: file, line: line)
        check(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[d], "split",
              "split sizes \(sizes) must be non-negative and sum to \(shape[d]), the size of dim \(dim) of shape \(describe(shape: shape))",
              file: file, line: line)
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return narrowed(dim: d, start: start, length: n)
        }
    }

    /// The slices along `dim`, each with that dim removed (`torch.unbind`).
    public func unbind(dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> [Tensor] {
        check(rank > 0, "unbind", "cannot unbind a 0-dim tensor (shape [])", file: file, line: line)
        let d = resolveDim(dim, rank: rank, op: "unbind", shape: shape).orFail(file: file, line: line)
        return (0..<shape[d]).map { select(dim: d, index: $0) }
    }
}

/// Concatenates tensors along `dim`, `torch.cat`.
public func cat(_ tensors: [Tensor], dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    Tensor.cat(tensors, dim: dim, file: file, line: line)
}

/// Stacks tensors along a new dimension, `torch.stack`.
public func stack(_ tensors: [Tensor], dim: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    Tensor.stack(tensors, dim: dim, file: file, line: line)
}
