import Foundation

/// Document fingerprints by winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003; what MOSS
/// does): hash every run of `k` tokens, then keep the smallest hash of every window of `window`
/// consecutive hashes. Any run of at least `window + k - 1` tokens two documents share yields a
/// fingerprint both keep, and no run shorter than `k` tokens can.
public struct Winnowing: Sendable, Equatable {
    /// Tokens per k-gram (the noise threshold).
    public var k: Int
    /// K-gram hashes per window.
    public var window: Int

    public init(k: Int = 9, window: Int = 4) {
        self.k = max(1, k)
        self.window = max(1, window)
    }

    /// The shortest shared run of tokens that is always detected.
    public var guaranteedRun: Int { window + k - 1 }

    public struct Fingerprint: Equatable, Sendable {
        public var hash: UInt64
        /// Index of the k-gram's first token.
        public var position: Int
    }

    /// 64-bit FNV-1a: stable across runs and machines (Swift's `Hasher` is seeded per process).
    static func fnv(_ text: String, into h: inout UInt64) {
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        h ^= 0xff  // a separator, so ["ab", "c"] and ["a", "bc"] differ
        h = h &* 0x100_0000_01b3
    }

    /// The hash of every k-gram, by its first token's index (nil: fewer than `k` tokens).
    public func kgramHashes(_ tokens: [SimilarityToken]) -> [UInt64] {
        guard tokens.count >= k else { return [] }
        return (0...(tokens.count - k)).map { start in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for t in tokens[start..<(start + k)] { Self.fnv(t.text, into: &h) }
            return h
        }
    }

    /// Winnows the k-grams that `keep` accepts (by first-token index); the others are treated as
    /// absent, so the guarantee holds for every shared run made only of kept k-grams.
    public func fingerprints(_ tokens: [SimilarityToken], keep: (Int, UInt64) -> Bool = { _, _ in true }) -> [Fingerprint] {
        let all = kgramHashes(tokens)
        let kept = all.indices.filter { keep($0, all[$0]) }.map { Fingerprint(hash: all[$0], position: $0) }
        return select(kept)
    }

    /// The minimum of each window (the rightmost one on ties, as the paper's robust winnowing
    /// does), each selected k-gram once. A document shorter than one window keeps its minimum.
    func select(_ hashes: [Fingerprint]) -> [Fingerprint] {
        guard !hashes.isEmpty else { return [] }
        let w = min(window, hashes.count)
        var selected: [Fingerprint] = []
        var last = -1
        for start in 0...(hashes.count - w) {
            var best = start
            for i in start..<(start + w) where hashes[i].hash <= hashes[best].hash { best = i }
            if best != last {
                selected.append(hashes[best])
                last = best
            }
        }
        return selected
    }
}
