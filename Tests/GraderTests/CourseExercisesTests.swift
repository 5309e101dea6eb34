import XCTest
@testable import Grader
import Notebook

/// The course's 28 exercises (exercises/): every file parses and releases cleanly; one grading
/// run over a two-student class shows that the reference solutions earn full marks and that
/// typical mistakes lose exactly the checks meant to catch them.
///
/// About 28 + 28 + 19 compiles (checkers, references, wrong answers); several minutes on a
/// loaded 2-core machine, so the run happens once for the whole class.
final class CourseExercisesTests: XCTestCase {
    static var exercisesDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("exercises")
    }

    /// A plausible wrong answer: the answer cells it replaces, and the checks it must fail (all
    /// others must pass).
    struct Mistake {
        var exercise: String
        var cells: [String: String]
        var failing: Set<String>
    }

    static let mistakes: [Mistake] = [
        Mistake(exercise: "q01-setup", cells: ["answer": """
            let packages = ["libjpeg-dev", "libpng-dev", "dataset-fashion-mnist"]   // forgot the BLAS library
            let installCommand = "sudo apt-get install " + packages.joined(separator: " ")
            let datasetFiles = try FileManager.default.contentsOfDirectory(atPath: datasetFolder.path).sorted()
            let product = matmul(a, b)
            """], failing: ["package-names", "install-command"]),
        Mistake(exercise: "q03-device", cells: ["answer": """
            let device = "cpu"
            let threads = 2                       // typed in from the laptop
            let coreType = Threads.openBLASCoreType
            """], failing: ["threads"]),
        Mistake(exercise: "q04-seeding", cells: ["answer": """
            manualSeed(42)
            let first = Tensor.randn(5)
            let second = Tensor.randn(5)          // not seeded again
            let order = Generator(seed: 7).permutation(10)
            """], failing: ["repeatable"]),
        Mistake(exercise: "q06-imagenet-preprocessing", cells: ["answer": """
            let preprocess = Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])])
            let input = preprocess(photo).tensor.unsqueeze(dim: 0)
            """], failing: ["normalisation", "crop"]),
        Mistake(exercise: "q07-split", cells: ["answer": """
            let parts = randomSplit(pool, lengths: [3499, 751, 750], generator: Generator(seed: 42))
            let trainPart = parts[0], valPart = parts[1], testPart = parts[2]
            """], failing: ["sizes", "seeded"]),
        Mistake(exercise: "q08-dataloaders", cells: ["answer": """
            let trainLoader = DataLoader(trainPart, batchSize: 64, shuffle: true, seed: 0)   // keeps the last batch
            let valLoader = DataLoader(valPart, batchSize: 128)
            let (images, labels) = trainLoader.makeIterator().next()!
            """], failing: ["train-loader"]),
        Mistake(exercise: "q12-replace-head", cells: ["answer": """
            model = smallResNet(numClasses: 3)    // a fresh model: the pre-trained body is gone
            """], failing: ["body-kept"]),
        Mistake(exercise: "q13-freeze-all", cells: ["answer": """
            for (name, p) in model.namedParameters() where !name.hasPrefix("fc.") { p.requiresGrad = false }
            """], failing: ["all-frozen", "nothing-trains"]),
        Mistake(exercise: "q14-unfreeze-for-finetuning", cells: ["answer": """
            model.layer3.unfreeze()
            """], failing: ["fc", "rest-frozen"]),
        Mistake(exercise: "q16-cross-entropy", cells: ["answer": """
            let criterion = CrossEntropyLoss()
            let probabilities = softmax(logits, dim: 1)
            let loss = criterion(probabilities, labels).item()
            let smoothedLoss = CrossEntropyLoss(labelSmoothing: 0.1)(probabilities, labels).item()
            """], failing: ["loss-value", "smoothed"]),
        Mistake(exercise: "q17-optimizer-trainable", cells: ["answer": """
            let optimizer = Adam(model.parameters(), lr: 1e-3)
            """], failing: ["only-trainable"]),
        Mistake(exercise: "q18-training-loop", cells: ["answer": """
            var losses: [Float] = []
            for _ in 0..<2 {
                for (images, labels) in loader {
                    optimizer.zeroGrad()
                    let loss = criterion(model(images), labels)
                    loss.backward()
                    losses.append(loss.item())    // no optimizer.step()
                }
            }
            """], failing: ["loss-decreases", "learned"]),
        Mistake(exercise: "q21-eval-mode", cells: ["answer": """
            let logits = withNoGrad { model(images) }   // still in training mode
            """], failing: ["eval-mode", "statistics-untouched"]),
        Mistake(exercise: "q22-test-accuracy", cells: ["answer": """
            let predictions = withNoGrad { model(testX) }.argmax(dim: 1)
            let correct = zip(predictions.int64Scalars, testY.int64Scalars).filter { $0 == $1 }.count
            let accuracy = 100 * Double(correct) / Double(testY.count)   // a percentage
            """], failing: ["range", "accuracy"]),
        Mistake(exercise: "q23-confusion-matrix", cells: ["answer": """
            var counts = [[Int]](repeating: [Int](repeating: 0, count: 10), count: 10)
            for (p, t) in zip(predictions.int64Scalars, testY.int64Scalars) { counts[Int(p)][Int(t)] += 1 }
            let confusion = Tensor(counts.flatMap { $0.map(Float.init) }, shape: [10, 10])
            let chart = ConfusionMatrixChart(labels: testSet.classes, counts: counts)
            show(chart)
            """], failing: ["matrix", "row-sums"]),
        Mistake(exercise: "q24-batched-evaluation", cells: ["answer": """
            var batchLosses: [Double] = [], correct = 0, batchCount = 0
            var predicted: [Int64] = []
            withNoGrad {
                for (images, labels) in testLoader {
                    let logits = model(images.reshape([images.shape[0], 784]))
                    batchLosses.append(Double(CrossEntropyLoss()(logits, labels).item()))
                    let p = logits.argmax(dim: 1).int64Scalars
                    correct += zip(p, labels.int64Scalars).filter { $0 == $1 }.count
                    predicted += p
                    batchCount += 1
                }
            }
            let meanLoss = batchLosses.reduce(0, +) / Double(batchLosses.count)   // mean of batch means
            let accuracy = Double(correct) / Double(predicted.count)
            let predictions = Tensor(shape: [predicted.count], int64Scalars: predicted)
            """], failing: ["mean-loss"]),
        Mistake(exercise: "q25-discriminative-lr", cells: ["answer": """
            let backbone = model.namedParameters().filter { !$0.0.hasPrefix("fc.") }.map(\\.1)
            let optimizer = SGD([ParamGroup(params: backbone, lr: 1e-3),
                                 ParamGroup(params: model.fc.parameters(), lr: 1e-4)], lr: 1e-3, momentum: 0.9)
            """], failing: ["learning-rates"]),
        Mistake(exercise: "q26-batch-size", cells: ["answer": """
            var table: [[Double]] = []
            for batchSize in [32, 128, 300] {
                let model = freshModel()
                let optimizer = SGD(model.parameters(), lr: 0.05)
                let steps = 1000 / batchSize          // drops the last, smaller batch
                for s in 0..<steps {
                    optimizer.zeroGrad()
                    criterion(model(trainX.narrow(dim: 0, start: s * batchSize, length: batchSize)),
                              trainY.narrow(dim: 0, start: s * batchSize, length: batchSize)).backward()
                    optimizer.step()
                }
                table.append([Double(batchSize), Double(steps), fullLoss(model)])
            }
            """], failing: ["steps", "losses"]),
        Mistake(exercise: "q27-epochs-overfitting", cells: ["answer": """
            var trainLoss: [Double] = [], valLoss: [Double] = []
            var bestEpoch = 0
            for epoch in 1...15 {
                trainLoss.append(trainEpoch())
                valLoss.append(validationLoss())
                if bestEpoch == 0 || valLoss[epoch - 1] < valLoss[bestEpoch - 1] { bestEpoch = epoch }
            }
            let bestState = model.stateDict()     // the last epoch's weights, not the best
            let overfits = bestEpoch < 15 && trainLoss[14] < trainLoss[bestEpoch - 1]
            """], failing: ["best-weights"]),
        Mistake(exercise: "q28-adam-vs-sgd", cells: ["answer": """
            let wSGD = Tensor(start).requiringGrad()
            let wAdam = Tensor(start).requiringGrad()
            let sgd = SGD([wSGD], lr: 0.01, momentum: 0.9)
            let adam = Adam([wAdam], lr: 0.05)    // default betas
            for _ in 0..<2 {
                sgd.zeroGrad()
                loss(wSGD).backward()
                sgd.step()
                adam.zeroGrad()
                loss(wAdam).backward()
                adam.step()
            }
            """], failing: ["adam-steps", "options"]),
    ]

    struct Fixture {
        var root: URL
        var exercises: [Exercise]
        var grades: [ExerciseGrade]
        var seconds: Double
    }

    nonisolated(unsafe) static var fixture: Fixture?
    nonisolated(unsafe) static var problem: String?

    static func makeFixture() throws -> Fixture {
        let engine = try EngineBuild()
        try engine.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("course-exercises-\(UUID().uuidString.prefix(8))")
        let submissions = root.appendingPathComponent("submissions")
        let files = try Release.exerciseFiles(in: exercisesDirectory)
        let exercises = try files.map { try Exercise.load(path: $0.path) }
        func put(_ student: String, _ name: String, _ text: String) throws {
            let folder = submissions.appendingPathComponent(student)
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try text.write(to: folder.appendingPathComponent(name + ".md"), atomically: true, encoding: .utf8)
        }
        for exercise in exercises { try put("ref", exercise.name, exercise.lesson.text) }
        for mistake in mistakes {
            let exercise = try XCTUnwrap(exercises.first { $0.name == mistake.exercise }, mistake.exercise)
            try put("wrong", exercise.name, try GradingTests.answer(exercise, mistake.cells))
        }
        var run = try GradingRun(exercisesDirectory: exercisesDirectory, submissions: submissions,
                                 output: root.appendingPathComponent("gradebooks"), engine: engine,
                                 workDirectory: root.appendingPathComponent("work"))
        run.parallelism = 2
        run.useCache = false
        let start = Date()
        let (grades, _) = try run.run()
        return Fixture(root: root, exercises: exercises, grades: grades, seconds: Date().timeIntervalSince(start))
    }

    func fixture() throws -> Fixture {
        if Self.fixture == nil && Self.problem == nil {
            do {
                let engine = try EngineBuild()
                try engine.ensureBuilt(ignoringLock: true)  // `swift test` holds the package lock
            } catch {
                Self.problem = "\(error)"
            }
            if Self.problem == nil { Self.fixture = try Self.makeFixture() }
        }
        if let problem = Self.problem {
            throw XCTSkip("needs the engine built with `swift build -c release --product WorkbookKit`: \(problem)")
        }
        return Self.fixture!
    }

    override class func tearDown() {
        if let root = fixture?.root { try? FileManager.default.removeItem(at: root) }
        fixture = nil
    }

    // MARK: Without the compiler

    func testEveryExerciseParsesAndReleasesWithoutSolutions() throws {
        let files = try Release.exerciseFiles(in: Self.exercisesDirectory)
        XCTAssertEqual(files.count, 28)
        XCTAssertEqual(files.map { String($0.lastPathComponent.prefix(4)) }, (1...28).map { String(format: "q%02d-", $0) })
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("course-handout-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: out) }
        let written = try Release(exercisesDirectory: Self.exercisesDirectory).write(to: out)
        XCTAssertEqual(written.count, 28)
        for file in files {
            let exercise = try Exercise.load(path: file.path)
            XCTAssertTrue(exercise.title.hasPrefix("Q\(Int(exercise.name.dropFirst().prefix(2))!): "), exercise.title)
            XCTAssertNotNil(exercise.explanation, exercise.name)
            XCTAssertTrue(exercise.checks.contains { !$0.hidden }, "\(exercise.name) has no visible check")
            XCTAssertGreaterThanOrEqual(exercise.checks.filter(\.hidden).count, 2, "\(exercise.name): partial credit needs several hidden checks")
            let handout = try String(contentsOf: out.appendingPathComponent(file.lastPathComponent), encoding: .utf8)
            for leaked in ["BEGIN SOLUTION", "END SOLUTION", "hidden-check", "## Explanation"] {
                XCTAssertFalse(handout.contains(leaked), "\(exercise.name)'s handout contains \(leaked)")
            }
            let student = try Exercise.load(path: out.appendingPathComponent(file.lastPathComponent).path, handout: true)
            XCTAssertEqual(student.checks.map(\.id), exercise.checks.filter { !$0.hidden }.map(\.id))
            XCTAssertEqual(student.roles.filter { $0 == .answer }.count, exercise.roles.filter { $0 == .answer }.count)
        }
    }

    // MARK: Graded

    func testReferenceSolutionsScoreFullMarks() throws {
        let f = try fixture()
        print("course exercises: graded \(f.grades.count) programs in \(String(format: "%.0f", f.seconds)) s")
        let mine = f.grades.filter { $0.student == "ref" }
        XCTAssertEqual(mine.count, 28)
        for g in mine {
            XCTAssertEqual(g.status, .ok, "\(g.exercise): \(g.message)\n\(g.output.suffix(1500))")
            let failed = g.checks.filter { $0.status != .passed }.map { "\($0.name): \($0.message)" }
            XCTAssertEqual(failed, [], g.exercise)
            XCTAssertEqual(g.points, g.maxPoints, g.exercise)
            print(String(format: "  %@: %.0f points, compile %.1f s, run %.1f s", g.exercise, g.maxPoints,
                         g.compileSeconds ?? 0, g.runSeconds ?? 0))
        }
    }

    func testPlausibleWrongAnswersLoseExactlyTheirChecks() throws {
        let f = try fixture()
        for mistake in Self.mistakes {
            guard let g = f.grades.first(where: { $0.student == "wrong" && $0.exercise == mistake.exercise }) else {
                XCTFail("no grade for \(mistake.exercise)"); continue
            }
            XCTAssertEqual(g.status, .ok, "\(g.exercise): \(g.message)\n\(g.output.suffix(1500))")
            let failed = Set(g.checks.filter { $0.status != .passed }.map(\.name))
            XCTAssertEqual(failed, mistake.failing, "\(g.exercise): " + g.checks.map { "\($0.name)=\($0.status.rawValue) \($0.message)" }.joined(separator: "; "))
            let lost = g.checks.filter { mistake.failing.contains($0.name) }.reduce(0) { $0 + $1.max }
            XCTAssertEqual(g.points, g.maxPoints - lost, g.exercise)
        }
        // The other exercises were not handed in: missing, no points.
        let missing = f.grades.filter { $0.student == "wrong" && !Self.mistakes.map(\.exercise).contains($0.exercise) }
        XCTAssertEqual(missing.count, 28 - Self.mistakes.count)
        XCTAssertTrue(missing.allSatisfy { $0.status == .missing && $0.points == 0 })
    }
}
