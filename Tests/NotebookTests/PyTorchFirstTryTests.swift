import XCTest
@testable import Notebook

/// Runs `Tests/Fixtures/pytorch-first-try.md`, the lesson of what PyTorch readers type first,
/// through the real runner against the release engine: every cell must compile and run.
final class PyTorchFirstTryTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pytorch-first-try.md")

    func testEveryFirstTrySpellingCompilesAndRuns() throws {
        let engine: EngineBuild
        do {
            engine = try EngineBuild()
            try engine.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
        } catch {
            throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`: \(error)")
        }
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
        }
        // The lesson runs from a folder outside the package, as a reader's own notes would.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("first-try-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lesson = directory.appendingPathComponent("pytorch-first-try.md")
        try FileManager.default.copyItem(at: Self.fixture, to: lesson)

        var options = LessonPipeline.Options()
        options.force = true
        var pipeline = LessonPipeline(engine: engine, options: options)
        pipeline.cache = ExecutionCache(directory: directory.appendingPathComponent("cache"))
        pipeline.workDirectory = directory.appendingPathComponent("build")
        let run = try pipeline.run(path: lesson.path)
        let cells = run.result.cells
        for cell in cells.dropLast() where cell.status != .ok {
            XCTFail("cell \(cell.index + 1) (line \(cell.line)) is \(cell.status): \(cell.error ?? "")\n"
                    + cell.outputs.compactMap(\.text).joined())
        }
        XCTAssertEqual(cells.count, 15)
        // `to("cuda")` stops with a message naming the device and the way out.
        XCTAssertEqual(cells.last?.status, .expectedError)
        XCTAssertTrue(cells.last?.error?.contains("device cuda is not available") ?? false, cells.last?.error ?? "")
        XCTAssertTrue(cells.last?.error?.contains("Device.default") ?? false, cells.last?.error ?? "")
        func text(_ index: Int) -> String { cells[index].outputs.filter { $0.kind == .stdout }.compactMap(\.text).joined() }
        func errors(_ index: Int) -> String { cells[index].outputs.filter { $0.kind == .stderr }.compactMap(\.text).joined() }

        XCTAssertEqual(text(0), "device: cpu default: cpu cuda available: false\nparsed: cpu true\n")
        XCTAssertTrue(text(1).contains("resnet18 parameters: 11689512"), text(1))
        XCTAssertTrue(text(2).contains("head in/out: 512 10"), text(2))
        XCTAssertTrue(text(4).contains("trainable: 5130 of"), text(4))
        XCTAssertTrue(text(5).contains("train: [3, 224, 224] val: [3, 224, 224] square: [3, 224, 224]"), text(5))
        XCTAssertTrue(text(6).contains("not here; the message names the archive to fetch"), text(6))
        XCTAssertTrue(text(6).contains("ImageFolder: 20 images, first [3, 28, 28]"), text(6))
        XCTAssertTrue(text(8).contains("epoch 1: loss finite: true"), text(8))
        XCTAssertTrue(text(9).contains("accuracy counted: true true"), text(9))
        XCTAssertTrue(text(9).contains("eq: 2.0 true"), text(9))
        XCTAssertTrue(text(10).contains("weights: loads too: true"), text(10))
        // The frozen random model warns once, naming a layer and both fixes.
        let warning = errors(12)
        XCTAssertEqual(warning.components(separatedBy: "warning:").count - 1, 1, warning)
        XCTAssertTrue(warning.contains("'bn1' of SmallResNet"), warning)
        XCTAssertTrue(warning.contains("updatesStatisticsWhenFrozen"), warning)
        XCTAssertTrue(warning.contains("pre-trained weights"), warning)
        // No other cell warns: loaded and trained models are quiet.
        for index in cells.indices.dropLast() where index != 12 {
            XCTAssertFalse(errors(index).contains("never trained"), "cell \(index + 1): \(errors(index))")
        }
        XCTAssertTrue(text(13).contains("source model: 64 -> 5"), text(13))
    }
}
