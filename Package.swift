// swift-tools-version:6.0
import PackageDescription

// Layers depend downward only:
// C shims -> Torch (tensors, autograd) -> NN, Optim, Checkpoint, Models -> Vision
// -> Notebook (parse, run, cache) -> Site, Grader -> WorkbookCLI.
let engineTargets: [Target.Dependency] = ["Torch", "NN", "Optim", "Checkpoint", "Models", "Vision"]

let package = Package(
    name: "TransferWorkbook",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "workbook", targets: ["WorkbookCLI"]),
        // Lesson and exercise programs are compiled with swiftc against this one library.
        .library(name: "WorkbookKit", type: .dynamic, targets: ["Workbook"]),
        .library(name: "WorkbookEngine", targets: ["Torch", "NN", "Optim", "Checkpoint", "Models", "Vision"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // The gradebook database (Sources/Grader/Gradebook*.swift) over the system's SQLite.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // `workbook serve`: static site, live reload and the notebook's run stream (server-sent events).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Stops the server gracefully (open connections finished, not cancelled mid-write).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // System libraries from Debian.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCmark", pkgConfig: "libcmark", providers: [.apt(["libcmark-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "SystemZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Small C helpers: OpenBLAS kernel selection at load time; libjpeg/libpng error trapping.
        .target(name: "CEngineSupport", dependencies: ["CBLAS"]),
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),
        // SHA-256 for cache keys, content addresses and model checksums (swift-crypto).
        .target(name: "Digest", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),

        // The engine.
        .target(name: "Torch", dependencies: ["CBLAS", "CEngineSupport"], exclude: ["README.md"]),
        .target(name: "NN", dependencies: ["Torch"]),
        .target(name: "Optim", dependencies: ["Torch", "NN"]),
        .target(name: "Checkpoint", dependencies: ["Torch", "NN", "ZIPFoundation"]),
        // Checkpoint: the constructors' `weights:` argument loads .pth/safetensors files.
        .target(name: "Models", dependencies: ["Torch", "NN", "Checkpoint"]),
        .target(name: "Vision", dependencies: ["Torch", "CImageCodecs", "SystemZlib"], exclude: ["README.md"]),
        // The typed protocol between a running program and its host (records, verdicts, stream markers).
        .target(name: "ProgramRecords"),
        // What lesson cells call to emit rich outputs (tables, images, plots, progress).
        .target(name: "NotebookRuntime", dependencies: ["Torch", "Vision", "ProgramRecords"]),
        // Everything a lesson or exercise imports, in one module.
        // The course's shared recipes: tasks A/B, training loops, evaluation, transfer methods.
        .target(name: "Recipes", dependencies: engineTargets + ["Digest"]),
        .target(name: "Workbook", dependencies: engineTargets + ["NotebookRuntime", "Recipes"]),

        // Course tooling.
        .target(name: "Notebook", dependencies: ["CCmark", "Digest", "ProgramRecords", .product(name: "Yams", package: "Yams")]),
        .target(name: "Site", dependencies: ["Notebook", "CCmark",
                                             .product(name: "Mustache", package: "swift-mustache")]),
        // GRDB: the gradebook database; ZIPFoundation: Canvas's submission downloads; Yams: course.yml.
        .target(name: "Grader", dependencies: ["Notebook", "ProgramRecords", "ZIPFoundation",
                                               .product(name: "Yams", package: "Yams"),
                                               .product(name: "GRDB", package: "GRDB.swift")]),
        // `workbook serve`: the site and the in-browser notebook (edit, run, stop cells) on 127.0.0.1.
        .target(name: "Server", dependencies: ["Site", "Notebook", "Grader",
                                               .product(name: "Hummingbird", package: "hummingbird"),
                                               .product(name: "HTTPTypes", package: "swift-http-types"),
                                               .product(name: "Logging", package: "swift-log"),
                                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        .executableTarget(name: "WorkbookCLI", dependencies: [
            "Notebook", "Site", "Grader", "Workbook", "Server",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "Bench", dependencies: ["Workbook", "Notebook", "Grader", "Site"], path: "bench/Sources/Bench"),
        // Mutated PNG/JPEG/safetensors/.pth/IDX/Markdown inputs, each decoded in a limited child process;
        // also the child of the checkpoint kill test (`Fuzz save-checkpoint`).
        .executableTarget(name: "Fuzz", dependencies: ["Checkpoint", "Vision", "Notebook", "Grader", "Torch", "SystemZlib"],
                          path: "fuzz/Sources/Fuzz"),

        // The tests read their generators and fixtures through #filePath: not part of the targets.
        .testTarget(name: "TorchTests", dependencies: ["Torch"], exclude: ["make_kernel_expectations.py"]),
        .testTarget(name: "NNTests", dependencies: ["Torch", "NN", "Optim", "Models"], exclude: ["Fixtures"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Torch", "NN", "Optim", "Models", "Checkpoint"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "VisionTests", dependencies: ["Torch", "Vision"], resources: [.copy("Fixtures")]),
        .testTarget(name: "NotebookTests", dependencies: ["Notebook", "ProgramRecords"]),
        // The WebDriver client that the browser tests of SiteTests and ServerTests share.
        .target(name: "BrowserSupport", path: "Tests/BrowserSupport"),
        .testTarget(name: "SiteTests", dependencies: ["Site", "Notebook", "Server", "BrowserSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Site", "Notebook", "Grader", "BrowserSupport"]),
        .testTarget(name: "GraderTests", dependencies: ["Grader", "Notebook", "ZIPFoundation",
                                                        .product(name: "GRDB", package: "GRDB.swift")],
                    exclude: ["Fixtures"]),
        .testTarget(name: "RecipesTests", dependencies: ["Recipes", "Torch", "NN", "Optim", "Models", "Checkpoint"]),
        // The PyTorch bridge (examples/pytorch/): shells out to a Python with torch, skipped without one.
        .testTarget(name: "BridgeTests", dependencies: ["Recipes", "Torch", "NN", "Models", "Checkpoint"]),
    ],
    swiftLanguageModes: [.v5]
)
