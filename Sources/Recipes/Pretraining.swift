import Foundation
import Checkpoint
import Models
import NN
import Optim
import Torch

/// The fixed recipe the course's source model is trained with (the reference recipe measured
/// with PyTorch on this machine), except for `epochs`, which a slow machine may lower.
public struct PretrainRecipe: Codable, Sendable, Equatable {
    public var epochs = 18
    public var batchSize = 128
    public var learningRate = 0.1
    public var momentum = 0.9
    public var weightDecay = 5e-4
    /// Cosine decay of the learning rate to 0, stepped after every batch.
    public var schedule = "cosine, per step, to 0"
    public var cropPadding = 2
    public var horizontalFlip = true
    public var seed: UInt64 = 0
    public var normalizationMean = FashionNormalization.mean
    public var normalizationStd = FashionNormalization.std

    /// The reference recipe (18 epochs, seed 0).
    public init() {}
    public init(epochs: Int, seed: UInt64) {
        self.epochs = epochs
        self.seed = seed
    }
}

/// What `pretrainSource` reports after every epoch.
public struct PretrainProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var train: EpochStats
    /// Elapsed wall time of the whole run, seconds.
    public var elapsed: Double
    /// Estimated seconds left.
    public var remaining: Double { elapsed / Double(epoch) * Double(epochs - epoch) }
}

/// Trains `smallResNet(numClasses: 5)` on task A's training images with `recipe`; `onEpoch` is
/// called after every epoch, `onStep(step, stepsPerEpoch, loss)` after every batch.
public func pretrainSource(recipe: PretrainRecipe, train data: LabelledImages,
                           onStep: ((Int, Int, Float) -> Void)? = nil,
                           onEpoch: ((PretrainProgress) -> Void)? = nil) -> SmallResNet {
    manualSeed(recipe.seed)
    let model = smallResNet(numClasses: data.classes.count)
    let generator = Generator(seed: recipe.seed &+ 1)
    let sampler = BatchSampler(count: data.count, batchSize: recipe.batchSize, shuffle: true, generator: generator)
    let optimizer = SGD(model.parameters(), lr: recipe.learningRate, momentum: recipe.momentum, weightDecay: recipe.weightDecay)
    let scheduler = CosineAnnealingLR(optimizer, tMax: recipe.epochs * sampler.batchesPerEpoch)
    let preparation = BatchPreparation(augment: true, padding: recipe.cropPadding)
    let start = Date()
    for epoch in 1...max(1, recipe.epochs) {
        let stats = trainEpoch(model: model, data: data, sampler: sampler, optimizer: optimizer, scheduler: scheduler,
                               preparation: preparation, generator: generator) { step, loss in
            onStep?(step, sampler.batchesPerEpoch, loss)
        }
        onEpoch?(PretrainProgress(epoch: epoch, epochs: recipe.epochs, train: stats, elapsed: Date().timeIntervalSince(start)))
    }
    model.eval()
    return model
}

/// `models/manifest.json`: how the committed source model was made and how to check it.
public struct SourceModelManifest: Codable, Sendable, Equatable {
    public var model = "smallResNet(numClasses: 5, inChannels: 1)"
    public var weightsFile: String
    public var sha256: String
    public var parameterCount: Int
    public var task = "Fashion-MNIST task A: classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat), 30,000 training images"
    public var classes: [String]
    public var recipe: PretrainRecipe
    /// Why the recipe departs from the reference, if it does.
    public var deviation: String?
    public var testAccuracy: Double
    public var testImages: Int
    public var trainingSeconds: Double
    public var engineCommit: String?
    public var createdAt: String

    public init(weightsFile: String, sha256: String, parameterCount: Int, classes: [String], recipe: PretrainRecipe,
                deviation: String?, testAccuracy: Double, testImages: Int, trainingSeconds: Double, engineCommit: String?, createdAt: String) {
        self.weightsFile = weightsFile
        self.sha256 = sha256
        self.parameterCount = parameterCount
        self.classes = classes
        self.recipe = recipe
        self.deviation = deviation
        self.testAccuracy = testAccuracy
        self.testImages = testImages
        self.trainingSeconds = trainingSeconds
        self.engineCommit = engineCommit
        self.createdAt = createdAt
    }

    /// Where the course keeps the source model, relative to the package root.
    public static let defaultFolder = "models"
    public static let defaultWeightsFile = "fashion-a-small-resnet.safetensors"

    public static func load(_ url: URL) throws -> SourceModelManifest {
        try JSONDecoder().decode(SourceModelManifest.self, from: Data(contentsOf: url))
    }

    /// Writes pretty JSON atomically.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}

/// The course's source model: `smallResNet(numClasses: 5)` with the committed weights, strictly
/// loaded, in eval mode. `folder` defaults to the package's `models/` (`SourceModelManifest.packageModelsFolder()`),
/// wherever the lesson file and the working folder are.
public func loadSourceModel(folder: URL? = nil) throws -> SmallResNet {
    let model = smallResNet(numClasses: 5)
    try model.loadStateDict(try loadSourceWeights(folder: folder), strict: true)
    return model.eval()
}

/// `loadSourceModel(folder: "models")`: the folder as a path.
public func loadSourceModel(folder: String) throws -> SmallResNet {
    try loadSourceModel(folder: URL(fileURLWithPath: folder))
}

/// The source model's weights as a state dict (what transfer recipes start from).
public func loadSourceWeights(folder: URL? = nil) throws -> StateDict {
    let folder = try folder ?? SourceModelManifest.packageModelsFolder()
    return try Checkpoint.load(folder.appendingPathComponent(SourceModelManifest.defaultWeightsFile))
}

/// The source model's weights could not be found.
public struct SourceModelNotFound: Error, CustomStringConvertible, LocalizedError {
    public let searched: [String]
    public var description: String {
        "the course's source model (\(SourceModelManifest.defaultFolder)/\(SourceModelManifest.defaultWeightsFile)) was not found; "
            + "looked in \(searched.joined(separator: ", ")). Run the lesson with `workbook run` inside the package, "
            + "set WORKBOOK_PACKAGE_ROOT to the package folder, or pass loadSourceModel(folder:)"
    }
    public var errorDescription: String? { description }
}

extension SourceModelManifest {
    /// The package's `models/` folder holding the source weights: under `WORKBOOK_PACKAGE_ROOT`
    /// when the runner sets it; otherwise the nearest `models/` with the weights file in the
    /// current folder or a parent, then beside the running program or a parent (lessons are
    /// compiled inside the package's `.workbook/`).
    public static func packageModelsFolder(environment: [String: String] = ProcessInfo.processInfo.environment,
                                           currentFolder: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                           executable: URL? = Bundle.main.executableURL) throws -> URL {
        let fm = FileManager.default
        func hasWeights(_ folder: URL) -> Bool {
            fm.fileExists(atPath: folder.appendingPathComponent(defaultWeightsFile).path)
        }
        var searched: [String] = []
        if let root = environment["WORKBOOK_PACKAGE_ROOT"], !root.isEmpty {
            let folder = URL(fileURLWithPath: root, relativeTo: currentFolder).appendingPathComponent(defaultFolder).standardizedFileURL
            if hasWeights(folder) { return folder }
            searched.append("\(folder.path) (WORKBOOK_PACKAGE_ROOT)")
        }
        var starts = [currentFolder.standardizedFileURL]
        if let executable { starts.append(executable.deletingLastPathComponent().standardizedFileURL) }
        for start in starts {
            var folder = start
            while true {
                let candidate = folder.appendingPathComponent(defaultFolder)
                if hasWeights(candidate) { return candidate }
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
            searched.append("\(start.path)/\(defaultFolder) and its parents' \(defaultFolder)")
        }
        throw SourceModelNotFound(searched: searched)
    }
}
