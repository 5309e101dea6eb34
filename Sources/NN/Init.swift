import Foundation
import Torch

/// Weight initialisers (`torch.nn.init`). Each fills a tensor in place, without recording autograd
/// history, drawing from `generator` (default: `Generator.default`, so `manualSeed` makes models
/// reproducible), and returns it.
public enum Init {
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
        let g = generator ?? Generator.default
        let (lo, hi) = (Float(low), Float(high))
        t.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = lo + (hi - lo) * g.nextFloat() } }
        return t
    }

    /// Fills with samples from N(mean, std²).
    @discardableResult
    public static func normal(_ t: Tensor, mean: Double = 0, std: Double = 1, generator: Generator? = nil) -> Tensor {
        let g = generator ?? Generator.default
        let (m, s) = (Float(mean), Float(std))
        t.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = m + s * g.nextNormal() } }
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
