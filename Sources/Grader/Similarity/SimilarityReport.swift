import Foundation
import Notebook

/// The result of `workbook similarity`: pairs of students whose answers share code, for a person
/// to read. It is an HTML page (self-contained, readable offline) and a terminal summary.
public struct SimilarityReport {
    /// A passage two answers share: file lines of student A's and of student B's file.
    public struct Block: Equatable, Sendable {
        public var linesA: ClosedRange<Int>
        public var linesB: ClosedRange<Int>
    }

    /// One exercise of one pair.
    public struct ExerciseMatch {
        public var exercise: String
        public var title: String
        /// Fingerprints both answers have, and each answer's count (common ones excluded).
        public var shared: Int
        public var countA: Int
        public var countB: Int
        public var a: SimilarityRun.Answer
        public var b: SimilarityRun.Answer
        /// The matching passages (filled for the pairs the page shows with their code).
        public var blocks: [Block]

        /// The Jaccard index of the two fingerprint sets.
        public var score: Double {
            let union = countA + countB - shared
            return union > 0 ? Double(shared) / Double(union) : 0
        }
        /// The share of A's fingerprints that B has too, and the reverse (a copy that adds code
        /// of its own keeps a high share of the original).
        public var containmentA: Double { countA > 0 ? Double(shared) / Double(countA) : 0 }
        public var containmentB: Double { countB > 0 ? Double(shared) / Double(countB) : 0 }

        func swapped() -> ExerciseMatch {
            ExerciseMatch(exercise: exercise, title: title, shared: shared, countA: countB, countB: countA, a: b, b: a,
                          blocks: blocks.map { Block(linesA: $0.linesB, linesB: $0.linesA) })
        }
    }

    public struct PairResult {
        /// Student names, `a < b`.
        public var a: String
        public var b: String
        /// Exercises where the two share fingerprints, highest score first.
        public var exercises: [ExerciseMatch]
        /// The Jaccard index over all exercises' fingerprints together.
        public var score: Double = 0
        public var maxScore: Double { exercises.map(\.score).max() ?? 0 }

        init(a: String, b: String, exercises: [ExerciseMatch]) {
            self.a = a
            self.b = b
            self.exercises = exercises
        }
    }

    public var date: Date
    public var students: [String]
    /// Per exercise: answers read, and answers with at least one fingerprint left to compare.
    public var exercises: [(exercise: String, answers: Int, fingerprinted: Int)]
    /// Pairs with at least one exercise at or above the threshold, highest overall score first.
    public var pairs: [PairResult]
    /// Files and folders that could not be compared, each naming the file and the cause.
    public var problems: [String]
    public var options: SimilarityRun.Options

    static let disclaimer = "This report is evidence for a person to read, never a grade. Similar answers can have innocent causes (a short exercise, a hint from class, a shared textbook idiom); read the code side by side before concluding anything, and nothing here changes any grade."

    func flagged(_ pair: PairResult) -> [ExerciseMatch] { pair.exercises.filter { $0.score >= options.threshold } }

    static func percent(_ x: Double) -> String { String(format: "%.0f%%", x * 100) }

    /// Names as the terminal shows them: control characters (a student's folder name could hold
    /// escape sequences) become `?`; line breaks stay.
    public static func plain(_ s: String) -> String {
        String(s.unicodeScalars.map { $0 != "\n" && $0.properties.generalCategory == .control ? "?" : Character($0) })
    }

    /// The plain terminal summary.
    public func summary(limit: Int = 20) -> String {
        let w = options.winnowing
        var out = "compared \(students.count) student\(students.count == 1 ? "" : "s") x \(exercises.count) exercise\(exercises.count == 1 ? "" : "s") (answer cells only; k=\(w.k), window=\(w.window), fingerprints in more than \(options.maxStudentsPerFingerprint) answers ignored)\n"
        if pairs.isEmpty {
            out += "no pair at or above the threshold \(Self.percent(options.threshold))\n"
        } else {
            out += "\(pairs.count) pair\(pairs.count == 1 ? "" : "s") with an exercise at or above \(Self.percent(options.threshold)) (overall, then the exercises above the threshold):\n"
            for pair in pairs.prefix(limit) {
                let list = flagged(pair).map { "\($0.exercise) \(Self.percent($0.score))" }.joined(separator: ", ")
                out += "  \(Self.percent(pair.score).padding(toLength: 5, withPad: " ", startingAt: 0)) \(Self.plain(pair.a)) ~ \(Self.plain(pair.b)): \(list)\n"
            }
            if pairs.count > limit { out += "  ... and \(pairs.count - limit) more in the report\n" }
        }
        if !problems.isEmpty { out += "\(problems.count) file\(problems.count == 1 ? "" : "s") or folder\(problems.count == 1 ? "" : "s") could not be compared (listed above and in the report)\n" }
        out += "This is evidence for a person to read, never a grade.\n"
        return out
    }

    // MARK: HTML

    static func escape(_ s: String) -> String { Gradebook.escape(s) }

    /// The report page: self-contained (inline style, no script, no external resource), every
    /// student-controlled text escaped.
    public func html() -> String {
        let w = options.winnowing
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Similarity of answers</title>
        <style>
        body{font-family:system-ui,sans-serif;max-width:90rem;margin:2rem auto;padding:0 1rem;line-height:1.4;color:#1b1b1b;background:#fff}
        .note{border:2px solid #b58900;background:#fdf6e3;padding:.6rem .9rem;border-radius:6px}
        table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
        .side{width:100%;table-layout:fixed}.side td{width:50%;padding:0 .5rem 0 0}
        pre{margin:0;font-size:.85rem;overflow-x:auto}pre>span{display:block;white-space:pre}
        .n{display:inline-block;width:3.5em;color:#888;user-select:none}
        .m{background:#ffe08a}.problems li{font-family:monospace}
        section.pair{border-top:3px solid #444;margin-top:2rem}
        details{margin:.4rem 0}
        @media (prefers-color-scheme: dark){body{background:#161616;color:#ddd}.note{background:#2b2611;color:#eee}.m{background:#5b4a00}td,th{border-color:#333}}
        </style></head><body>
        <h1>Similarity of answers</h1>
        <p class="note"><strong>\(Self.escape(Self.disclaimer))</strong></p>
        <p>Generated \(Self.escape(ISO8601DateFormatter().string(from: date))). \(students.count) student folder\(students.count == 1 ? "" : "s"),
        \(exercises.count) exercise\(exercises.count == 1 ? "" : "s"). Only answer cells are compared; code of the handout
        (starter code, given cells, visible checks) never counts. Names and literals are normalised; fingerprints are
        k-grams of \(w.k) tokens winnowed over windows of \(w.window) (a shared run of \(w.guaranteedRun) tokens or more
        is always found); a fingerprint in more than \(options.maxStudentsPerFingerprint) answers is common knowledge and ignored.
        The score is the Jaccard index of two answers' fingerprints; pairs with an exercise at or above
        \(Self.percent(options.threshold)) are listed, highest overall score first.</p>

        """
        if !problems.isEmpty {
            h += "<h2>Not compared</h2>\n<ul class=\"problems\">\n"
            for p in problems { h += "<li>\(Self.escape(p))</li>\n" }
            h += "</ul>\n"
        }
        h += "<h2>Pairs</h2>\n"
        if pairs.isEmpty {
            h += "<p>No pair reaches the threshold.</p>\n"
        } else {
            h += "<table><thead><tr><th>#</th><th>Student A</th><th>Student B</th><th>Overall</th><th>Exercises at or above the threshold</th></tr></thead><tbody>\n"
            for (i, pair) in pairs.enumerated() {
                let list = flagged(pair).map { "\(Self.escape($0.exercise)) \(Self.percent($0.score))" }.joined(separator: ", ")
                let number = i < options.detailedPairs ? "<a href=\"#pair-\(i + 1)\">\(i + 1)</a>" : "\(i + 1)"
                h += "<tr><td>\(number)</td><td>\(Self.escape(pair.a))</td><td>\(Self.escape(pair.b))</td><td>\(Self.percent(pair.score))</td><td>\(list)</td></tr>\n"
            }
            h += "</tbody></table>\n"
        }
        if pairs.count > options.detailedPairs {
            h += "<p>The code of the first \(options.detailedPairs) pairs is shown below; the other \(pairs.count - options.detailedPairs) are listed above only (raise the number with --detailed-pairs).</p>\n"
        }
        for (i, pair) in pairs.prefix(options.detailedPairs).enumerated() {
            h += "<section class=\"pair\" id=\"pair-\(i + 1)\"><h2>\(i + 1). \(Self.escape(pair.a)) and \(Self.escape(pair.b)): \(Self.percent(pair.score)) overall</h2>\n"
            for match in flagged(pair) { h += exerciseHTML(match) }
            h += "</section>\n"
        }
        h += "<h2>Exercises</h2>\n<table><thead><tr><th>Exercise</th><th>Answers read</th><th>With code to compare</th></tr></thead><tbody>\n"
        for e in exercises { h += "<tr><td>\(Self.escape(e.exercise))</td><td>\(e.answers)</td><td>\(e.fingerprinted)</td></tr>\n" }
        h += "</tbody></table>\n</body></html>\n"
        return h
    }

    func exerciseHTML(_ m: ExerciseMatch) -> String {
        var h = "<h3>\(Self.escape(m.title)) (\(Self.escape(m.exercise))): \(Self.percent(m.score))</h3>\n"
        h += "<p>\(m.shared) shared fingerprint\(m.shared == 1 ? "" : "s"): \(Self.percent(m.containmentA)) of A's answer, \(Self.percent(m.containmentB)) of B's. "
        h += "Files: <code>\(Self.escape(m.a.file))</code> and <code>\(Self.escape(m.b.file))</code>.</p>\n"
        let allA = Set(m.blocks.flatMap { Array($0.linesA) }), allB = Set(m.blocks.flatMap { Array($0.linesB) })
        h += "<table class=\"side\"><thead><tr><th>A: \(Self.escape(m.a.student))</th><th>B: \(Self.escape(m.b.student))</th></tr></thead><tbody>\n"
        for (n, block) in m.blocks.enumerated() {
            h += "<tr><td colspan=\"2\"><em>Match \(n + 1): A lines \(block.linesA.lowerBound)-\(block.linesA.upperBound), B lines \(block.linesB.lowerBound)-\(block.linesB.upperBound)</em></td></tr>\n"
            h += "<tr><td>\(Self.code(m.a, lines: block.linesA, marked: allA))</td><td>\(Self.code(m.b, lines: block.linesB, marked: allB))</td></tr>\n"
        }
        h += "</tbody></table>\n"
        h += "<details><summary>Both answers in full (matched lines highlighted)</summary><table class=\"side\"><tbody><tr><td>\(Self.code(m.a, lines: nil, marked: allA))</td><td>\(Self.code(m.b, lines: nil, marked: allB))</td></tr></tbody></table></details>\n"
        return h
    }

    /// An answer's code lines (all, or those in `lines`), numbered as in the student's file.
    static func code(_ answer: SimilarityRun.Answer, lines range: ClosedRange<Int>?, marked: Set<Int>) -> String {
        var h = "<pre>"
        for cell in answer.cells {
            let shown = cell.lines.filter { range?.contains($0.number) ?? true }
            if shown.isEmpty { continue }
            if range == nil { h += "<span><em>// cell id=\(escape(cell.id))</em></span>" }
            for line in shown {
                h += "<span\(marked.contains(line.number) ? " class=\"m\"" : "")><span class=\"n\">\(line.number)</span>\(escape(line.text))</span>"
            }
        }
        return h + "</pre>"
    }

    /// Writes the page as `similarity-<date>.html` in `directory` (created if needed): a temporary
    /// file completed beside it, then renamed, so a reader never sees half a page.
    public func write(to directory: URL) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        var target = directory.appendingPathComponent("similarity-\(Gradebook.stamp(date)).html")
        var n = 2
        while fm.fileExists(atPath: target.path) {
            target = directory.appendingPathComponent("similarity-\(Gradebook.stamp(date))-\(n).html")
            n += 1
        }
        let temporary = directory.appendingPathComponent(".\(target.lastPathComponent).tmp-\(getpid())")
        do {
            try Data(html().utf8).write(to: temporary)
            guard rename(temporary.path, target.path) == 0 else {
                throw NotebookError(file: target.path, line: nil, "cannot write the report (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
        return target
    }
}
