import Foundation
import Workbook

/// Images per second for one epoch of Fashion-MNIST training data with the course's augmentation
/// (random crop with 2-pixel padding + horizontal flip), batch size 128, at several worker counts.
/// Two pipelines: on normalised Float tensors (ToTensor + Normalize first, then crop/flip on
/// `[1, 28, 28]` tensors) and on 8-bit images (crop/flip, then ToTensor + Normalize).
func runDataLoaderBenchmark(workerCounts: [Int] = [0, 1, 2]) {
    print("== DataLoader: Fashion-MNIST train, one epoch, batch 128, crop(28, padding: 2) + flip ==")
    guard FashionMNIST.isInstalled else {
        print("skipped: Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist)")
        return
    }
    let normalize = Normalize(mean: FashionMNIST.mean, std: FashionMNIST.std)
    let pipelines: [(String, any Transform)] = [
        ("tensor path", Compose([ToTensor(), normalize, RandomCrop(28, padding: 2), RandomHorizontalFlip()])),
        ("image path", Compose([RandomCrop(28, padding: 2), RandomHorizontalFlip(), ToTensor(), normalize])),
    ]
    let loadStart = Date()
    guard let train = try? FashionMNIST(train: true) else {
        print("skipped: Fashion-MNIST could not be read")
        return
    }
    print(String(format: "load (gunzip + validate 60,000 images): %.2f s", Date().timeIntervalSince(loadStart)))
    for (name, transform) in pipelines {
        for workers in workerCounts {
            let loader = DataLoader(train, batchSize: 128, shuffle: true, numWorkers: workers, seed: 0, transform: transform)
            let start = Date(), cpuStart = processCPUSeconds()
            var images = 0
            var checksum: Float = 0
            for (batch, _) in loader {
                images += batch.shape[0]
                checksum += batch.withUnsafeBufferPointer { $0[0] }
            }
            let seconds = Date().timeIntervalSince(start), cpu = processCPUSeconds() - cpuStart
            print(String(format: "%@, numWorkers %d: %.0f images/s (%.2f s wall, %.2f s CPU for %d images, checksum %.3f)",
                         name, workers, Double(images) / seconds, seconds, cpu, images, checksum))
        }
    }
}

/// User + system CPU time of the whole process (all threads), to tell contention from a busy machine.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
