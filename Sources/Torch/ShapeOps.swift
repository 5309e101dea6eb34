/// Shape operations: reshape/view, flatten, squeeze/unsqueeze, permute/transpose, expand, repeat,
/// clone. Storage is always contiguous, so reshapes share storage and permutes copy.

enum ShapeValidation {
    /// The target shape of a reshape with at most one -1 inferred.
    static func reshape(_ from: [Int], to target: [Int], op: String = "reshape") -> Result<[Int], OpFailure> {
        let count = Shape.count(from)
        let inferred = target.indices.filter { target[$0] == -1 }
        if inferred.count > 1 {
            return .failure(OpFailure(op: op, message: "only one dimension can be inferred (-1) in \(describe(shape: target))"))
        }
        if let bad = target.first(where: { $0 < -1 }) {
            return .failure(OpFailure(op: op, message: "invalid size \(bad) in shape \(describe(shape: target))"))
        }
        var result = target
        if let i = inferred.first {
            let known = target.enumerated().reduce(1) { $1.offset == i ? $0 : $0 * $1.element }
            if known == 0 || count % known != 0 {
                return .failure(OpFailure(op: op, message: "shape \(describe(shape: target)) is invalid for input of size \(count) "
                                          + "(input shape \(describe(shape: from)))"))
            }
            result[i] = count / known
        }
        if Shape.count(result) != count {
            return .failure(OpFailure(op: op, message: "shape \(describe(shape: target)) is invalid for input of size \(count) "
                                      + "(input shape \(describe(shape: from)))"))
        }
        return .success(result)
    }

    /// `dims` resolved to a permutation of `0..<shape.count`.
    static func permutation(_ dims: [Int], shape: [Int], op: String = "permute") -> Result<[Int], OpFailure> {
        let rank = shape.count
        guard dims.count == rank else {
            return .failure(OpFailure(op: op, message: "number of dims \(dims.count) in \(dims) does not match "
                                      + "the rank \(rank) of shape \(describe(shape: shape))"))
        }
        var resolved: [Int] = []
        for d in dims {
            switch resolveDim(d, rank: rank, op: op, shape: shape) {
            case .success(let r): resolved.append(r)
            case .failure(let f): return .failure(f)
            }
        }
        guard Set(resolved).count == rank else {
            return .failure(OpFailure(op: op, message: "repeated dim in \(dims) for shape \(describe(shape: shape))"))
        }
        return .success(resolved)
    }

    /// The shape `shape` expands to (-1 keeps a size; new dims may be added on the left).
    static func expand(_ shape: [Int], to target: [Int], op: String = "expand") -> Result<[Int], OpFailure> {
        guard target.count >= shape.count else {
            return .failure(OpFailure(op: op, message: "the number of sizes in \(describe(shape: target)) must be at least "
                                      + "the rank of shape \(describe(shape: shape))"))
        }
        let offset = target.count - shape.count
        var out = target
        for i in 0..<target.count {
            let own = i < offset ? nil : shape[i - offset]
            if target[i] == -1 {
                guard let own else {
                    return .failure(OpFailure(op: op, message: "-1 is not allowed for the new leading dimension \(i) "
                                              + "when expanding \(describe(shape: shape)) to \(describe(shape: target))"))
                }
                out[i] = own
            } else if let own, own != 1, own != target[i] {
                return .failure(OpFailure(op: op, message: "shape \(describe(shape: shape)) cannot be expanded to "
                                          + "\(describe(shape: target)): size \(own) at dim \(i - offset) must be 1 or match \(target[i])"))
            } else if target[i] < 0 {
                return .failure(OpFailure(op: op, message: "invalid size \(target[i]) in \(describe(shape: target))"))
            }
        }
        return .success(out)
    }
}

extension Tensor {
    // MARK: Reshape

    /// The same values with a new shape; one size may be -1 and is inferred (`torch.reshape`).
    public func reshape(_ newShape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let target = ShapeValidation.reshape(shape, to: newShape).orFail(file: file, line: line)
        return reshaped(to: target, name: "view")
    }

    /// Variadic form: `x.reshape(2, -1)`.
    public func reshape(_ dims: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        reshape(dims, file: file, line: line)
    }

    /// Same as `reshape`: storage is always contiguous, so every reshape is a view.
    public func view(_ newShape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let target = ShapeValidation.reshape(shape, to: newShape, op: "view").orFail(file: file, line: line)
        return reshaped(to: target, name: "view")
    }

    /// Variadic form: `x.view(-1, 4)`.
    public func view(_ dims: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        view(dims, file: file, line: line)
    }

    /// Reshapes like `other`'s shape (`view_as`).
    public func viewAs(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        view(other.shape, file: file, line: line)
    }

    func reshaped(to target: [Int], name: String) -> Tensor {
        if target == shape && !requiresGrad { return self }
        let original = shape
        return Tensor.record(withShape(target), name, [self]) { g, _ in [g.withShape(original)] }
    }

    /// Flattens dims `startDim...endDim` into one (`torch.flatten`); a scalar becomes `[1]`.
    public func flatten(startDim: Int = 0, endDim: Int = -1, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        if rank == 0 { return reshaped(to: [1], name: "view") }
        let s = resolveDim(startDim, rank: rank, op: "flatten", shape: shape).orFail(file: file, line: line)
        let e = resolveDim(endDim, rank: rank, op: "flatten", shape: shape).orFail(file: file, line: line)
        check(s <= e, "flatten", "startDim \(startDim) comes after endDim \(endDim) for shape \(describe(shape: shape))",
              file: file, line: line)
        let target = Array(shape[..<s]) + [Shape.count(Array(shape[s...e]))] + Array(shape[(e + 1)...])
        return reshaped(to: target, name: "view")
    }

    /// Removes every dimension of size 1.
    public func squeeze() -> Tensor {
        reshaped(to: shape.filter { $0 != 1 }, name: "squeeze")
    }

    /// Removes dimension `dim` if its size is 1 (otherwise returns the tensor unchanged, as PyTorch).
    public func squeeze(dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let d = resolveDim(dim, rank: rank, op: "squeeze", shape: shape).orFail(file: file, line: line)
        guard rank > 0, shape[d] == 1 else { return self }
        var target = shape
        target.remove(at: d)
        return reshaped(to: target, name: "squeeze")
    }

    /// Inserts a dimension of size 1 at `dim` (`-1` appends).
    public func unsqueeze(dim: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let d = resolveDim(dim, rank: rank + 1, op: "unsqueeze", shape: shape).orFail(file: file, line: line)
        var target = shape
        target.insert(1, at: d)
        return reshaped(to: target, name: "unsqueeze")
    }

    /// Returns self: storage is always contiguous.
    public func contiguous() -> Tensor { self }

    // MARK: Permute

    /// Reorders dimensions: result dim `i` is input dim `dims[i]` (`torch.permute`).
    public func permute(_ dims: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let perm = ShapeValidation.permutation(dims, shape: shape).orFail(file: file, line: line)
        return permuted(perm, name: "permute")
    }

    /// Variadic form: `x.permute(0, 2, 3, 1)`.
    public func permute(_ dims: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        permute(dims, file: file, line: line)
    }

    /// Swaps two dimensions.
    public func transpose(_ dim0: Int, _ dim1: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let a = resolveDim(dim0, rank: rank, op: "transpose", shape: shape).orFail(file: file, line: line)
        let b = resolveDim(dim1, rank: rank, op: "transpose", shape: shape).orFail(file: file, line: line)
        if rank < 2 { return self }
        var perm = Array(0..<rank)
        perm.swapAt(a, b)
        return permuted(perm, name: "transpose")
    }

    /// Transpose of a matrix (vectors and scalars are returned unchanged), `x.t()`.
    public func t(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(rank <= 2, "t", "expects a tensor with <= 2 dimensions, got shape \(describe(shape: shape))", file: file, line: line)
        return rank < 2 ? self : permuted([1, 0], name: "t")
    }

    /// Transpose of a matrix, `x.T`.
    public var T: Tensor { t() }

    func permuted(_ perm: [Int], name: String) -> Tensor {
        if perm == Array(0..<rank) { return self }
        let outShape = perm.map { shape[$0] }
        let out = permuteData(perm, outShape: outShape)
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Tensor.record(out, name, [self]) { g, _ in [g.permuteData(inverse, outShape: inverse.map { g.shape[$0] })] }
    }

    /// Copies the elements into the permuted order, walking the output contiguously.
    func permuteData(_ perm: [Int], outShape: [Int]) -> Tensor {
        let inStrides = Shape.strides(shape)
        let srcStrides = perm.map { inStrides[$0] }
        return withRawElements { src in
            Tensor.makeRaw(shape: outShape, dtype: dtype) { dst in
                if dtype == .int64 {
                    stridedGather(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: Int64.self),
                                  outShape: outShape, srcStrides: srcStrides)
                } else {
                    stridedGather(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Float.self),
                                  outShape: outShape, srcStrides: srcStrides)
                }
            }
        }
    }

    // MARK: Expand, repeat, clone

    /// Broadcasts to `shape` (sizes of 1 are repeated, -1 keeps a size, new dims on the left) as a
    /// copy; the gradient sums back over the broadcast dims.
    public func expand(to newShape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let target = ShapeValidation.expand(shape, to: newShape).orFail(file: file, line: line)
        if target == shape { return self }
        let original = shape
        return Tensor.record(expandData(to: target), "expand", [self]) { g, _ in [Broadcasting.reduce(g, to: original)] }
    }

    /// Variadic form: `x.expand(4, -1)`.
    public func expand(_ dims: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        expand(to: dims, file: file, line: line)
    }

    /// Broadcasts like `other`'s shape.
    public func expandAs(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        expand(to: other.shape, file: file, line: line)
    }

    /// Broadcast copy without validation or recording (target must be a valid broadcast of shape).
    func expandData(to target: [Int]) -> Tensor {
        let srcStrides = Broadcasting.strides(of: shape, in: target)
        return withRawElements { src in
            Tensor.makeRaw(shape: target, dtype: dtype) { dst in
                if dtype == .int64 {
                    stridedGather(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: Int64.self),
                                  outShape: target, srcStrides: srcStrides)
                } else {
                    stridedGather(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Float.self),
                                  outShape: target, srcStrides: srcStrides)
                }
            }
        }
    }

    /// Tiles the tensor `repeats[i]` times along dim `i` (`Tensor.repeat` in PyTorch); extra
    /// leading repeats add dimensions.
    public func `repeat`(_ repeats: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(repeats.count >= rank, "repeat",
              "number of repeats \(repeats) can not be smaller than the rank of shape \(describe(shape: shape))", file: file, line: line)
        check(repeats.allSatisfy { $0 >= 0 }, "repeat", "negative repeat count in \(repeats)", file: file, line: line)
        let padded = [Int](repeating: 1, count: repeats.count - rank) + shape
        // Interleave a size-1 axis before each dim, broadcast it to the repeat count, merge pairs.
        let interleaved = padded.flatMap { [1, $0] }
        let expanded = zip(repeats, padded).flatMap { [$0, $1] }
        let result = zip(repeats, padded).map { $0 * $1 }
        return reshaped(to: interleaved, name: "view").expand(to: expanded, file: file, line: line)
            .reshaped(to: result, name: "view")
    }

    /// Variadic form: `x.repeat(2, 1)`.
    public func `repeat`(_ repeats: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        self.repeat(repeats, file: file, line: line)
    }

    /// A copy with its own storage that stays in the graph (`torch.clone`).
    public func clone() -> Tensor {
        // Copy-on-write storage: an in-place write to either tensor later copies, so they never alias.
        let out = Tensor(shape: shape, dtype: dtype, storage: storage, int64Storage: int64Storage)
        return Tensor.record(out, "clone", [self]) { g, _ in [g] }
    }
}

/// `dst[i] = src[offset(i)]` where `offset` follows `srcStrides` over `outShape` walked in
/// row-major order; the innermost dim runs as a tight loop. Handles permutes and broadcasts.
func stridedGather<T>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, outShape: [Int], srcStrides: [Int]) {
    let rank = outShape.count
    let n = Shape.count(outShape)
    if n == 0 { return }
    if rank == 0 { dst[0] = src[0]; return }
    let inner = outShape[rank - 1]
    let innerStride = srcStrides[rank - 1]
    let rows = n / inner
    Threads.parallelFor(rows, costPerItem: inner) { range in
        // Odometer over the outer dims, started at the first row of this chunk.
        var index = [Int](repeating: 0, count: rank)
        var rem = range.lowerBound
        var offset = 0
        var d = rank - 2
        while d >= 0 {
            index[d] = rem % outShape[d]
            rem /= outShape[d]
            offset += index[d] * srcStrides[d]
            d -= 1
        }
        for row in range {
            let o = dst + row * inner
            let s = src + offset
            if innerStride == 1 {
                o.update(from: s, count: inner)
            } else if innerStride == 0 {
                o.update(repeating: s[0], count: inner)
            } else {
                for k in 0..<inner { o[k] = s[k * innerStride] }
            }
            var e = rank - 2
            while e >= 0 {
                index[e] += 1
                offset += srcStrides[e]
                if index[e] < outShape[e] { break }
                offset -= index[e] * srcStrides[e]
                index[e] = 0
                e -= 1
            }
        }
    }
}
