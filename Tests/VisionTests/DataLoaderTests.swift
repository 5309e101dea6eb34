import Foundation
import Torch
import XCTest
@testable import Vision

final class DataLoaderTests: XCTestCase {
    /// 37 random 1x6x6 "images" with a random crop + flip pipeline, like the course's Fashion-MNIST one.
    struct Noise: Dataset {
        let count = 37
        let classes = ["a", "b", "c"]
        func label(at index: Int) -> Int { index % 3 }
        func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
            let g = Generator(seed: UInt64(index) &* 7919)
            return (.tensor(Tensor.make(shape: [1, 6, 6]) { for i in 0..<36 { $0[i] = g.nextFloat() } }), label(at: index))
        }
    }
    let augment = Compose([RandomCrop(6, padding: 2), RandomHorizontalFlip()])

    func epochs(_ loader: DataLoader, _ n: Int) -> [[(Tensor, Tensor)]] {
        (0..<n).map { _ in Array(loader) }
    }

    func testIdenticalBatchesForAnyWorkerCount() {
        var runs: [[[[Float]]]] = []
        var labelRuns: [[[Int64]]] = []
        for workers in [0, 1, 2, 3] {
            let loader = DataLoader(Noise(), batchSize: 8, shuffle: true, numWorkers: workers, seed: 11, transform: augment)
            let result = epochs(loader, 2)
            runs.append(result.map { $0.map { $0.0.scalars } })
            labelRuns.append(result.map { $0.flatMap { $0.1.int64Scalars } })
        }
        for r in runs.dropFirst() { XCTAssertEqual(r, runs[0], "bit-identical whatever numWorkers") }
        for r in labelRuns.dropFirst() { XCTAssertEqual(r, labelRuns[0]) }
    }

    func testShapesCountAndDropLast() {
        let loader = DataLoader(Noise(), batchSize: 8, shuffle: false, seed: 1)
        XCTAssertEqual(loader.count, 5)
        let batches = Array(loader)
        XCTAssertEqual(batches.count, 5)
        XCTAssertEqual(batches[0].0.shape, [8, 1, 6, 6])
        XCTAssertEqual(batches[0].1.dtype, .int64)
        XCTAssertEqual(batches[0].1.int64Scalars, [0, 1, 2, 0, 1, 2, 0, 1])
        XCTAssertEqual(batches[4].0.shape, [5, 1, 6, 6])
        // Unshuffled and untransformed, batch rows are the samples themselves.
        XCTAssertEqual(Array(batches[1].0.scalars[0..<36]), Noise().sample(at: 8, generator: Generator()).0.tensor.scalars)
        let dropping = DataLoader(Noise(), batchSize: 8, dropLast: true, numWorkers: 2, seed: 1)
        XCTAssertEqual(dropping.count, 4)
        XCTAssertEqual(Array(dropping).map { $0.0.shape[0] }, [8, 8, 8, 8])
    }

    func testEpochsShuffleDifferentlyButReproducibly() {
        let loader = DataLoader(Noise(), batchSize: 37, shuffle: true, seed: 5)
        let e0 = Array(loader)[0].1.int64Scalars, e1 = Array(loader)[0].1.int64Scalars
        XCTAssertEqual(loader.epoch, 2)
        XCTAssertEqual(loader.batchIndices(epoch: 0).flatMap { $0 }.sorted(), Array(0..<37))
        XCTAssertNotEqual(loader.batchIndices(epoch: 0), loader.batchIndices(epoch: 1))
        XCTAssertEqual(e0, loader.batchIndices(epoch: 0)[0].map { Int64($0 % 3) })
        XCTAssertEqual(e1, loader.batchIndices(epoch: 1)[0].map { Int64($0 % 3) })
        let again = DataLoader(Noise(), batchSize: 37, shuffle: true, seed: 5)
        XCTAssertEqual(Array(again)[0].0.scalars, Array(DataLoader(Noise(), batchSize: 37, shuffle: true, seed: 5))[0].0.scalars)
        again.epoch = 0
        XCTAssertEqual(Array(again)[0].1.int64Scalars, e0, "setting epoch replays it")
        // Different seeds, different orders; the same seed drawn from a generator is reproducible.
        XCTAssertNotEqual(DataLoader(Noise(), batchSize: 4, shuffle: true, seed: 6).batchIndices(epoch: 0),
                          loader.batchIndices(epoch: 0))
        XCTAssertEqual(DataLoader(Noise(), shuffle: true, generator: Generator(seed: 9)).seed,
                       DataLoader(Noise(), shuffle: true, generator: Generator(seed: 9)).seed)
    }

    func testAugmentationUsesPerSampleGenerators() {
        // The transform really runs (padding shows up as zeros) and depends on the epoch.
        let loader = DataLoader(Noise(), batchSize: 37, numWorkers: 2, seed: 3, transform: augment)
        let e0 = Array(loader)[0].0.scalars, e1 = Array(loader)[0].0.scalars
        XCTAssertNotEqual(e0, e1)
        XCTAssertGreaterThan(e0.filter { $0 == 0 }.count, 100)
        // Sample 4 of epoch 0 equals the pipeline applied with its derived generator.
        let g = loader.sampleGenerator(epoch: 0, index: 4)
        let expected = augment(Noise().sample(at: 4, generator: g).0, generator: g).tensor.scalars
        XCTAssertEqual(Array(e0[(4 * 36)..<(5 * 36)]), expected)
    }

    func testStoppingEarlyReleasesWorkers() {
        let loader = DataLoader(Noise(), batchSize: 2, numWorkers: 2, prefetchFactor: 1, seed: 0)
        for (i, _) in loader.enumerated() where i == 1 { break }
        // A second, complete epoch still works after abandoning the first.
        XCTAssertEqual(Array(loader).count, 19)
    }

    func testCollationErrorsNameTheSample() {
        struct Ragged: Dataset {
            let count = 4
            let classes = ["x"]
            func label(at index: Int) -> Int { 0 }
            func sample(at index: Int, generator: Generator) -> (ImageOrTensor, Int) {
                index == 3 ? (.image(Image(width: 2, height: 2, channels: 1)), 0) : (.tensor(Tensor.zeros([1, 2, 2 + index])), 0)
            }
        }
        let loader = DataLoader(Ragged(), batchSize: 2, seed: 0)
        guard case .failure(let shapes) = loader.makeBatch([0, 1], epoch: 0) else { return XCTFail("ragged batch stacked") }
        XCTAssertTrue(shapes.message.contains("dataset index 1") && shapes.message.contains("[1, 2, 3]") && shapes.message.contains("[1, 2, 2]"),
                      shapes.message)
        guard case .failure(let image) = loader.makeBatch([3], epoch: 0) else { return XCTFail("image collated") }
        XCTAssertTrue(image.message.contains("ToTensor()"), image.message)
    }

    func testLoaderOverImageFolderWithTransform() throws {
        let root = try temporaryFolder(self)
        for (k, name) in ["b", "a"].enumerated() {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
            for i in 0..<3 {
                try Image(width: 10 + i, height: 8, channels: 3, fill: [UInt8(k * 100), UInt8(i), 0])
                    .write(to: root.appendingPathComponent("\(name)/\(i).png"))
            }
        }
        let folder = try ImageFolder(root: root, transform: Compose([Resize(height: 4, width: 4), ToTensor()]))
        let batches = Array(DataLoader(folder, batchSize: 4, numWorkers: 2, seed: 0))
        XCTAssertEqual(batches.map { $0.0.shape }, [[4, 3, 4, 4], [2, 3, 4, 4]])
        XCTAssertEqual(batches.flatMap { $0.1.int64Scalars }, [0, 0, 0, 1, 1, 1])
    }
}
