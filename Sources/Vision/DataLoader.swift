import Foundation
import Torch

/// Batches a dataset into `(images, labels)`: an NCHW Float tensor and an Int64 label tensor, as
/// `torch.utils.data.DataLoader` with the default collation.
///
/// Randomness is reproducible and independent of `numWorkers`: each epoch's shuffle comes from
/// `(seed, epoch)` and each sample's transform generator from `(seed, epoch, dataset index)`, so
/// batches are bit-identical with 0, 1 or 8 workers. Iterating again starts the next epoch
/// (a new permutation); `epoch` can also be set explicitly.
public final class DataLoader: Sequence {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    /// Worker threads decoding and transforming batches ahead of the consumer (0: on the
    /// calling thread).
    public let numWorkers: Int
    /// Batches each worker may prepare ahead (`numWorkers * prefetchFactor` in flight at most).
    public let prefetchFactor: Int
    /// The base seed all shuffles and sample generators derive from.
    public let seed: UInt64
    /// Applied to every sample after the dataset's own transform, in the workers.
    public let transform: (any Transform)?
    /// The epoch the next iteration will produce (starts at 0, advances on each iteration).
    public var epoch: Int = 0

    /// - Parameters:
    ///   - seed: base seed; when nil it is drawn from `generator` (or from `Torch.Generator.default`).
    public init(_ dataset: any Dataset, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                numWorkers: Int = 0, prefetchFactor: Int = 2, seed: UInt64? = nil, generator: Torch.Generator? = nil,
                transform: (any Transform)? = nil, file: StaticString = #fileID, line: UInt = #line) {
        guard batchSize > 0 else { visionFailure("DataLoader", "batchSize must be positive, got \(batchSize)", file: file, line: line) }
        guard numWorkers >= 0 else { visionFailure("DataLoader", "numWorkers must be >= 0, got \(numWorkers)", file: file, line: line) }
        guard prefetchFactor > 0 else { visionFailure("DataLoader", "prefetchFactor must be positive", file: file, line: line) }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.numWorkers = numWorkers
        self.prefetchFactor = prefetchFactor
        self.seed = seed ?? (generator ?? Torch.Generator.default).nextUInt64()
        self.transform = transform
    }

    /// Number of batches per epoch.
    public var count: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The dataset indices of each batch of `epoch`.
    public func batchIndices(epoch: Int) -> [[Int]] {
        let n = dataset.count
        let order = shuffle ? Torch.Generator(seed: DataLoader.mix(seed, UInt64(bitPattern: Int64(epoch)), UInt64.max)).permutation(n)
                            : Array(0..<n)
        return (0..<count).map { b in Array(order[(b * batchSize)..<Swift.min(n, (b + 1) * batchSize)]) }
    }

    /// The generator sample `index` gets in `epoch`.
    public func sampleGenerator(epoch: Int, index: Int) -> Torch.Generator {
        Torch.Generator(seed: DataLoader.mix(seed, UInt64(bitPattern: Int64(epoch)), UInt64(index)))
    }

    static func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        func splitMix(_ v: UInt64) -> UInt64 {
            var z = v &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return splitMix(splitMix(splitMix(a) ^ b) ^ c)
    }

    /// Loads, transforms and stacks one batch.
    func makeBatch(_ indices: [Int], epoch: Int) -> Result<(Tensor, Tensor), VisionError> {
        var tensors: [Tensor] = []
        var labels: [Int64] = []
        tensors.reserveCapacity(indices.count)
        for (position, index) in indices.enumerated() {
            let generator = sampleGenerator(epoch: epoch, index: index)
            var (value, label) = dataset.sample(at: index, generator: generator)
            if let transform { value = transform(value, generator: generator) }
            guard case .tensor(let tensor) = value else {
                return .failure(VisionError("DataLoader: sample \(position) of the batch (dataset index \(index)) is an \(value.summary); add ToTensor() to the transforms"))
            }
            guard tensor.dtype == .float32 else {
                return .failure(VisionError("DataLoader: sample \(position) of the batch (dataset index \(index)) is a \(tensor.dtype) tensor; expected Float"))
            }
            if let first = tensors.first, first.shape != tensor.shape {
                return .failure(VisionError("DataLoader: cannot stack the batch: sample \(position) (dataset index \(index)) has shape \(describe(shape: tensor.shape)) but sample 0 (dataset index \(indices[0])) has \(describe(shape: first.shape)); resize or crop samples to one size"))
            }
            tensors.append(tensor)
            labels.append(Int64(label))
        }
        let shape = tensors.first?.shape ?? []
        let size = tensors.first?.count ?? 0
        let images = Tensor.make(shape: [tensors.count] + shape) { dst in
            for (i, t) in tensors.enumerated() {
                t.withUnsafeBufferPointer { src in
                    if size > 0 { (dst.baseAddress! + i * size).update(from: src.baseAddress!, count: size) }
                }
            }
        }
        return .success((images, Tensor(shape: [labels.count], int64Scalars: labels)))
    }

    public func makeIterator() -> Iterator {
        defer { epoch += 1 }
        return Iterator(loader: self, epoch: epoch)
    }

    /// Produces one epoch's batches in order.
    public final class Iterator: IteratorProtocol {
        let loader: DataLoader
        let epoch: Int
        let batches: [[Int]]
        var nextBatch = 0
        let pipeline: Pipeline?

        init(loader: DataLoader, epoch: Int) {
            self.loader = loader
            self.epoch = epoch
            batches = loader.batchIndices(epoch: epoch)
            if loader.numWorkers > 0 && !batches.isEmpty {
                let pipeline = Pipeline(loader: loader, epoch: epoch, batches: batches,
                                        capacity: loader.numWorkers * loader.prefetchFactor)
                for w in 0..<Swift.min(loader.numWorkers, batches.count) {
                    let thread = Thread { pipeline.work() }
                    thread.name = "DataLoader worker \(w)"
                    thread.stackSize = 8 << 20
                    thread.start()
                }
                self.pipeline = pipeline
            } else {
                pipeline = nil
            }
        }

        deinit { pipeline?.cancel() }

        public func next() -> (Tensor, Tensor)? {
            guard nextBatch < batches.count else { return nil }
            defer { nextBatch += 1 }
            let result = pipeline?.take(nextBatch) ?? loader.makeBatch(batches[nextBatch], epoch: epoch)
            switch result {
            case .success(let batch): return batch
            case .failure(let error): visionFailure("DataLoader", error.message, file: #fileID, line: #line)
            }
        }
    }

    /// Worker threads claim batch numbers in order and may run at most `capacity` batches ahead
    /// of the consumer; results are handed over by batch number, so order never depends on timing.
    final class Pipeline {
        let loader: DataLoader
        let epoch: Int
        let batches: [[Int]]
        let capacity: Int
        let condition = NSCondition()
        var claimed = 0
        var consumed = 0
        var cancelled = false
        var results: [Int: Result<(Tensor, Tensor), VisionError>] = [:]

        init(loader: DataLoader, epoch: Int, batches: [[Int]], capacity: Int) {
            self.loader = loader
            self.epoch = epoch
            self.batches = batches
            self.capacity = capacity
        }

        func work() {
            while true {
                condition.lock()
                while !cancelled && claimed < batches.count && claimed >= consumed + capacity { condition.wait() }
                if cancelled || claimed >= batches.count {
                    condition.unlock()
                    return
                }
                let b = claimed
                claimed += 1
                condition.unlock()
                let result = loader.makeBatch(batches[b], epoch: epoch)
                condition.lock()
                results[b] = result
                condition.broadcast()
                condition.unlock()
            }
        }

        func take(_ b: Int) -> Result<(Tensor, Tensor), VisionError> {
            condition.lock()
            defer { condition.unlock() }
            while results[b] == nil { condition.wait() }
            let result = results.removeValue(forKey: b)!
            consumed = b + 1
            condition.broadcast()
            return result
        }

        func cancel() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
