/// Slicing and indexing: narrow, select, subscripts, indexSelect, gather, maskedFill, where.

enum IndexValidation {
    static func narrow(shape: [Int], dim: Int, start: Int, length: Int, op: String = "narrow")
        -> Result<(dim: Int, start: Int), OpFailure> {
        guard !shape.isEmpty else {
            return .failure(OpFailure(op: op, message: "cannot be applied to a 0-dim tensor (shape [])"))
        }
        let d: Int
        switch resolveDim(dim, rank: shape.count, op: op, shape: shape) {
        case .success(let r): d = r
        case .failure(let f): return .failure(f)
        }
        let size = shape[d]
        let s = start < 0 ? start + size : start
        guard s >= 0, s <= size else {
            return .failure(OpFailure(op: op, message: "start \(start) out of range for dim \(dim) of size \(size) (shape \(describe(shape: shape)))"))
        }
        guard length >= 0, s + length <= size else {
            return .failure(OpFailure(op: op, message: "start \(start) + length \(length) exceeds dim \(dim) of size \(size) "
                                      + "(shape \(describe(shape: shape)))"))
        }
        return .success((d, s))
    }

    static func select(shape: [Int], dim: Int, index: Int) -> Result<(dim: Int, index: Int), OpFailure> {
        guard !shape.isEmpty else {
            return .failure(OpFailure(op: "select", message: "cannot index a 0-dim tensor (shape [])"))
        }
        let d: Int
        switch resolveDim(dim, rank: shape.count, op: "select", shape: shape) {
        case .success(let r): d = r
        case .failure(let f): return .failure(f)
        }
        let size = shape[d]
        guard index >= -size, index < size else {
            return .failure(OpFailure(op: "select", message: "index \(index) is out of bounds for dimension \(dim) with size \(size) "
                                      + "(shape \(describe(shape: shape)))"))
        }
        return .success((d, index < 0 ? index + size : index))
    }

    /// Checks Int64 indices lie in `0..<size`, returning the first offending one.
    static func indices(_ index: Tensor, size: Int, op: String, dim: Int, shape: [Int]) -> OpFailure? {
        guard index.dtype == .int64 else {
            return OpFailure(op: op, message: "index must be an Int64 tensor, got \(index.dtype) with shape \(describe(shape: index.shape))")
        }
        for v in index.int64Storage where v < 0 || v >= Int64(size) {
            return OpFailure(op: op, message: "index \(v) is out of bounds for dimension \(dim) with size \(size) "
                             + "(shape \(describe(shape: shape)))")
        }
        return nil
    }
}

extension Tensor {
    // MARK: Narrow and select

    /// The slice `start..<start+length` along `dim` (`torch.narrow`); negative `start` counts from the end.
    public func narrow(dim: Int, start: Int, length: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let (d, s) = IndexValidation.narrow(shape: shape, dim: dim, start: start, length: length).orFail(file: file, line: line)
        return narrowed(dim: d, start: s, length: length)
    }

    func narrowed(dim d: Int, start s: Int, length: Int) -> Tensor {
        if s == 0 && length == shape[d] { return self }
        let (outer, size, inner) = outerSizeInner(shape, d)
        var outShape = shape
        outShape[d] = length
        let es = storedElementSize
        let out = withRawElements { src in
            Tensor.makeRaw(shape: outShape, dtype: dtype) { dst in
                copyRows(src: src, srcRow: size * inner * es, srcOffset: s * inner * es,
                         dst: dst, dstRow: length * inner * es, dstOffset: 0, outer: outer, bytes: length * inner * es)
            }
        }
        let original = shape
        return Tensor.record(out, "slice", [self]) { g, _ in [g.embedded(into: original, dim: d, start: s)] }
    }

    /// Zeros of `outShape` with self placed at `start` along `dim` (the gradient of a slice).
    func embedded(into outShape: [Int], dim d: Int, start s: Int) -> Tensor {
        let (outer, size, inner) = outerSizeInner(outShape, d)
        let length = shape[d]
        let result = Tensor.zerosFloat(outShape)
        result.storage.withUnsafeMutableBytes { dst in
            withRawElements { src in
                copyRows(src: src, srcRow: length * inner * 4, srcOffset: 0,
                         dst: dst.baseAddress!, dstRow: size * inner * 4, dstOffset: s * inner * 4,
                         outer: outer, bytes: length * inner * 4)
            }
        }
        return result
    }

    /// The sub-tensor at `index` along `dim`, with that dimension removed (`torch.select`).
    public func select(dim: Int, index: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let (d, i) = IndexValidation.select(shape: shape, dim: dim, index: index).orFail(file: file, line: line)
        var outShape = shape
        outShape.remove(at: d)
        return narrowed(dim: d, start: i, length: 1).reshaped(to: outShape, name: "select")
    }

    /// `t[i]`: the sub-tensor at index `i` of the first dimension (negative counts from the end).
    public subscript(_ index: Int, file file: StaticString = #fileID, line line: UInt = #line) -> Tensor {
        select(dim: 0, index: index, file: file, line: line)
    }

    /// `t[i, j, ...]`: repeated selection along the leading dimensions.
    public subscript(_ i: Int, _ j: Int, _ rest: Int..., file file: StaticString = #fileID, line line: UInt = #line) -> Tensor {
        var result = select(dim: 0, index: i, file: file, line: line).select(dim: 0, index: j, file: file, line: line)
        for k in rest { result = result.select(dim: 0, index: k, file: file, line: line) }
        return result
    }

    /// `t[2..<5]`, `t[..<3]`, `t[1...]`: a slice of the first dimension.
    public subscript<R: RangeExpression>(_ range: R, file file: StaticString = #fileID, line line: UInt = #line) -> Tensor
        where R.Bound == Int {
        self[dim: 0, range, file: file, line: line]
    }

    /// `t[dim: 1, 0..<2]`: a slice along any dimension.
    public subscript<R: RangeExpression>(dim dim: Int, _ range: R, file file: StaticString = #fileID, line line: UInt = #line) -> Tensor
        where R.Bound == Int {
        check(rank > 0, "slice", "cannot slice a 0-dim tensor (shape [])", file: file, line: line)
        let d = resolveDim(dim, rank: rank, op: "slice", shape: shape).orFail(file: file, line: line)
        let r = range.relative(to: 0..<shape[d])
        check(r.lowerBound >= 0 && r.upperBound <= shape[d], "slice",
              "range \(r) out of bounds for dim \(dim) of size \(shape[d]) (shape \(describe(shape: shape)))", file: file, line: line)
        return narrowed(dim: d, start: r.lowerBound, length: r.count)
    }

    /// `t[dim: 1, 3]`: selection along any dimension (removes it).
    public subscript(dim dim: Int, _ index: Int, file file: StaticString = #fileID, line line: UInt = #line) -> Tensor {
        select(dim: dim, index: index, file: file, line: line)
    }

    // MARK: indexSelect and gather

    /// The entries at the Int64 `index` positions along `dim` (`torch.index_select`); the gradient
    /// scatter-adds back, so repeated indices accumulate.
    public func indexSelect(dim: Int, index: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(index.rank <= 1, "indexSelect", "index must be 0-D or 1-D, got shape \(describe(shape: index.shape))", file: file, line: line)
        check(rank > 0, "indexSelect", "cannot index a 0-dim tensor (shape [])", file: file, line: line)
        let d = resolveDim(dim, rank: rank, op: "indexSelect", shape: shape).orFail(file: file, line: line)
        if let failure = IndexValidation.indices(index, size: shape[d], op: "indexSelect", dim: dim, shape: shape) {
            failure.fail(file: file, line: line)
        }
        let (outer, size, inner) = outerSizeInner(shape, d)
        let picks = index.int64Storage.map(Int.init)
        var outShape = shape
        outShape[d] = picks.count
        let es = storedElementSize
        let out = withRawElements { src in
            Tensor.makeRaw(shape: outShape, dtype: dtype) { dst in
                Threads.parallelFor(outer, costPerItem: picks.count * inner) { range in
                    for o in range {
                        for (j, p) in picks.enumerated() {
                            (dst + ((o * picks.count + j) * inner * es))
                                .copyMemory(from: src + ((o * size + p) * inner * es), byteCount: inner * es)
                        }
                    }
                }
            }
        }
        let original = shape
        return Tensor.record(out, "indexSelect", [self]) { g, _ in
            let result = Tensor.zerosFloat(original)
            result.storage.withUnsafeMutableBufferPointer { r in
                g.storage.withUnsafeBufferPointer { gp in
                    let rp = r.baseAddress!, gb = gp.baseAddress!
                    Threads.parallelFor(outer, costPerItem: picks.count * inner) { range in
                        for o in range {
                            for (j, p) in picks.enumerated() {
                                let to = rp + (o * size + p) * inner, from = gb + (o * picks.count + j) * inner
                                for k in 0..<inner { to[k] += from[k] }
                            }
                        }
                    }
                }
            }
            return [result]
        }
    }

    /// Values picked along `dim` by an Int64 `index` of the same rank (`torch.gather`):
    /// `out[i][j] = self[i][index[i][j]]` for `dim == 1`.
    public func gather(dim: Int, index: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let d = resolveDim(dim, rank: rank, op: "gather", shape: shape).orFail(file: file, line: line)
        check(index.rank == rank, "gather", "index shape \(describe(shape: index.shape)) must have the same rank as input shape "
              + "\(describe(shape: shape))", file: file, line: line)
        for i in 0..<rank where i != d {
            check(index.shape[i] <= shape[i], "gather", "index shape \(describe(shape: index.shape)) is larger than input shape "
                  + "\(describe(shape: shape)) at dim \(i)", file: file, line: line)
        }
        if let failure = IndexValidation.indices(index, size: rank == 0 ? 1 : shape[d], op: "gather", dim: dim, shape: shape) {
            failure.fail(file: file, line: line)
        }
        let offsets = gatherOffsets(index: index, dim: d)
        let out: Tensor
        if dtype == .int64 {
            out = Tensor.makeInt64(shape: index.shape) { o in for (i, off) in offsets.enumerated() { o[i] = int64Storage[off] } }
        } else {
            out = Tensor.makeRaw(shape: index.shape, dtype: dtype) { raw in
                let o = raw.assumingMemoryBound(to: Float.self)
                storage.withUnsafeBufferPointer { s in for (i, off) in offsets.enumerated() { o[i] = s[off] } }
            }
        }
        let original = shape
        return Tensor.record(out, "gather", [self]) { g, _ in
            let result = Tensor.zerosFloat(original)
            result.storage.withUnsafeMutableBufferPointer { r in
                g.storage.withUnsafeBufferPointer { gp in for (i, off) in offsets.enumerated() { r[off] += gp[i] } }
            }
            return [result]
        }
    }

    /// For every element of `index`, the flat offset it selects in self.
    private func gatherOffsets(index: Tensor, dim: Int) -> [Int] {
        let strides = Shape.strides(shape)
        let ishape = index.shape
        var counter = [Int](repeating: 0, count: ishape.count)
        var offsets = [Int](repeating: 0, count: index.count)
        for i in 0..<index.count {
            var off = 0
            for k in 0..<counter.count {
                off += (k == dim ? Int(index.int64Storage[i]) : counter[k]) * strides[k]
            }
            offsets[i] = off
            var k = counter.count - 1
            while k >= 0 {
                counter[k] += 1
                if counter[k] < ishape[k] { break }
                counter[k] = 0
                k -= 1
            }
        }
        return offsets
    }

    // MARK: Masking

    /// Self with `value` wherever `mask` (Bool, broadcastable to self's shape) is true.
    public func maskedFill(_ mask: Tensor, _ value: Float, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(mask.dtype == .bool, "maskedFill", "mask must be a Bool tensor, got \(mask.dtype)", file: file, line: line)
        check(dtype != .int64, "maskedFill", "Int64 input is not supported; call .float() first", file: file, line: line)
        check(Shape.broadcast(mask.shape, shape) == shape, "maskedFill",
              "mask of shape \(describe(shape: mask.shape)) cannot be broadcast to shape \(describe(shape: shape))", file: file, line: line)
        let m = mask.expandData(to: shape)
        let out = Tensor.binaryKernel(self, m, outShape: shape) { x, k in k != 0 ? value : x }
        return Tensor.record(out, "maskedFill", [self]) { g, _ in
            [Tensor.binaryKernel(g, m, outShape: g.shape) { x, k in k != 0 ? 0 : x }]
        }
    }

    /// Elements of `a` where `condition` is true, else of `b`, all three broadcast together
    /// (`torch.where`).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor,
                               file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(condition.dtype == .bool, "where", "condition must be a Bool tensor, got \(condition.dtype)", file: file, line: line)
        check(a.dtype != .int64 && b.dtype != .int64, "where", "Int64 operands are not supported; call .float() first",
              file: file, line: line)
        guard let ab = Shape.broadcast(a.shape, b.shape), let outShape = Shape.broadcast(condition.shape, ab) else {
            engineFailure("where", "shapes \(describe(shape: condition.shape)), \(describe(shape: a.shape)) and "
                          + "\(describe(shape: b.shape)) cannot be broadcast together", file: file, line: line)
        }
        let c = condition.expandData(to: outShape)
        let x = a.float().expandData(to: outShape), y = b.float().expandData(to: outShape)
        let out = Tensor.make(shape: outShape) { o in
            c.storage.withUnsafeBufferPointer { cp in
                x.storage.withUnsafeBufferPointer { xp in
                    y.storage.withUnsafeBufferPointer { yp in
                        for i in 0..<o.count { o[i] = cp[i] != 0 ? xp[i] : yp[i] }
                    }
                }
            }
        }
        let (sa, sb) = (a.shape, b.shape)
        return Tensor.record(out, "where", [a, b]) { g, needs in
            [needs[0] ? Broadcasting.reduce(Tensor.binaryKernel(g, c, outShape: g.shape) { v, k in k != 0 ? v : 0 }, to: sa) : nil,
             needs[1] ? Broadcasting.reduce(Tensor.binaryKernel(g, c, outShape: g.shape) { v, k in k != 0 ? 0 : v }, to: sb) : nil]
        }
    }

    /// `where` with a scalar for the false branch.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Float,
                               file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Tensor.where(condition, a, Tensor(b), file: file, line: line)
    }

    /// `where` with a scalar for the true branch.
    public static func `where`(_ condition: Tensor, _ a: Float, _ b: Tensor,
                               file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Tensor.where(condition, Tensor(a), b, file: file, line: line)
    }
}
