import XCTest
@testable import Grader
import Notebook

/// `workbook similarity` on a real course exercise (q22, test accuracy) with hand-written
/// students: a renamed copy, independent solutions, untouched handouts, given code kept.
final class SimilarityTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("similarity-tests-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    // A reference-like solution, in its author's own style.
    static let alice = """
    // The predicted class is the largest logit of each row.
    let logits = withNoGrad { model(testX) }
    let predictions = logits.argmax(dim: 1)
    var hits = 0
    for (guess, truth) in zip(predictions.int64Scalars, testY.int64Scalars) {
        if guess == truth { hits += 1 }
    }
    let accuracy = Double(hits) / Double(predictions.shape[0])
    """

    // Alice's answer with every variable renamed, other comments, other layout and literals.
    static let bob = """
    let out = withNoGrad {
        model(testX)    // forward pass
    }
    let predictions = out.argmax(dim: 2)
    var n = 10
    for (p, y) in zip(predictions.int64Scalars, testY.int64Scalars) { if p == y { n += 1 } }
    let accuracy = Double(n) / Double(predictions.shape[1])
    """

    // Two independent solutions, written differently.
    static let carol = """
    let predictions = withNoGrad { model(testX) }.argmax(dim: 1)
    let correct = zip(predictions.int64Scalars, testY.int64Scalars).filter { $0 == $1 }.count
    let accuracy = Double(correct) / Double(testY.count)
    """

    static let dave = """
    let predictions = withNoGrad { () -> Tensor in
        let scores = model(testX)
        return scores.argmax(dim: 1)
    }
    let labels = testY.int64Scalars
    let predicted = predictions.int64Scalars
    let right = labels.indices.reduce(0) { total, i in total + (labels[i] == predicted[i] ? 1 : 0) }
    let accuracy = Double(right) / 1000.0
    """

    // Only code the handout gives: the starter (one line renamed), and lines of the given cells.
    static let givenOnly = """
    // YOUR CODE HERE
    let (testX, testY) = tensors(testSet, 0..<1000)
    let predictions = Tensor.zerosInt64([1000])
    let accuracy = 0.0
    export("predictions", predictions)
    export("accuracy", accuracy)
    """

    static let givenOnlyRenamed = """
    let (testX, testY) = tensors(testSet, 0..<1000)
    let guesses = Tensor.zerosInt64([1000])
    let acc = 0.0
    export("predictions", predictions)
    """

    static let givenOnlyRenamedAgain = """
    let    classes = Tensor.zerosInt64([10])
    let share = 1.0   // TODO
    """

    static let exerciseName = "q22-test-accuracy"

    /// The exercises folder (q22 copied from the course) and a submissions folder.
    func makeClass(_ answers: [String: String?]) throws -> (exercises: URL, submissions: URL, exercise: Exercise) {
        let fm = FileManager.default
        let exercises = root.appendingPathComponent("exercises")
        try fm.createDirectory(at: exercises, withIntermediateDirectories: true)
        let target = exercises.appendingPathComponent(Self.exerciseName + ".md")
        if !fm.fileExists(atPath: target.path) {
            try fm.copyItem(at: Self.packageRoot.appendingPathComponent("exercises/\(Self.exerciseName).md"), to: target)
        }
        let exercise = try Exercise.load(path: target.path)
        let submissions = root.appendingPathComponent("submissions")
        for (student, code) in answers {
            let folder = submissions.appendingPathComponent(student)
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            let text = try code.map { try GradingTests.answer(exercise, ["answer": $0]) } ?? exercise.studentVersion()
            try Data(text.utf8).write(to: folder.appendingPathComponent(Self.exerciseName + ".md"))
        }
        return (exercises, submissions, exercise)
    }

    func report(_ exercises: URL, _ submissions: URL, threshold: Double = 0) throws -> SimilarityReport {
        var options = SimilarityRun.Options()
        options.threshold = threshold
        return try SimilarityRun(exercisesDirectory: exercises, submissions: submissions, options: options).run()
    }

    func score(_ report: SimilarityReport, _ a: String, _ b: String) -> Double {
        report.pairs.first { Set([$0.a, $0.b]) == Set([a, b]) }?.exercises.first?.score ?? 0
    }

    func testRenamedCopyRanksAboveIndependentSolutions() throws {
        let (exercises, submissions, _) = try makeClass(["alice": Self.alice, "bob": Self.bob, "carol": Self.carol, "dave": Self.dave])
        let report = try report(exercises, submissions)
        let top = try XCTUnwrap(report.pairs.first)
        XCTAssertEqual([top.a, top.b], ["alice", "bob"])
        let copy = score(report, "alice", "bob")
        XCTAssertGreaterThan(copy, 0.8, "a renamed copy keeps (nearly) all its fingerprints")
        for (a, b) in [("alice", "carol"), ("alice", "dave"), ("bob", "carol"), ("bob", "dave"), ("carol", "dave")] {
            XCTAssertLessThan(score(report, a, b), 0.5, "\(a) ~ \(b)")
            XCTAssertLessThan(score(report, a, b), copy, "\(a) ~ \(b)")
        }
        // The default threshold reports the copy alone, with its matching lines in both files.
        let flagged = try self.report(exercises, submissions, threshold: 0.5)
        XCTAssertEqual(flagged.pairs.map { [$0.a, $0.b] }, [["alice", "bob"]])
        let match = try XCTUnwrap(flagged.pairs.first?.exercises.first)
        XCTAssertFalse(match.blocks.isEmpty)
        // Alice's matched lines are her code lines, not the comment above them.
        let aliceFile = try String(contentsOf: submissions.appendingPathComponent("alice/\(Self.exerciseName).md"), encoding: .utf8)
            .components(separatedBy: "\n")
        let matchedA = Set(match.blocks.flatMap { Array($0.linesA) })
        XCTAssertTrue(matchedA.contains { aliceFile[$0 - 1].contains("for (guess, truth)") })
        XCTAssertFalse(matchedA.contains { aliceFile[$0 - 1].contains("largest logit") })
        XCTAssertTrue(flagged.summary().contains("alice ~ bob"))
    }

    func testStarterAndGivenCodeNeverCount() throws {
        let (exercises, submissions, _) = try makeClass([
            "erin": nil, "frank": nil,  // untouched handouts
            "gina": Self.givenOnly, "hank": Self.givenOnly, "ivan": Self.givenOnlyRenamed, "judy": Self.givenOnlyRenamedAgain,
        ])
        let report = try report(exercises, submissions)
        XCTAssertEqual(report.pairs.count, 0, report.summary())
        XCTAssertEqual(report.exercises.first?.answers, 6)
        XCTAssertEqual(report.exercises.first?.fingerprinted, 0, "no answer has code of its own")
        XCTAssertTrue(report.problems.isEmpty, "\(report.problems)")
    }

    func testStarterKeptBesideOwnCodeCountsOnlyTheOwnCode() throws {
        let own = Self.givenOnly + "\n" + Self.alice
        let (exercises, submissions, _) = try makeClass(["alice": Self.alice, "jill": own])
        let report = try report(exercises, submissions)
        let match = try XCTUnwrap(report.pairs.first?.exercises.first)
        XCTAssertGreaterThan(match.score, 0.8)
        let jill = try String(contentsOf: submissions.appendingPathComponent("jill/\(Self.exerciseName).md"), encoding: .utf8)
            .components(separatedBy: "\n")
        let matched = report.pairs[0].a == "jill" ? match.blocks.flatMap { Array($0.linesA) } : match.blocks.flatMap { Array($0.linesB) }
        for line in matched {
            XCTAssertFalse(jill[line - 1].contains("zerosInt64") || jill[line - 1].contains("tensors(testSet"), jill[line - 1])
        }
    }

    /// The answer most of the class writes is common knowledge (MOSS's -m), not evidence.
    func testAnswerSharedByMoreThanMaxSharingStudentsIsIgnored() throws {
        var answers: [String: String?] = [:]
        for i in 0..<11 { answers["s\(i)"] = Self.carol }
        answers["alice"] = Self.alice
        answers["bob"] = Self.bob
        let (exercises, submissions, _) = try makeClass(answers)
        let report = try report(exercises, submissions, threshold: 0.5)
        XCTAssertEqual(report.pairs.map { [$0.a, $0.b] }, [["alice", "bob"]], report.summary())
        var options = SimilarityRun.Options()
        options.maxStudentsPerFingerprint = 11
        let everyone = try SimilarityRun(exercisesDirectory: exercises, submissions: submissions, options: options).run()
        XCTAssertEqual(everyone.pairs.count, 1 + 11 * 10 / 2, everyone.summary())
    }

    func testTokensNormaliseNamesAndLiteralsAndKeepStructure() {
        let tokens = SwiftTokens.tokenize("""
        let x1 = 0x1F + 2.5e3 // comment
        /* a /* nested */ comment */ var `y` = "a \\(x1) \\"q\\"" + #"raw"#
        if $0 >= 10 { return nil }
        let s = \"\"\"
          many
          \"\"\"
        a?.b ..< c
        """)
        XCTAssertEqual(tokens.map(\.text), ["let", "ID", "=", "INT", "+", "FLOAT",
                                            "var", "ID", "=", "STR", "+", "STR",
                                            "if", "ID", ">=", "INT", "{", "return", "nil", "}",
                                            "let", "ID", "=", "STR",
                                            "ID", "?.", "ID", "..<", "ID"])
        XCTAssertEqual(tokens.map(\.line), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 6, 6, 6, 6, 6])
        // Renaming and re-spacing change nothing; a different operator does.
        XCTAssertEqual(SwiftTokens.tokenize("let a=b+1").map(\.text), SwiftTokens.tokenize("let  total = count + 42 // sum").map(\.text))
        XCTAssertNotEqual(SwiftTokens.tokenize("let a = b + 1").map(\.text), SwiftTokens.tokenize("let a = b - 1").map(\.text))
    }

    /// Any shared run of `window + k - 1` tokens yields a common fingerprint, wherever it sits;
    /// a run shorter than `k` yields none (documents of otherwise distinct tokens).
    func testWinnowingDetectsEverySharedRunOfGuaranteedLength() {
        var seed: UInt64 = 42
        func next(_ n: Int) -> Int {  // deterministic: a small LCG
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        func tokens(_ prefix: String, _ count: Int) -> [SimilarityToken] {
            (0..<count).map { _ in SimilarityToken(kind: .symbol, text: "\(prefix)\(next(1_000_000))", line: 0) }
        }
        for (k, window) in [(9, 4), (5, 1), (3, 8), (12, 6)] {
            let w = Winnowing(k: k, window: window)
            for _ in 0..<100 {
                let shared = tokens("s", w.guaranteedRun)
                let a = tokens("a", next(40)) + shared + tokens("a", next(40))
                let b = tokens("b", next(40)) + shared + tokens("b", next(40))
                let fa = Set(w.fingerprints(a).map(\.hash)), fb = Set(w.fingerprints(b).map(\.hash))
                XCTAssertFalse(fa.isDisjoint(with: fb), "k=\(k) window=\(window)")
                let short = Array(shared.prefix(k - 1))
                let c = tokens("c", next(40)) + short + tokens("c", next(40))
                let d = tokens("d", next(40)) + short + tokens("d", next(40))
                XCTAssertTrue(Set(w.fingerprints(c).map(\.hash)).isDisjoint(with: Set(w.fingerprints(d).map(\.hash))))
            }
        }
        // Winnowing keeps far fewer fingerprints than k-grams, and at least one per window.
        let w = Winnowing(k: 5, window: 4)
        let long = tokens("x", 400)
        let prints = w.fingerprints(long)
        XCTAssertLessThan(prints.count, 396 / 2)
        for start in 0...(396 - 4) { XCTAssertTrue(prints.contains { (start..<(start + 4)).contains($0.position) }) }
    }

    func testReportEscapesStudentText() throws {
        let hostile = """
        let note = "<script>alert('x')</script>"
        let predictions = withNoGrad { model(testX) }.argmax(dim: 1) // </pre><img src=x onerror=alert(1)>
        var hits = 0
        for (guess, truth) in zip(predictions.int64Scalars, testY.int64Scalars) where guess == truth { hits += 1 }
        let accuracy = Double(hits) / Double(predictions.shape[0])
        """
        let (exercises, submissions, _) = try makeClass(["<img src=x onerror=alert(1)>": hostile, "mallory & co": hostile,
                                                      "term\u{1b}[2J": hostile])
        let report = try report(exercises, submissions, threshold: 0.5)
        XCTAssertEqual(report.pairs.count, 3)
        // The terminal gets no escape sequence from a folder name.
        XCTAssertFalse(report.summary().contains("\u{1b}"))
        XCTAssertTrue(report.summary().contains("term?[2J"), report.summary())
        let html = report.html()
        XCTAssertFalse(html.contains("<script"), "student text must be shown as text")
        XCTAssertFalse(html.contains("<img"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        XCTAssertTrue(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        XCTAssertTrue(html.contains("mallory &amp; co"))
        XCTAssertTrue(html.contains("never a grade"))
        // Self-contained: nothing fetched from elsewhere.
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("<link") || html.contains("src=\""))
        // A large class: only the first pairs carry their code; all are listed.
        var short = report
        short.options.detailedPairs = 1
        let listed = short.html()
        XCTAssertTrue(listed.contains("id=\"pair-1\"") && !listed.contains("id=\"pair-2\"") && listed.contains("<td>3</td>"))
        let page = try report.write(to: root.appendingPathComponent("out"))
        XCTAssertEqual(try String(contentsOf: page, encoding: .utf8), html)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("out").path), [page.lastPathComponent])
    }

    func testBadFilesAreNamedAndTheRestCompared() throws {
        let (exercises, submissions, _) = try makeClass(["alice": Self.alice, "bob": Self.bob])
        let fm = FileManager.default
        func put(_ student: String, _ data: Data) throws {
            let folder = submissions.appendingPathComponent(student)
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try data.write(to: folder.appendingPathComponent(Self.exerciseName + ".md"))
        }
        try put("broken", Data("---\ntitle: x\n\n```swift id=answer\nlet a = 1\n```\n".utf8))  // unterminated front matter
        try put("binary", Data([0xff, 0xfe, 0x00, 0xc3, 0x28]))
        try fm.createDirectory(at: submissions.appendingPathComponent("folder/\(Self.exerciseName).md"), withIntermediateDirectories: true)
        try fm.createDirectory(at: submissions.appendingPathComponent("nobody"), withIntermediateDirectories: true)
        let report = try report(exercises, submissions, threshold: 0.5)
        XCTAssertEqual(report.pairs.map { [$0.a, $0.b] }, [["alice", "bob"]])
        XCTAssertEqual(report.problems.count, 3, "\(report.problems)")
        let broken = try XCTUnwrap(report.problems.first { $0.contains("broken/\(Self.exerciseName).md") })
        XCTAssertTrue(broken.contains("front matter"), broken)
        XCTAssertTrue(report.problems.contains { $0.contains("binary/\(Self.exerciseName).md") && $0.contains("UTF-8") })
        XCTAssertTrue(report.problems.contains { $0.contains("folder/\(Self.exerciseName).md") && $0.contains("cannot read") })
        XCTAssertTrue(report.html().contains("broken/\(Self.exerciseName).md"))

        XCTAssertThrowsError(try SimilarityRun(exercisesDirectory: exercises, submissions: root.appendingPathComponent("missing"))) {
            XCTAssertTrue("\($0)".contains("missing") && "\($0)".contains("does not exist"), "\($0)")
        }
    }

    /// The `workbook` executable beside the test bundle.
    func workbookExecutable() throws -> URL { try WorkbookExecutable.required() }

    func testCommandEndToEnd() throws {
        let (exercises, submissions, _) = try makeClass(["alice": Self.alice, "bob": Self.bob, "carol": Self.carol, "erin": nil])
        let broken = submissions.appendingPathComponent("zed")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data("```swift id=answer\nlet a = 1\n".utf8).write(to: broken.appendingPathComponent(Self.exerciseName + ".md"))
        let out = root.appendingPathComponent("reports")
        let workbook = try workbookExecutable()
        let result = try ChildProcess(executable: workbook.path, arguments: [
            "similarity", submissions.path, "--exercises", exercises.path, "--out", out.path,
        ]).run()
        let stdout = String(decoding: result.stdout, as: UTF8.self), stderr = String(decoding: result.stderr, as: UTF8.self)
        XCTAssertEqual(result.termination, .exited(0), stdout + stderr)
        XCTAssertTrue(stdout.contains("compared 5 students x 1 exercise"), stdout)
        XCTAssertTrue(stdout.contains("alice ~ bob"), stdout)
        XCTAssertFalse(stdout.contains("carol"), stdout)
        XCTAssertTrue(stdout.contains("never a grade"), stdout)
        XCTAssertTrue(stderr.contains("zed/\(Self.exerciseName).md"), stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
        XCTAssertEqual(files.count, 1, "\(files)")
        XCTAssertTrue(files[0].hasPrefix("similarity-") && files[0].hasSuffix(".html"))
        let html = try String(contentsOf: out.appendingPathComponent(files[0]), encoding: .utf8)
        XCTAssertTrue(html.contains("alice") && html.contains("for (guess, truth)"))

        let missing = try ChildProcess(executable: workbook.path, arguments: [
            "similarity", root.appendingPathComponent("nowhere").path, "--exercises", exercises.path, "--out", out.path,
        ]).run()
        XCTAssertNotEqual(missing.termination, .exited(0))
        XCTAssertTrue(String(decoding: missing.stderr, as: UTF8.self).contains("nowhere"))
    }
}
