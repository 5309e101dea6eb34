import ArgumentParser
import Foundation
import Workbook

/// `workbook pretrain`: trains the course's source model (small ResNet on Fashion-MNIST task A)
/// with the fixed recipe and writes its weights and manifest.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Train the source model on Fashion-MNIST task A; write models/fashion-a-small-resnet.safetensors and models/manifest.json.")

    @Option(help: "Epochs (the reference recipe uses 18).")
    var epochs: Int = 18

    @Option(help: "Seed of the initialisation, shuffling and augmentation.")
    var seed: UInt64 = 0

    @Option(help: "Output folder.")
    var out: String = "models"

    @Option(help: "Folder holding Fashion-MNIST's IDX files.")
    var data: String = FashionMNIST.defaultRoot.path

    @Option(help: "Why the recipe departs from the reference (recorded in the manifest).")
    var note: String?

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: data)
        let train = try FashionTask.a.load(train: true, root: root)
        let test = try FashionTask.a.load(train: false, root: root)
        let recipe = PretrainRecipe(epochs: epochs, seed: seed)
        print("pre-training smallResNet(numClasses: 5) on task A: \(train.count) training images, \(epochs) epochs, seed \(seed), \(Threads.count) threads")
        setvbuf(stdout, nil, _IOLBF, 0)
        let start = Date()
        var lastReport = Date()
        var epochStart = Date()
        let model = pretrainSource(recipe: recipe, train: train, onStep: { step, perEpoch, loss in
            if step == 0 { epochStart = Date() }
            if Date().timeIntervalSince(lastReport) > 30 {
                lastReport = Date()
                let rate = Double((step + 1) * recipe.batchSize) / max(1e-9, Date().timeIntervalSince(epochStart))
                print(String(format: "  batch %d/%d loss %.4f (%.0f img/s this epoch)", step + 1, perEpoch, loss, rate))
            }
        }, onEpoch: { p in
            print(String(format: "epoch %d/%d  loss %.4f  train acc %.2f%%  %.0f img/s  elapsed %@  ETA %@",
                         p.epoch, p.epochs, p.train.loss, 100 * p.train.accuracy, p.train.imagesPerSecond,
                         clock(p.elapsed), clock(p.remaining)))
        })
        let seconds = Date().timeIntervalSince(start)
        let result = evaluate(model, on: test)
        print(String(format: "A-test accuracy %.2f%% on %d images (training %@)", 100 * result.accuracy, test.count, clock(seconds)))

        let folder = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let weightsURL = folder.appendingPathComponent(SourceModelManifest.defaultWeightsFile)
        try model.stateDict().save(to: weightsURL)  // atomic: temp file + rename
        let bytes = try Data(contentsOf: weightsURL)
        let formatter = ISO8601DateFormatter()
        let manifest = SourceModelManifest(
            weightsFile: SourceModelManifest.defaultWeightsFile, sha256: sha256Hex(bytes), parameterCount: model.parameterCount,
            classes: train.classes, recipe: recipe,
            deviation: note ?? (epochs == 18 ? nil : "\(epochs) epochs instead of the reference 18"),
            testAccuracy: result.accuracy, testImages: test.count, trainingSeconds: seconds,
            engineCommit: gitCommit(), createdAt: formatter.string(from: Date()))
        try manifest.write(to: folder.appendingPathComponent("manifest.json"))
        print("wrote \(weightsURL.path) (\(bytes.count) bytes, sha256 \(manifest.sha256)) and \(folder.appendingPathComponent("manifest.json").path)")
    }

    private func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d", s / 60, s % 60)
    }

    /// The current commit, if this runs inside a git checkout (best effort).
    private func gitCommit() -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "rev-parse", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
