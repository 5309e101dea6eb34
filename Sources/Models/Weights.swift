import Checkpoint
import Foundation
import NN
import Torch

/// The `weights:` argument of the model constructors (torchvision's `weights=`): a local
/// checkpoint file, or the name of torchvision's pretrained weights.
///
///     let model = try resnet50(weights: .imagenet1kV2)        // ResNet50_Weights.IMAGENET1K_V2
///     let model = try resnet18(weights: "models/resnet18.pth")  // a .pth or .safetensors file
///     let model = try resnet18(weights: nil)                    // random weights, as weights=None
///
/// Nothing is downloaded. Named weights are looked up as torchvision's own file
/// (`resnet50-11ad3fa6.pth`) in the package's `models/` folder and in torch's cache
/// (`$TORCH_HOME/hub/checkpoints`, `~/.cache/torch/hub/checkpoints`); when absent, the error says
/// which file to put where.
public struct Weights: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    enum Source: Sendable, Equatable {
        case file(URL)
        case named(String)
    }

    let source: Source

    /// torchvision's first ImageNet-1k weights (`IMAGENET1K_V1`).
    public static let imagenet1kV1 = Weights(named: "IMAGENET1K_V1")
    /// torchvision's improved ImageNet-1k recipe (`IMAGENET1K_V2`; ResNet-50, -101, -152).
    public static let imagenet1kV2 = Weights(named: "IMAGENET1K_V2")
    /// The best weights torchvision has for the architecture (`DEFAULT`).
    public static let `default` = Weights(named: "DEFAULT")

    // torchvision's enum spellings, for code typed from PyTorch (`ResNet50Weights.IMAGENET1K_V2`).
    public static let IMAGENET1K_V1 = imagenet1kV1
    public static let IMAGENET1K_V2 = imagenet1kV2
    public static let DEFAULT = Weights.default

    /// A name of torchvision's pretrained weights: `"IMAGENET1K_V1"`, `"IMAGENET1K_V2"`, `"DEFAULT"`.
    public init(named name: String) { source = .named(name.uppercased()) }

    /// A local checkpoint file (safetensors or PyTorch `.pth`, judged by content).
    public init(contentsOf url: URL) { source = .file(url) }

    /// A local checkpoint file by path.
    public init(path: String) { source = .file(URL(fileURLWithPath: path)) }

    /// A weights name (`"IMAGENET1K_V1"`, `"DEFAULT"`, as torchvision accepts strings) or a
    /// file path (anything with a `/` or a `.`).
    public init(stringLiteral value: String) {
        if value.contains("/") || value.contains(".") {
            self.init(path: value)
        } else {
            self.init(named: value)
        }
    }

    public var description: String {
        switch source {
        case .file(let url): return "\"\(url.path)\""
        case .named(let name): return ".\(Weights.swiftName(name))"
        }
    }

    static func swiftName(_ name: String) -> String {
        switch name {
        case "IMAGENET1K_V1": return "imagenet1kV1"
        case "IMAGENET1K_V2": return "imagenet1kV2"
        case "DEFAULT": return "default"
        default: return name
        }
    }

    /// torchvision's pretrained files by architecture and weights name (the hash in the name is
    /// the start of the file's SHA-256). `DEFAULT` is the newest.
    static let torchvisionFiles: [String: [(name: String, file: String)]] = [
        "resnet18": [("IMAGENET1K_V1", "resnet18-f37072fd.pth")],
        "resnet34": [("IMAGENET1K_V1", "resnet34-b627a593.pth")],
        "resnet50": [("IMAGENET1K_V1", "resnet50-0676ba61.pth"), ("IMAGENET1K_V2", "resnet50-11ad3fa6.pth")],
        "resnet101": [("IMAGENET1K_V1", "resnet101-63fe2227.pth"), ("IMAGENET1K_V2", "resnet101-cd907fc2.pth")],
        "resnet152": [("IMAGENET1K_V1", "resnet152-394f9c45.pth"), ("IMAGENET1K_V2", "resnet152-f82ba261.pth")],
        "vgg11": [("IMAGENET1K_V1", "vgg11-8a719046.pth")],
        "vgg11_bn": [("IMAGENET1K_V1", "vgg11_bn-6002323d.pth")],
        "vgg13": [("IMAGENET1K_V1", "vgg13-19584684.pth")],
        "vgg13_bn": [("IMAGENET1K_V1", "vgg13_bn-abd245e5.pth")],
        "vgg16": [("IMAGENET1K_V1", "vgg16-397923af.pth")],
        "vgg16_bn": [("IMAGENET1K_V1", "vgg16_bn-6c64b313.pth")],
        "vgg19": [("IMAGENET1K_V1", "vgg19-dcbb9e9d.pth")],
        "vgg19_bn": [("IMAGENET1K_V1", "vgg19_bn-c79401a0.pth")],
    ]

    /// Folders searched for named weights, in order: the package's `models/`
    /// (`WORKBOOK_PACKAGE_ROOT`, else the current folder), then torch's hub cache.
    public static var searchFolders: [URL] {
        let env = ProcessInfo.processInfo.environment
        var folders: [URL] = []
        if let root = env["WORKBOOK_PACKAGE_ROOT"], !root.isEmpty {
            folders.append(URL(fileURLWithPath: root).appendingPathComponent("models"))
        }
        folders.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models"))
        let home = env["HOME"].map { URL(fileURLWithPath: $0) }
        let torchHome = env["TORCH_HOME"].map { URL(fileURLWithPath: $0) }
            ?? env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0).appendingPathComponent("torch") }
            ?? home?.appendingPathComponent(".cache/torch")
        if let torchHome { folders.append(torchHome.appendingPathComponent("hub/checkpoints")) }
        var seen = Set<String>()
        return folders.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }
}

// The per-architecture names a PyTorch reader types (`ResNet50_Weights` in torchvision).
public typealias ResNet18Weights = Weights
public typealias ResNet34Weights = Weights
public typealias ResNet50Weights = Weights
public typealias ResNet101Weights = Weights
public typealias ResNet152Weights = Weights
public typealias VGG11Weights = Weights
public typealias VGG13Weights = Weights
public typealias VGG16Weights = Weights
public typealias VGG19Weights = Weights

/// Why a constructor's `weights:` could not be used: named weights that are not on this machine,
/// weights that do not fit the requested model, or a file that failed to load.
public struct ModelWeightsError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// The checkpoint file `weights` stands for, for `call` (e.g. `resnet50`) built for `numClasses`;
/// nil for random weights. Named weights are looked up (and fail) before the model is built.
/// `architecture` keys `Weights.torchvisionFiles`; nil for models torchvision has no weights for.
func resolve(_ weights: Weights?, architecture: String?, call: String, numClasses: Int) throws -> URL? {
    switch weights?.source {
    case nil: return nil
    case .file(let url): return url
    case .named(let name): return try locateNamedWeights(name, architecture: architecture, call: call, numClasses: numClasses)
    }
}

/// Loads the checkpoint at `url` (from `weights`) into `model`, strictly.
func load(_ url: URL?, from weights: Weights?, into model: Module, call: String, numClasses: Int) throws {
    guard let url, let weights else { return }
    let dict: StateDict
    do {
        dict = try Checkpoint.load(url)
    } catch {
        throw ModelWeightsError("\(call)(weights: \(weights)): \(error)")
    }
    do {
        try model.loadStateDict(dict, strict: true)
    } catch {
        throw ModelWeightsError("\(call)(weights: \(weights)): \(url.path) does not fit \(call)(numClasses: \(numClasses)): \(error)")
    }
}

private func locateNamedWeights(_ name: String, architecture: String?, call: String, numClasses: Int) throws -> URL {
    guard let architecture, let files = Weights.torchvisionFiles[architecture] else {
        throw ModelWeightsError("\(call)(weights: .\(Weights.swiftName(name))): torchvision has no pretrained weights for this model; "
                                + "pass a checkpoint file instead: \(call)(weights: \"path/to/weights.safetensors\")")
    }
    let wanted = name == "DEFAULT" ? files.last! : files.first { $0.name == name }
    guard let wanted else {
        let known = files.map { ".\(Weights.swiftName($0.name))" }.joined(separator: ", ")
        throw ModelWeightsError("\(call)(weights: .\(Weights.swiftName(name))): torchvision has no \(name) weights for \(architecture); "
                                + "it has \(known) (and .default)")
    }
    guard numClasses == 1000 else {
        throw ModelWeightsError("\(call)(weights: .\(Weights.swiftName(wanted.name))): ImageNet weights have 1000 classes, not \(numClasses); "
                                + "build with the 1000-class head and replace it: model.fc = Linear(model.fc.inFeatures, \(numClasses))")
    }
    let stem = (wanted.file as NSString).deletingPathExtension
    let folders = Weights.searchFolders
    for folder in folders {
        for candidate in [wanted.file, stem + ".safetensors"] {
            let url = folder.appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
    }
    throw ModelWeightsError("\(call)(weights: .\(Weights.swiftName(wanted.name))): torchvision's \(wanted.name) weights are not on this machine, "
                            + "and nothing is downloaded here. Fetch https://download.pytorch.org/models/\(wanted.file) on a machine "
                            + "with internet and put \(wanted.file) (or \(stem).safetensors) in \(folders[0].path)/"
                            + (folders.count > 1 ? " (also searched: \(folders.dropFirst().map(\.path).joined(separator: ", ")))" : "")
                            + ", or pass the file: \(call)(weights: \"path/to/\(wanted.file)\")")
}
