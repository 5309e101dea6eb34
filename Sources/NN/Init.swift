import Foundation
import Torch

/// Weight initialisers (`torch.nn.init`). Each fills a tensor in place, without recording autograd
/// history, drawing from `generator` (default: `Generator.default`, so `manualSeed` makes models
/// reproducible), and returns it.
public enum Init {
    /// When true, layers skip their default initialisation (models that re-initialise every weight
    /// set it while building, to avoid drawing each weight twice). Use `withoutDefaultInitialization`.
    nonisolated(unsafe) static var skipsDefaultInitialization = false

    /// Builds modules whose default initialisation is skipped (weights are zero until the caller
    /// initialises them), like PyTorch's `torch.nn.utils.skip_init`.
    public static func withoutDefaultInitialization<R>(_ build: () throws -> R) rethrows -> R {
        let previous = skipsDefaultInitialization
        skipsDefaultInitialization = true
        defer { skipsDefaultInitialization = previous }
        return try build()
    }

    public enum FanMode { case fanIn, fanOut }
    public enum Nonlinearity { case linear, conv, sigmoid, tanh, relu, leakyRelu, selu }

    /// `calculate_gain`: the recommended gain for a nonlinearity (`param` is leaky ReLU's slope).
    public static func gain(_ nonlinearity: Nonlinearity, param: Double? = nil) -> Double {
        switch nonlinearity {
        case .linear, .conv, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .leakyRelu: let a = param ?? 0.01; return (2.0 / (1 + a * a)).squareRoot()
        case .selu: return 3.0 / 4
        }
    }

    /// (fan_in, fan_out) of a weight: `[out, in, k...]` gives in*k and out*k.
    public static func fans(_ t: Tensor, file: StaticString = #fileID, line: UInt = #line) -> (fanIn: Int, fanOut: Int) {
        guard t.rank >= 2 else {
            engineFailure("Init", "fan in and fan out need a tensor with at least 2 dimensions, got \(describe(shape: t.shape))",
                          file: file, line: line)
        }
        let receptive = t.shape.dropFirst(2).reduce(1, *)
        return (t.shape[1] * receptive, t.shape[0] * receptive)
    }

    /// Fills with samples from U(low, high).
    @discardableResult
    public static func uniform(_ t: Tensor, low: Double = 0, high: Double = 1, generator: Generator? = nil) -> Tensor {
        var stream = InitStream(seed: (generator ?? Generator.default).nextUInt64())
        let (lo, hi) = (Float(low), Float(high))
        t.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = lo + (hi - lo) * stream.nextFloat() } }
        return t
    }

    /// Fills with samples from N(mean, std²).
    @discardableResult
    public static func normal(_ t: Tensor, mean: Double = 0, std: Double = 1, generator: Generator? = nil) -> Tensor {
        var stream = InitStream(seed: (generator ?? Generator.default).nextUInt64())
        let (m, s) = (mean, std)
        t.withUnsafeMutableBufferPointer { b in
            var i = 0
            while i < b.count {
                let (z0, z1) = stream.nextNormalPair()
                b[i] = Float(m + s * z0)
                if i + 1 < b.count { b[i + 1] = Float(m + s * z1) }
                i += 2
            }
        }
        return t
    }

    /// Fills with `value`.
    @discardableResult
    public static func constant(_ t: Tensor, _ value: Double) -> Tensor {
        t.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = Float(value) } }
        return t
    }

    @discardableResult public static func zeros(_ t: Tensor) -> Tensor { constant(t, 0) }
    @discardableResult public static func ones(_ t: Tensor) -> Tensor { constant(t, 1) }

    /// He initialisation, uniform: U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's default for
    /// Linear and Conv weights is `kaimingUniform(w, a: sqrt(5))`, i.e. b = 1/sqrt(fan_in).
    @discardableResult
    public static func kaimingUniform(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu, generator: Generator? = nil) -> Tensor {
        let (fanIn, fanOut) = fans(t)
        let fan = Double(mode == .fanIn ? fanIn : fanOut)
        let bound = gain(nonlinearity, param: a) * (3 / fan).squareRoot()
        return uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// He initialisation, normal: N(0, std²) with std = gain / sqrt(fan). torchvision's ResNet uses
    /// `kaimingNormal(w, mode: .fanOut, nonlinearity: .relu)` for every convolution.
    @discardableResult
    public static func kaimingNormal(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                     nonlinearity: Nonlinearity = .leakyRelu, generator: Generator? = nil) -> Tensor {
        let (fanIn, fanOut) = fans(t)
        let fan = Double(mode == .fanIn ? fanIn : fanOut)
        return normal(t, std: gain(nonlinearity, param: a) / fan.squareRoot(), generator: generator)
    }

    /// Glorot initialisation, uniform: b = gain * sqrt(6 / (fan_in + fan_out)).
    @discardableResult
    public static func xavierUniform(_ t: Tensor, gain: Double = 1, generator: Generator? = nil) -> Tensor {
        let (fanIn, fanOut) = fans(t)
        let bound = gain * (6 / Double(fanIn + fanOut)).squareRoot()
        return uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// Glorot initialisation, normal: std = gain * sqrt(2 / (fan_in + fan_out)).
    @discardableResult
    public static func xavierNormal(_ t: Tensor, gain: Double = 1, generator: Generator? = nil) -> Tensor {
        let (fanIn, fanOut) = fans(t)
        return normal(t, std: gain * (2 / Double(fanIn + fanOut)).squareRoot(), generator: generator)
    }
}

/// The random stream of one initialiser call: seeded by a single 64-bit draw from the caller's
/// generator (so `manualSeed` still fixes every weight), then expanded locally with xoshiro256**.
/// A local value avoids the per-draw cost of the shared generator object, which makes building a
/// ResNet-50 in a debug build take seconds rather than a minute.
struct InitStream {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    mutating func next() -> UInt64 {
        let m = s1 &* 5
        let result = ((m << 7) | (m >> 57)) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Two independent standard normal samples (Marsaglia's polar method: one log, no trigonometry).
    mutating func nextNormalPair() -> (Double, Double) {
        while true {
            let u = Double(next() >> 11) * (2.0 / 9_007_199_254_740_992.0) - 1
            let v = Double(next() >> 11) * (2.0 / 9_007_199_254_740_992.0) - 1
            let s = u * u + v * v
            if s >= 1 || s == 0 { continue }
            let f = (-2 * Foundation.log(s) / s).squareRoot()
            return (u * f, v * f)
        }
    }
}
