import Torch

/// Hands out shuffled mini-batches of sample indices forever, reshuffling at every epoch
/// boundary: a step-based training loop asks for `next()` as many times as its budget allows.
public final class BatchSampler {
    public let count: Int
    public let batchSize: Int
    public let dropLast: Bool
    public let shuffle: Bool
    let generator: Generator
    var order: [Int] = []
    var position = 0
    /// Completed passes over the data.
    public private(set) var epoch = 0

    public init(count: Int, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, generator: Generator,
                file: StaticString = #fileID, line: UInt = #line) {
        guard count > 0, batchSize > 0 else {
            engineFailure("BatchSampler", "needs samples and a positive batch size (count \(count), batchSize \(batchSize))", file: file, line: line)
        }
        guard !dropLast || count >= batchSize else {
            engineFailure("BatchSampler", "dropLast with \(count) samples and batch size \(batchSize) leaves no batch", file: file, line: line)
        }
        self.count = count
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.shuffle = shuffle
        self.generator = generator
        order = shuffle ? generator.permutation(count) : Array(0..<count)
    }

    /// Batches in one pass over the data.
    public var batchesPerEpoch: Int { dropLast ? count / batchSize : (count + batchSize - 1) / batchSize }

    /// The next batch's indices.
    public func next() -> [Int] {
        let remaining = count - position
        if remaining == 0 || (dropLast && remaining < batchSize) {
            epoch += 1
            position = 0
            order = shuffle ? generator.permutation(count) : Array(0..<count)
        }
        let end = Swift.min(count, position + batchSize)
        defer { position = end }
        return Array(order[position..<end])
    }

    /// True when the next `next()` starts a new epoch (or the first one).
    public var atEpochStart: Bool { position == 0 || count - position == 0 || (dropLast && count - position < batchSize) }
}

/// Training augmentation on a batch of raw images `[N, C, H, W]`: a random crop of the image
/// padded with `padding` black pixels on every side (the image moves by up to `padding` pixels)
/// and, if `flip`, a horizontal mirror with probability 1/2, each sample drawing from `generator`.
public func augment(_ images: Tensor, padding: Int = 2, flip: Bool = true, generator: Generator) -> Tensor {
    let n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3]
    let plane = h * w
    return images.withUnsafeBufferPointer { src in
        Tensor.make(shape: images.shape) { dst in
            for s in 0..<n {
                let dy = padding > 0 ? generator.nextInt(below: 2 * padding + 1) - padding : 0
                let dx = padding > 0 ? generator.nextInt(below: 2 * padding + 1) - padding : 0
                let mirror = flip && generator.nextFloat() < 0.5
                for ch in 0..<c {
                    let base = (s * c + ch) * plane
                    for y in 0..<h {
                        let sy = y + dy
                        for x in 0..<w {
                            let xx = mirror ? w - 1 - x : x
                            let sx = xx + dx
                            dst[base + y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[base + sy * w + sx] : 0
                        }
                    }
                }
            }
        }
    }
}
