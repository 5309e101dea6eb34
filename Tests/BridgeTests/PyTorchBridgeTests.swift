import Foundation
import XCTest
import Checkpoint
import Models
import NN
import Recipes
import Torch

/// The bridge to PyTorch (examples/pytorch/) against the engine, end to end: the small ResNet gives
/// the same logits, loss and gradients in both, and a model the engine exported comes back from a
/// two-process DistributedDataParallel run under `torchrun` (gloo, CPU) and loads strictly, with the
/// logits PyTorch computed. Needs a Python with torch (`scripts/install-torch` makes one); skipped
/// only when torch cannot be imported.
final class PyTorchBridgeTests: XCTestCase {
    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    private static let examples = packageRoot.appendingPathComponent("examples/pytorch")
    private static let sourceModel = packageRoot.appendingPathComponent("models/fashion-a-small-resnet.safetensors")

    private var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    // MARK: Finding torch

    /// The Python that imports torch: $TORCH_PYTHON, else the venv scripts/install-torch makes
    /// ($TORCH_VENV or /opt/torchenv), else python3 on the PATH.
    private static let torchPython: Result<URL, PythonNotFound> = {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let python = environment["TORCH_PYTHON"], !python.isEmpty { candidates.append(python) }
        candidates.append((environment["TORCH_VENV"].flatMap { $0.isEmpty ? nil : $0 } ?? "/opt/torchenv") + "/bin/python")
        candidates.append("/usr/bin/env")
        var tried: [String] = []
        for candidate in candidates {
            guard FileManager.default.isExecutableFile(atPath: candidate) else {
                tried.append("\(candidate) (not there)")
                continue
            }
            let arguments = candidate == "/usr/bin/env" ? ["python3", "-c", "import torch"] : ["-c", "import torch"]
            if let run = try? ProcessRun(URL(fileURLWithPath: candidate), arguments, timeout: 120), run.status == 0 {
                if candidate == "/usr/bin/env" {
                    let which = try? ProcessRun(URL(fileURLWithPath: candidate),
                                                ["python3", "-c", "import sys; print(sys.executable)"], timeout: 60)
                    let path = which?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                    if !path.isEmpty { return .success(URL(fileURLWithPath: path)) }
                }
                return .success(URL(fileURLWithPath: candidate))
            }
            tried.append(candidate == "/usr/bin/env" ? "python3 on the PATH" : candidate)
        }
        return .failure(PythonNotFound(tried: tried))
    }()

    struct PythonNotFound: Error {
        let tried: [String]
    }

    private func python() throws -> URL {
        switch Self.torchPython {
        case .success(let url): return url
        case .failure(let missing):
            throw XCTSkip("torch is not importable (tried \(missing.tried.joined(separator: ", "))); "
                          + "scripts/install-torch installs it into /opt/torchenv")
        }
    }

    /// Runs a Python script of examples/pytorch (or torchrun) and fails with its output if it fails.
    @discardableResult
    private func run(_ executable: URL, _ arguments: [String], timeout: TimeInterval = 900,
                     file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        // One thread per process: two ranks share the machine's cores, and results do not depend on it.
        environment["OMP_NUM_THREADS"] = "1"
        let run = try ProcessRun(executable, arguments, timeout: timeout, environment: environment,
                                 directory: Self.packageRoot)
        guard run.status == 0 else {
            let command = ([executable.path] + arguments).joined(separator: " ")
            XCTFail("\(command) exited with \(run.status)\(run.timedOut ? " (timed out)" : ""):\n\(run.output.suffix(4000))",
                    file: file, line: line)
            throw ProcessFailed()
        }
        return run.output
    }

    struct ProcessFailed: Error {}

    // MARK: Comparing

    /// Absolute agreement to `tolerance` (logits, losses), or with `relative`, to `tolerance` times the
    /// reference's largest magnitude (gradients, which are small and carry summation-order noise).
    /// Returns the largest difference, in units of the allowed scale.
    @discardableResult
    private func assertClose(_ actual: Tensor, _ reference: Tensor?, _ what: String, tolerance: Float = 1e-4,
                             relative: Bool = false, report: Bool = true,
                             file: StaticString = #filePath, line: UInt = #line) -> Float {
        guard let reference else { XCTFail("PyTorch wrote no \(what)", file: file, line: line); return .infinity }
        XCTAssertEqual(actual.shape, reference.shape, what, file: file, line: line)
        let a = actual.scalars, r = reference.scalars
        let scale = relative ? max(r.map(abs).max() ?? 0, 1e-6) : 1
        var worst: (index: Int, difference: Float) = (0, 0)
        for i in 0..<min(a.count, r.count) where abs(a[i] - r[i]) > worst.difference {
            worst = (i, abs(a[i] - r[i]))
        }
        if report { print("\(what): largest |engine - PyTorch| = \(worst.difference)") }
        XCTAssertLessThanOrEqual(worst.difference, tolerance * scale,
                                 "\(what)[\(worst.index)]: engine \(a[worst.index]) vs PyTorch \(r[worst.index])",
                                 file: file, line: line)
        return worst.difference / scale
    }

    /// Eight normalised test images of task B and their labels: a fixed batch both sides see.
    private func fixedBatch() throws -> (input: Tensor, target: Tensor) {
        let test = try FashionTask.b.load(train: false)
        let (raw, labels) = test.batch(Array(0..<8))
        return (FashionNormalization.apply(raw), labels)
    }

    // MARK: Tests

    func testSmallResNetKeysAndParameterCountMatchTheEngine() throws {
        let python = try python()
        let model = smallResNet(numClasses: 5)
        let script = """
        import sys; sys.path.insert(0, "examples/pytorch")
        from small_resnet import SmallResNet
        m = SmallResNet(num_classes=5)
        print("@", sum(p.numel() for p in m.parameters()))
        for k, v in m.state_dict().items(): print("@", k, str(v.dtype).replace("torch.", ""), *v.shape)
        """
        // Only the marked lines: torch may print warnings on the same stream.
        let lines = try run(python, ["-c", script]).split(separator: "\n")
            .filter { $0.hasPrefix("@ ") }.map { String($0.dropFirst(2)) }
        XCTAssertEqual(lines.first, String(model.parameterCount))
        let engine = model.stateDict().map { key, value in
            ([key, value.dtype == .int64 ? "int64" : "float32"] + value.shape.map(String.init)).joined(separator: " ")
        }
        XCTAssertEqual(Array(lines.dropFirst()), engine)
    }

    func testSmallResNetLogitsLossAndGradientsMatchPyTorch() throws {
        let python = try python()
        let weights = try Checkpoint.load(Self.sourceModel)
        let (input, target) = try fixedBatch()
        let batchFile = work.appendingPathComponent("batch.safetensors")
        try StateDict([("input", input), ("target", target)]).save(to: batchFile)
        let outFile = work.appendingPathComponent("pytorch.safetensors")
        try run(python, [Self.examples.appendingPathComponent("parity.py").path, "--weights", Self.sourceModel.path,
                         "--batch", batchFile.path, "--out", outFile.path])
        let reference = try Checkpoint.load(outFile)

        let model = smallResNet(numClasses: 5)
        try model.loadStateDict(weights, strict: true)
        model.eval()
        assertClose(withNoGrad { model(input) }, reference["logits_eval"], "eval logits")

        model.train()
        let logits = model(input)
        let loss = crossEntropy(logits, target)
        loss.backward()
        assertClose(logits.detach(), reference["logits_train"], "train-mode logits")
        assertClose(loss.reshape([1]), reference["loss"], "loss")
        var compared = 0
        var worst: (name: String, gap: Float) = ("", 0)
        for (name, parameter) in model.namedParameters() {
            guard let grad = parameter.grad else { XCTFail("no gradient for \(name)"); continue }
            let gap = assertClose(grad, reference["grad." + name], "gradient of \(name)", relative: true, report: false)
            if gap >= worst.gap { worst = (name, gap) }
            compared += 1
        }
        print("gradients of \(compared) parameters: largest |engine - PyTorch| / largest |gradient| = \(worst.gap) (\(worst.name))")
        XCTAssertEqual(compared, 47)  // 15 convolutions, 15 batch norms (weight, bias), fc (weight, bias)
    }

    func testDistributedFineTuneRoundTrip() throws {
        let python = try python()
        // 1. Export from the engine: the course's source model, written by the engine's own writer.
        let source = smallResNet(numClasses: 5)
        try source.loadStateDict(try Checkpoint.load(Self.sourceModel), strict: true)
        let export = work.appendingPathComponent("export.safetensors")
        try source.stateDict().save(to: export, metadata: ["written_by": "PyTorchBridgeTests"])
        let (input, _) = try fixedBatch()
        let batchFile = work.appendingPathComponent("batch.safetensors")
        try StateDict([("input", input)]).save(to: batchFile)

        // 2. A few DDP steps on two CPU processes with gloo.
        let result = work.appendingPathComponent("fine-tuned.safetensors")
        let logitsFile = work.appendingPathComponent("pytorch-logits.safetensors")
        let torchrun = python.deletingLastPathComponent().appendingPathComponent("torchrun")
        let launcher: (URL, [String]) = FileManager.default.isExecutableFile(atPath: torchrun.path)
            ? (torchrun, []) : (python, ["-m", "torch.distributed.run"])
        let output = try run(launcher.0, launcher.1 + [
            "--standalone", "--nproc_per_node=2", Self.examples.appendingPathComponent("finetune.py").path,
            "--weights", export.path, "--out", result.path, "--classes", "5,6,7,8,9", "--per-class", "40",
            "--batch-size", "16", "--max-steps", "5", "--lr", "0.05", "--no-eval",
            "--logits-input", batchFile.path, "--logits-out", logitsFile.path,
        ])
        XCTAssertTrue(output.contains("2 process(es), backend gloo"), output)

        // 3. Back into the engine, strictly.
        let (weights, metadata) = try SafeTensors.readWithMetadata(result)
        XCTAssertEqual(metadata["world_size"], "2")
        XCTAssertEqual(metadata["backend"], "gloo")
        XCTAssertEqual(metadata["steps"], "5")
        let model = smallResNet(numClasses: 5)
        let loaded = try model.loadStateDict(weights, strict: true)
        XCTAssertTrue(loaded.missingKeys.isEmpty && loaded.unexpectedKeys.isEmpty)
        XCTAssertEqual(weights.keys, source.stateDict().keys, "the file keeps the engine's key order")

        // It trained: the backbone moved, the head is new, batch norm counted the steps.
        let before = source.stateDict()
        for key in ["conv1.weight", "layer3.1.conv2.weight", "fc.weight"] {
            let change = zip(weights[key]!.scalars, before[key]!.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(change, 1e-6, "\(key) did not change")
        }
        XCTAssertEqual(weights["bn1.num_batches_tracked"]!.int64Scalars,
                       [before["bn1.num_batches_tracked"]!.int64Scalars[0] + 5])

        // 4. The engine's logits on the fixed batch are PyTorch's.
        model.eval()
        assertClose(withNoGrad { model(input) }, try Checkpoint.load(logitsFile)["logits"], "logits after the round trip")
    }

    func testFineTuneScriptReportsBadInputClearly() throws {
        let python = try python()
        let bad = work.appendingPathComponent("not-a-model.safetensors")
        try Data("definitely not safetensors".utf8).write(to: bad)
        let run = try ProcessRun(python, [Self.examples.appendingPathComponent("finetune.py").path,
                                          "--weights", bad.path, "--out", work.appendingPathComponent("o.safetensors").path],
                                 timeout: 300, directory: Self.packageRoot)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.output.contains(bad.path), run.output)
        XCTAssertFalse(run.output.contains("Traceback"), run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("o.safetensors").path))
    }
}

/// A child process run to completion (or killed after `timeout`), its stdout and stderr together.
struct ProcessRun {
    let status: Int32
    let output: String
    let timedOut: Bool

    init(_ executable: URL, _ arguments: [String], timeout: TimeInterval,
         environment: [String: String]? = nil, directory: URL? = nil) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        // A file rather than a pipe: a chatty child can never block on a full pipe buffer.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        var killed = false
        if process.isRunning {
            process.terminate()
            killed = true
            process.waitUntilExit()
        }
        status = process.terminationStatus
        timedOut = killed
        output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    }
}
