import Foundation
import Notebook

/// `workbook similarity`: which students' answers share code, exercise by exercise.
///
/// Only answer cells are compared (the grader's cells, matched by id). Every k-gram that touches a
/// line of the handout (starter code, given cells, visible checks) or that the handout itself
/// contains is left out, so code everyone was given never counts; fingerprints found in more than
/// `maxStudentsPerFingerprint` students are common knowledge (the obvious answer) and are ignored,
/// as MOSS's `-m` does. The result is evidence for a person to read, never a grade.
public struct SimilarityRun {
    public struct Options: Sendable {
        public var winnowing = Winnowing()
        /// Pairs with an exercise scoring at least this (Jaccard index of fingerprints, 0...1) are reported.
        public var threshold = 0.5
        /// A fingerprint in more answers than this is ignored.
        public var maxStudentsPerFingerprint = 10
        /// Pairs shown with their code on the page (the rest are listed in its table only), so a
        /// large class still gets a page a browser opens.
        public var detailedPairs = 200
        /// How the submissions are laid out; nil: detected (`SubmissionIntake`).
        public var layout: SubmissionLayout?
        public init() {}
    }

    public var exercises: [Exercise]
    public var submissions: URL
    public var options: Options
    /// Exercises that could not be read (they are left out; the others are compared).
    public var exerciseProblems: [String]

    public init(exercisesDirectory: URL, submissions: URL, options: Options = Options()) throws {
        var problems: [String] = []
        var exercises: [Exercise] = []
        for file in try Release.exerciseFiles(in: exercisesDirectory) {
            do { exercises.append(try Exercise.load(path: file.path)) } catch { problems.append("\(error)") }
        }
        guard !exercises.isEmpty else {
            throw NotebookError(file: exercisesDirectory.path, line: nil,
                                problems.isEmpty ? "no exercises (*.md) here" : "no exercise could be read:\n" + problems.joined(separator: "\n"))
        }
        _ = try SubmissionIntake.detectLayout(of: submissions)  // a missing folder fails now, with its name
        self.exercises = exercises
        self.submissions = submissions
        self.options = options
        self.exerciseProblems = problems
    }

    /// One student's answer to one exercise, tokenised, with the lines it came from.
    public struct Answer: Sendable {
        public var student: String
        /// The submission file's path.
        public var file: String
        /// Answer cells in the exercise's order: id and (file line, text) of each code line.
        public var cells: [(id: String, lines: [(number: Int, text: String)])]
        /// Fingerprints, each with the file lines its k-gram spans.
        public var fingerprints: [(hash: UInt64, lines: ClosedRange<Int>)]
    }

    /// What the handout gives for one exercise: its lines (whitespace-collapsed) and all its k-grams.
    struct Handout {
        var lines: Set<String>
        var hashes: Set<UInt64>
    }

    static func collapse(_ line: Substring) -> String {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    func handoutCode(of exercise: Exercise) throws -> Handout {
        let text = try exercise.studentVersion()
        let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: text, path: exercise.path)
        var lines = Set<String>(), hashes = Set<UInt64>()
        for cell in lesson.cells {
            for line in cell.source.split(separator: "\n") {
                // Only lines with a name or a literal: a lone `}` must not hide a student's code.
                if SwiftTokens.tokenize(String(line)).contains(where: { $0.kind != .symbol && $0.kind != .keyword }) {
                    lines.insert(Self.collapse(line))
                }
            }
            hashes.formUnion(options.winnowing.kgramHashes(SwiftTokens.tokenize(cell.source)))
        }
        return Handout(lines: lines, hashes: hashes)
    }

    /// Reads and fingerprints one submission file.
    func answer(student: String, exercise: Exercise, file: URL, handout: Handout) throws -> Answer {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw NotebookError(file: file.path, line: nil, "cannot read the file: it is a folder; not compared")
        }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            data = try handle.read(upToCount: ExerciseGrader.maxSubmissionBytes + 1) ?? Data()
        } catch {
            throw NotebookError(file: file.path, line: nil, "cannot read the file (\(error.localizedDescription))")
        }
        if data.count > ExerciseGrader.maxSubmissionBytes {
            throw NotebookError(file: file.path, line: nil, "larger than \(ExerciseGrader.maxSubmissionBytes >> 20) MiB; not compared")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw NotebookError(file: file.path, line: nil, "not UTF-8 text; not compared")
        }
        let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: text, path: file.path)
        var result = Answer(student: student, file: file.path, cells: [], fingerprints: [])
        for (cell, role) in zip(exercise.lesson.cells, exercise.roles) where role == .answer {
            guard let mine = lesson.cells.first(where: { $0.options.id == cell.id }) else { continue }
            var lines = mine.source.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }  // the source's final newline
            result.cells.append((cell.id, lines.enumerated().map { (mine.codeLine + $0.offset, String($0.element)) }))
            let given = lines.map { handout.lines.contains(Self.collapse($0)) }
            let tokens = SwiftTokens.tokenize(mine.source)
            let k = options.winnowing.k
            let prints = options.winnowing.fingerprints(tokens) { start, hash in
                !handout.hashes.contains(hash) && !tokens[start..<(start + k)].contains { given[$0.line] }
            }
            result.fingerprints += prints.map {
                ($0.hash, (mine.codeLine + tokens[$0.position].line)...(mine.codeLine + tokens[$0.position + k - 1].line))
            }
        }
        return result
    }

    /// Compares every pair of students, exercise by exercise. Files that cannot be read or parsed
    /// are reported in `problems` and left out; everything else is compared.
    public func run() throws -> SimilarityReport {
        let intake = try SubmissionIntake.read(submissions, exercises: exercises.map(\.name), layout: options.layout)
        defer { intake.removeExtracted() }
        var problems = exerciseProblems
        // Files the intake could not map (unreadable folders, ambiguous or unknown files) are named, not compared.
        problems += intake.unmapped.map { "\($0.path): error: \($0.reason); not compared" }
        let readable = intake.students.map(\.name)
        // Per pair of names: (exercise, answer indices, shared fingerprints); details are built
        // only for the pairs reported, so a large class costs counters, not copies.
        var pairs: [Pair: [(exercise: Int, a: Int, b: Int, shared: Int)]] = [:]
        var compared: [(exercise: String, answers: Int, fingerprinted: Int)] = []
        var answersByExercise: [[Answer]] = []
        var setsByExercise: [[Set<UInt64>]] = []
        var counts: [String: Int] = [:]  // student -> fingerprints over all exercises
        var commonByExercise: [String: Set<UInt64>] = [:]
        for exercise in exercises {
            let handout: Handout
            do { handout = try handoutCode(of: exercise) } catch {
                problems.append("\(error)")
                answersByExercise.append([]); setsByExercise.append([])
                continue
            }
            var answers: [Answer] = []
            for student in readable {
                guard let submitted = intake.file(student: student, exercise: exercise.name) else { continue }
                do {
                    var found = try answer(student: student, exercise: exercise, file: submitted.file, handout: handout)
                    found.file = submitted.original  // a zip's entry, not its temporary copy
                    answers.append(found)
                } catch {
                    problems.append("\(error)")
                }
            }
            // Common knowledge: fingerprints in too many answers say nothing about any pair.
            var holders: [UInt64: [Int]] = [:]
            for (index, answer) in answers.enumerated() {
                for hash in Set(answer.fingerprints.map(\.hash)) { holders[hash, default: []].append(index) }
            }
            let common = Set(holders.filter { $0.value.count > options.maxStudentsPerFingerprint }.keys)
            commonByExercise[exercise.name] = common
            let sets = answers.map { Set($0.fingerprints.map(\.hash)).subtracting(common) }
            compared.append((exercise.name, answers.count, sets.filter { !$0.isEmpty }.count))
            for (answer, set) in zip(answers, sets) { counts[answer.student, default: 0] += set.count }
            var shared: [Pair: Int] = [:]
            for (hash, list) in holders where !common.contains(hash) && list.count > 1 {
                for i in list.indices { for j in list.indices where j > i { shared[Pair(list[i], list[j]), default: 0] += 1 } }
            }
            for (pair, count) in shared {
                pairs[Pair(names: answers[pair.a].student, answers[pair.b].student), default: []]
                    .append((answersByExercise.count, pair.a, pair.b, count))
            }
            answersByExercise.append(answers)
            setsByExercise.append(sets)
        }
        var results: [SimilarityReport.PairResult] = []
        for (key, found) in pairs {
            func score(_ f: (exercise: Int, a: Int, b: Int, shared: Int)) -> Double {
                let union = setsByExercise[f.exercise][f.a].count + setsByExercise[f.exercise][f.b].count - f.shared
                return union > 0 ? Double(f.shared) / Double(union) : 0
            }
            guard found.contains(where: { score($0) >= options.threshold }) else { continue }
            var result = SimilarityReport.PairResult(a: key.nameA, b: key.nameB, exercises: found.map { f in
                let a = answersByExercise[f.exercise][f.a], b = answersByExercise[f.exercise][f.b]
                let sa = setsByExercise[f.exercise][f.a], sb = setsByExercise[f.exercise][f.b]
                let exercise = exercises[f.exercise]
                let match = SimilarityReport.ExerciseMatch(
                    exercise: exercise.name, title: exercise.title, shared: f.shared, countA: sa.count, countB: sb.count,
                    a: a, b: b, blocks: [])
                return a.student == key.nameA ? match : match.swapped()
            })
            // Overall: the Jaccard index over all exercises' fingerprints together.
            let shared = found.reduce(0) { $0 + $1.shared }
            let union = (counts[key.nameA] ?? 0) + (counts[key.nameB] ?? 0) - shared
            result.score = union > 0 ? Double(shared) / Double(union) : 0
            result.exercises.sort { ($0.score, $1.exercise) > ($1.score, $0.exercise) }
            results.append(result)
        }
        results.sort { ($0.score, $0.maxScore, $1.a, $1.b) > ($1.score, $1.maxScore, $0.a, $0.b) }
        // The matching passages, for the pairs whose code the page shows.
        for i in results.indices.prefix(options.detailedPairs) {
            for j in results[i].exercises.indices where results[i].exercises[j].score >= options.threshold {
                let m = results[i].exercises[j]
                let shared = Set(m.a.fingerprints.map(\.hash)).intersection(m.b.fingerprints.map(\.hash))
                    .subtracting(commonByExercise[m.exercise] ?? [])
                results[i].exercises[j].blocks = Self.blocks(a: m.a, b: m.b, shared: shared)
            }
        }
        return SimilarityReport(date: Date(), students: readable, exercises: compared, pairs: results,
                                problems: problems, options: options)
    }

    /// Two students (by index within one exercise, or by name, in order).
    struct Pair: Hashable {
        var a: Int, b: Int
        var nameA: String, nameB: String
        init(_ a: Int, _ b: Int) { self.a = a; self.b = b; nameA = ""; nameB = "" }
        init(names x: String, _ y: String) { a = 0; b = 0; (nameA, nameB) = x < y ? (x, y) : (y, x) }
    }

    /// The matching passages of two answers: each shared fingerprint pairs a line range of A with
    /// one of B; overlapping or adjacent pairs merge into one block, in A's order.
    static func blocks(a: Answer, b: Answer, shared: Set<UInt64>) -> [SimilarityReport.Block] {
        var firstInB: [UInt64: ClosedRange<Int>] = [:]
        for f in b.fingerprints where shared.contains(f.hash) && firstInB[f.hash] == nil { firstInB[f.hash] = f.lines }
        var pieces: [(ClosedRange<Int>, ClosedRange<Int>)] = []
        for f in a.fingerprints { if let other = firstInB[f.hash] { pieces.append((f.lines, other)) } }
        pieces.sort { ($0.0.lowerBound, $0.1.lowerBound) < ($1.0.lowerBound, $1.1.lowerBound) }
        var blocks: [SimilarityReport.Block] = []
        for (ra, rb) in pieces {
            if var last = blocks.last, ra.lowerBound <= last.linesA.upperBound + 1,
               rb.lowerBound <= last.linesB.upperBound + 1, rb.upperBound + 1 >= last.linesB.lowerBound {
                last.linesA = last.linesA.lowerBound...max(last.linesA.upperBound, ra.upperBound)
                last.linesB = min(last.linesB.lowerBound, rb.lowerBound)...max(last.linesB.upperBound, rb.upperBound)
                blocks[blocks.count - 1] = last
            } else {
                blocks.append(SimilarityReport.Block(linesA: ra, linesB: rb))
            }
        }
        return blocks
    }
}
