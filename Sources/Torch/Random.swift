/// A seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64), the engine's
/// `torch.Generator`. The same seed gives the same stream on every machine and thread count.
public final class Generator {
    private var s0: UInt64 = 0, s1: UInt64 = 0, s2: UInt64 = 0, s3: UInt64 = 0
    /// The seed this generator was last seeded with.
    public private(set) var initialSeed: UInt64
    private var spareNormal: Float?

    public init(seed: UInt64 = 0) {
        initialSeed = seed
        manualSeed(seed)
    }

    /// Restarts the stream from `seed`.
    public func manualSeed(_ seed: UInt64) {
        initialSeed = seed
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
        spareNormal = nil
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Next 64 random bits.
    @inline(__always)
    public func nextUInt64() -> UInt64 {
        let result = Generator.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Generator.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1).
    @inline(__always)
    public func nextFloat() -> Float {
        Float(nextUInt64() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with double precision.
    @inline(__always)
    public func nextDouble() -> Double {
        Double(nextUInt64() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform integer in 0..<bound (unbiased).
    public func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        let b = UInt64(bound)
        let threshold = (0 &- b) % b
        while true {
            let r = nextUInt64()
            if r >= threshold { return Int(r % b) }
        }
    }

    /// Standard normal (Box-Muller, both values used).
    public func nextNormal() -> Float {
        if let spare = spareNormal { spareNormal = nil; return spare }
        var u1 = nextDouble()
        while u1 <= .leastNormalMagnitude { u1 = nextDouble() }
        let u2 = nextDouble()
        let r = (-2 * _log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        spareNormal = Float(r * _sin(theta))
        return Float(r * _cos(theta))
    }

    /// A random permutation of 0..<n (Fisher-Yates), as `torch.randperm`.
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            p.swapAt(i, j)
        }
        return p
    }

    /// The process-wide default generator used when no generator is passed.
    nonisolated(unsafe) public static var `default` = Generator(seed: 0)
}

/// Seeds the default generator, as `torch.manual_seed`.
public func manualSeed(_ seed: UInt64) {
    Generator.default.manualSeed(seed)
}

import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation.sin(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
