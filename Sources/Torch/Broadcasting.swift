/// Iteration over two broadcast inputs, and the reduction of a broadcast gradient back to an
/// input's shape.
enum Broadcasting {
    /// Strides of `shape` viewed inside `outShape` (right-aligned), 0 along broadcast dimensions.
    static func strides(of shape: [Int], in outShape: [Int]) -> [Int] {
        let own = Shape.strides(shape)
        let offset = outShape.count - shape.count
        return (0..<outShape.count).map { i in
            let j = i - offset
            return (j < 0 || shape[j] == 1) ? 0 : own[j]
        }
    }

    /// Calls `body(outIndex, aIndex, bIndex, runLength, aStep, bStep)` for runs along the last
    /// dimension of `outShape`; `lo..<hi` selects a range of output rows (all dims but the last).
    @inline(__always)
    static func forEachRun(outShape: [Int], aStrides: [Int], bStrides: [Int], rows: Range<Int>,
                           _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        let rank = outShape.count
        if rank == 0 { body(0, 0, 0, 1, 0, 0); return }
        let inner = outShape[rank - 1]
        let aStep = aStrides[rank - 1], bStep = bStrides[rank - 1]
        for row in rows {
            var rem = row
            var ai = 0, bi = 0
            var d = rank - 2
            while d >= 0 {
                let size = outShape[d]
                let idx = rem % size
                rem /= size
                ai += idx * aStrides[d]
                bi += idx * bStrides[d]
                d -= 1
            }
            body(row * inner, ai, bi, inner, aStep, bStep)
        }
    }

    /// Sums `grad` (shaped like the broadcast output) down to `shape`.
    static func reduce(_ grad: Tensor, to shape: [Int]) -> Tensor {
        if grad.shape == shape { return grad }
        let outShape = grad.shape
        let targetStrides = strides(of: shape, in: outShape)
        let zeroStrides = [Int](repeating: 0, count: outShape.count)
        var result = [Float](repeating: 0, count: Shape.count(shape))
        let rows = outShape.isEmpty ? 1 : Shape.count(outShape) / max(outShape.last!, 1)
        grad.storage.withUnsafeBufferPointer { g in
            result.withUnsafeMutableBufferPointer { r in
                forEachRun(outShape: outShape, aStrides: targetStrides, bStrides: zeroStrides, rows: 0..<(outShape.last == 0 ? 0 : rows)) { o, t, _, n, tStep, _ in
                    if tStep == 0 {
                        var s: Float = 0
                        for k in 0..<n { s += g[o + k] }
                        r[t] += s
                    } else {
                        for k in 0..<n { r[t + k * tStep] += g[o + k] }
                    }
                }
            }
        }
        return Tensor(shape: shape, dtype: .float32, storage: result, int64Storage: [])
    }
}

extension Tensor {
    /// Applies `op` element-wise over `a` and `b` broadcast together.
    static func broadcastBinary(_ a: Tensor, _ b: Tensor, name: String, file: StaticString, line: UInt,
                                _ op: @escaping (Float, Float) -> Float) -> Tensor {
        guard let outShape = Shape.broadcast(a.shape, b.shape) else {
            engineFailure(name, "shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape)) cannot be broadcast together",
                          file: file, line: line)
        }
        check(a.dtype != .int64 && b.dtype != .int64, name,
              "Int64 operands are not supported (got \(a.dtype) and \(b.dtype)); call .float() first", file: file, line: line)
        return binaryKernel(a, b, outShape: outShape, op)
    }

    @usableFromInline
    static func binaryKernel(_ a: Tensor, _ b: Tensor, outShape: [Int], _ op: (Float, Float) -> Float) -> Tensor {
        let n = Shape.count(outShape)
        return Tensor.make(shape: outShape) { out in
            a.storage.withUnsafeBufferPointer { pa in
                b.storage.withUnsafeBufferPointer { pb in
                    let o = out.baseAddress!, x = pa.baseAddress!, y = pb.baseAddress!
                    if a.shape == b.shape {
                        Threads.parallelFor(n) { r in for i in r { o[i] = op(x[i], y[i]) } }
                    } else if b.count == 1 {
                        let s = y[0]
                        Threads.parallelFor(n) { r in for i in r { o[i] = op(x[i], s) } }
                    } else if a.count == 1 {
                        let s = x[0]
                        Threads.parallelFor(n) { r in for i in r { o[i] = op(s, y[i]) } }
                    } else {
                        let sa = Broadcasting.strides(of: a.shape, in: outShape)
                        let sb = Broadcasting.strides(of: b.shape, in: outShape)
                        let inner = outShape.last ?? 1
                        let rows = inner == 0 ? 0 : n / inner
                        Threads.parallelFor(rows, costPerItem: inner) { range in
                            Broadcasting.forEachRun(outShape: outShape, aStrides: sa, bStrides: sb, rows: range) { oi, ai, bi, len, da, db in
                                for k in 0..<len { o[oi + k] = op(x[ai + k * da], y[bi + k * db]) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Applies `op` to every element (Float32 result).
    @inlinable
    public func map(_ op: (Float) -> Float) -> Tensor {
        let src = dtype == .int64 ? scalars : storage
        return Tensor.make(shape: shape) { out in
            src.withUnsafeBufferPointer { x in
                let o = out.baseAddress!, p = x.baseAddress!
                withoutActuallyEscaping(op) { op in
                    Threads.parallelFor(out.count) { r in for i in r { o[i] = op(p[i]) } }
                }
            }
        }
    }
}

// MARK: - Arithmetic with autograd

extension Tensor {
    public func add(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let out = Tensor.broadcastBinary(self, other, name: "add", file: file, line: line, +)
        let (sa, sb) = (shape, other.shape)
        return Tensor.record(out, "add", [self, other]) { g, needs in
            [needs[0] ? Broadcasting.reduce(g, to: sa) : nil, needs[1] ? Broadcasting.reduce(g, to: sb) : nil]
        }
    }

    public func sub(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let out = Tensor.broadcastBinary(self, other, name: "sub", file: file, line: line, -)
        let (sa, sb) = (shape, other.shape)
        return Tensor.record(out, "sub", [self, other]) { g, needs in
            [needs[0] ? Broadcasting.reduce(g, to: sa) : nil,
             needs[1] ? Broadcasting.reduce(g.map { -$0 }, to: sb) : nil]
        }
    }

    public func mul(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let out = Tensor.broadcastBinary(self, other, name: "mul", file: file, line: line, *)
        return Tensor.record(out, "mul", [self, other]) { [self] g, needs in
            [needs[0] ? Broadcasting.reduce(Tensor.binaryKernel(g, other, outShape: g.shape, *), to: self.shape) : nil,
             needs[1] ? Broadcasting.reduce(Tensor.binaryKernel(g, self, outShape: g.shape, *), to: other.shape) : nil]
        }
    }

    public func div(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let out = Tensor.broadcastBinary(self, other, name: "div", file: file, line: line, /)
        return Tensor.record(out, "div", [self, other]) { [self] g, needs in
            [needs[0] ? Broadcasting.reduce(Tensor.binaryKernel(g, other, outShape: g.shape, /), to: self.shape) : nil,
             needs[1] ? Broadcasting.reduce(
                Tensor.binaryKernel(Tensor.binaryKernel(g, out.detach(), outShape: g.shape, *), other, outShape: g.shape) { -$0 / $1 },
                to: other.shape) : nil]
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.add(b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.sub(b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.mul(b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.div(b) }

    public static func + (a: Tensor, b: Float) -> Tensor { a.add(Tensor(b)) }
    public static func - (a: Tensor, b: Float) -> Tensor { a.sub(Tensor(b)) }
    public static func * (a: Tensor, b: Float) -> Tensor { a.mul(Tensor(b)) }
    public static func / (a: Tensor, b: Float) -> Tensor { a.div(Tensor(b)) }
    public static func + (a: Float, b: Tensor) -> Tensor { Tensor(a).add(b) }
    public static func - (a: Float, b: Tensor) -> Tensor { Tensor(a).sub(b) }
    public static func * (a: Float, b: Tensor) -> Tensor { Tensor(a).mul(b) }
    public static func / (a: Float, b: Tensor) -> Tensor { Tensor(a).div(b) }

    public static prefix func - (a: Tensor) -> Tensor {
        let out = a.map { -$0 }
        return Tensor.record(out, "neg", [a]) { g, _ in [g.map { -$0 }] }
    }
}
