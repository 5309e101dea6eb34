/// Factory functions, named as in PyTorch (`torch.zeros`, `torch.randn`, ...).
extension Tensor {
    /// A Float32 tensor filled with `value`.
    public static func full(_ shape: [Int], _ value: Float, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(shape.allSatisfy { $0 >= 0 }, "full", "negative size in shape \(describe(shape: shape))", file: file, line: line)
        return Tensor(shape: shape, dtype: .float32, storage: [Float](repeating: value, count: Shape.count(shape)), int64Storage: [])
    }

    public static func zeros(_ shape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        full(shape, 0, file: file, line: line)
    }
    public static func zeros(_ dims: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        full(dims, 0, file: file, line: line)
    }
    public static func ones(_ shape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        full(shape, 1, file: file, line: line)
    }
    public static func ones(_ dims: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        full(dims, 1, file: file, line: line)
    }
    public static func zeros(like other: Tensor) -> Tensor { full(other.shape, 0) }
    public static func ones(like other: Tensor) -> Tensor { full(other.shape, 1) }

    /// An Int64 tensor of zeros.
    public static func zerosInt64(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, dtype: .int64, storage: [], int64Storage: [Int64](repeating: 0, count: Shape.count(shape)))
    }

    /// Values `start, start+step, ...` below `end` (Float32), as `torch.arange`.
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1,
                              file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(step != 0 && ((end - start) / step) >= 0, "arange", "range \(start)..<\(end) with step \(step) is empty or infinite",
              file: file, line: line)
        let n = Int(((end - start) / step).rounded(.up))
        return Tensor.make(shape: [n]) { out in
            for i in 0..<n { out[i] = start + Float(i) * step }
        }
    }

    /// Int64 values `0..<end`, as `torch.arange(n)` with an integer argument.
    public static func arange(_ end: Int) -> Tensor {
        Tensor.makeInt64(shape: [Swift.max(0, end)]) { out in
            for i in 0..<out.count { out[i] = Int64(i) }
        }
    }

    /// Samples from the standard normal distribution.
    public static func randn(_ shape: [Int], generator: Generator? = nil) -> Tensor {
        let g = generator ?? Generator.default
        return Tensor.make(shape: shape) { out in
            for i in 0..<out.count { out[i] = g.nextNormal() }
        }
    }
    public static func randn(_ dims: Int..., generator: Generator? = nil) -> Tensor { randn(dims, generator: generator) }

    /// Samples uniformly from [0, 1).
    public static func rand(_ shape: [Int], generator: Generator? = nil) -> Tensor {
        let g = generator ?? Generator.default
        return Tensor.make(shape: shape) { out in
            for i in 0..<out.count { out[i] = g.nextFloat() }
        }
    }
    public static func rand(_ dims: Int..., generator: Generator? = nil) -> Tensor { rand(dims, generator: generator) }

    /// Samples uniformly from [low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, generator: Generator? = nil) -> Tensor {
        let g = generator ?? Generator.default
        return Tensor.make(shape: shape) { out in
            for i in 0..<out.count { out[i] = low + (high - low) * g.nextFloat() }
        }
    }

    /// Samples from a normal distribution with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: Generator? = nil) -> Tensor {
        let g = generator ?? Generator.default
        return Tensor.make(shape: shape) { out in
            for i in 0..<out.count { out[i] = mean + std * g.nextNormal() }
        }
    }

    /// Int64 samples uniformly from low..<high, as `torch.randint`.
    public static func randint(_ low: Int = 0, _ high: Int, _ shape: [Int], generator: Generator? = nil,
                               file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(high > low, "randint", "empty range \(low)..<\(high)", file: file, line: line)
        let g = generator ?? Generator.default
        return Tensor.makeInt64(shape: shape) { out in
            for i in 0..<out.count { out[i] = Int64(low + g.nextInt(below: high - low)) }
        }
    }

    /// A random permutation of `0..<n` as an Int64 tensor, as `torch.randperm`.
    public static func randperm(_ n: Int, generator: Generator? = nil) -> Tensor {
        let p = (generator ?? Generator.default).permutation(n)
        return Tensor(shape: [n], int64Scalars: p.map(Int64.init))
    }
}
