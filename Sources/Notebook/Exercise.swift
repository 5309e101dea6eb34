import Foundation

/// An exercise: a lesson file (`exercises/qNN-slug.md`) whose cells have roles. It sits beside
/// `Lesson` because every command reads it: the runner and the site (which cells run and show),
/// `workbook check`, and the grader.
///
/// See `exercises/FORMAT.md` for the syntax. In short:
/// - ```` ```swift id=NAME ```` cells containing `// BEGIN SOLUTION` ... `// END SOLUTION` regions
///   (or marked `answer`) are **answer cells**: the student writes them;
/// - other Swift cells are **given cells**: at grading time the reference's code runs, whatever
///   the student changed;
/// - ```` ```swift check id=NAME points=N ```` cells are **visible checks** (in the handout);
/// - ```` ```swift hidden-check id=NAME points=N ```` cells are **hidden checks** (removed by
///   `workbook release`);
/// - a `## Explanation` section is removed from the handout and shown in feedback once the
///   exercise is fully solved.
public struct Exercise: Sendable {
    public enum Role: String, Sendable { case given, answer, check, hiddenCheck = "hidden-check" }

    public struct Check: Sendable, Equatable {
        /// The check's name (its cell id).
        public var id: String
        public var points: Double
        public var hidden: Bool
        /// The cell index in the exercise.
        public var cell: Int

        public init(id: String, points: Double, hidden: Bool, cell: Int) {
            self.id = id
            self.points = points
            self.hidden = hidden
            self.cell = cell
        }
    }

    public var lesson: Lesson
    /// Role of each cell, by cell index.
    public var roles: [Role]
    public var checks: [Check]
    /// The Markdown of the `## Explanation` section (without the heading), if any.
    public var explanation: String?
    /// File lines (1-based, inclusive) of the explanation section, heading included.
    public var explanationLines: ClosedRange<Int>?

    public var path: String { lesson.path }
    /// `q13-freeze-resnet` for `exercises/q13-freeze-resnet.md`.
    public var name: String { lesson.name }
    public var title: String { lesson.frontMatter.title ?? name }
    public var maxPoints: Double { checks.reduce(0) { $0 + $1.points } }

    /// The cell options exercises add to the lesson format.
    public static let parserConfiguration = LessonParser.Configuration(
        extraFrontMatterKeys: ["memory"], extraCellOptions: ["answer", "check", "hidden-check", "points"])

    public static let beginSolution = "// BEGIN SOLUTION"
    public static let endSolution = "// END SOLUTION"
    public static let starter = "// STARTER"

    /// Reads and validates an exercise (the instructor's version).
    /// `handout`: a student's copy (answer cells are marked `answer`, checks may all be hidden).
    public static func load(path: String, handout: Bool = false) throws -> Exercise {
        let lesson = try LessonParser(configuration: parserConfiguration).load(path: path)
        return try Exercise(lesson: lesson, handout: handout)
    }

    public init(lesson: Lesson, handout: Bool = false) throws {
        self.lesson = lesson
        var roles: [Role] = []
        var checks: [Check] = []
        for cell in lesson.cells {
            let o = cell.options.extra
            let isCheck = o["check"] != nil, isHidden = o["hidden-check"] != nil
            func problem(_ message: String) -> NotebookError { NotebookError(file: lesson.path, line: cell.line, message) }
            if isCheck && isHidden { throw problem("a cell cannot be both 'check' and 'hidden-check'") }
            for flag in ["answer", "check", "hidden-check"] where (o[flag] ?? "").isEmpty == false {
                throw problem("cell option '\(flag)' takes no value")
            }
            let regions = try Self.solutionRegions(in: cell, path: lesson.path)
            if isCheck || isHidden {
                if !regions.isEmpty || o["answer"] != nil { throw problem("a check cell cannot hold an answer") }
                if cell.options.id == nil {
                    throw problem("a check cell needs a name: add id=NAME (it names the check in grades and feedback)")
                }
                var points = 1.0
                if let text = o["points"] {
                    guard let p = Double(text), p >= 0, p.isFinite else {
                        throw problem("cell option 'points' needs a non-negative number, as in points=2")
                    }
                    points = p
                }
                // `workbook test` (a student's machine) runs visible checks with no reference run.
                if isCheck, let offset = Self.referenceUseLine(in: cell.source) {
                    throw NotebookError(file: lesson.path, line: cell.codeLine + offset,
                                        "visible check '\(cell.id)' reads `reference`, which only `workbook grade` has (a student's `workbook test` runs no reference solution); make it a hidden-check, or check only `answers` here")
                }
                checks.append(Check(id: cell.id, points: points, hidden: isHidden, cell: cell.index))
                roles.append(isHidden ? .hiddenCheck : .check)
            } else {
                if o["points"] != nil { throw problem("only check and hidden-check cells carry points") }
                let isAnswer = !regions.isEmpty || o["answer"] != nil
                if isAnswer && cell.options.id == nil {
                    throw problem("an answer cell needs a stable name: add id=NAME (student cells are matched to it by id)")
                }
                roles.append(isAnswer ? .answer : .given)
            }
        }
        if !roles.contains(.answer) {
            throw NotebookError(file: lesson.path, line: nil,
                                "an exercise needs at least one answer cell (with // BEGIN SOLUTION ... // END SOLUTION, or the option 'answer')")
        }
        if checks.isEmpty && !handout {
            throw NotebookError(file: lesson.path, line: nil, "an exercise needs at least one check or hidden-check cell")
        }
        self.roles = roles
        self.checks = checks
        (explanation, explanationLines) = Self.findExplanation(lesson)
        // The handout drops the explanation and rewrites answer and hidden-check cells; one of those
        // inside the explanation would be edited twice (the fuzzer's crash in studentVersion).
        if let lines = explanationLines,
           let cell = zip(lesson.cells, roles).first(where: { lines.contains($0.0.line) && [.answer, .hiddenCheck].contains($0.1) })?.0 {
            throw NotebookError(file: lesson.path, line: cell.line,
                                "\(roles[cell.index] == .answer ? "answer" : "hidden-check") cell '\(cell.id)' is inside the '## Explanation' section (lines \(lines.lowerBound)-\(lines.upperBound)), which the handout removes; end the explanation with a heading before the cell, or move it")
        }
    }

    /// The 0-based line of `source` where the identifier `reference` is first used as code (not
    /// in a comment or string literal, not as a member such as `x.reference`), or nil.
    public static func referenceUseLine(in source: String) -> Int? {
        let chars = Array(source.unicodeScalars)
        var i = 0, line = 0, blockDepth = 0, stringDelimiter = 0
        func isIdentifier(_ c: Unicode.Scalar) -> Bool { c == "_" || CharacterSet.alphanumerics.contains(c) }
        func at(_ j: Int, _ text: String) -> Bool {
            let t = Array(text.unicodeScalars)
            return j + t.count <= chars.count && Array(chars[j..<j + t.count]) == t
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1; i += 1; continue }
            if blockDepth > 0 {
                if at(i, "*/") { blockDepth -= 1; i += 2 } else if at(i, "/*") { blockDepth += 1; i += 2 } else { i += 1 }
                continue
            }
            if stringDelimiter > 0 {
                // Interpolations are code, but checking them would need a real parser; they are rare in checks.
                if c == "\\" { i += 2; continue }
                if stringDelimiter == 3 ? at(i, "\"\"\"") : c == "\"" { i += stringDelimiter; stringDelimiter = 0 } else { i += 1 }
                continue
            }
            if at(i, "//") { while i < chars.count && chars[i] != "\n" { i += 1 }; continue }
            if at(i, "/*") { blockDepth = 1; i += 2; continue }
            if at(i, "\"\"\"") { stringDelimiter = 3; i += 3; continue }
            if c == "\"" { stringDelimiter = 1; i += 1; continue }
            if isIdentifier(c) {
                var j = i
                while j < chars.count && isIdentifier(chars[j]) { j += 1 }
                let word = String(String.UnicodeScalarView(chars[i..<j]))
                var k = i - 1
                while k >= 0 && (chars[k] == " " || chars[k] == "\t") { k -= 1 }
                if word == "reference" && !(k >= 0 && chars[k] == ".") { return line }
                i = j
                continue
            }
            i += 1
        }
        return nil
    }

    /// A solution region: the lines of a cell's source (0-based, inclusive of the markers) and the
    /// starter lines that replace it in the handout (already uncommented).
    struct Region {
        var begin: Int
        var end: Int
        var indent: String
        var starter: [String]?
    }

    static func solutionRegions(in cell: Cell, path: String) throws -> [Region] {
        let lines = cell.source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var regions: [Region] = []
        var open: (begin: Int, indent: String, starter: Int?)?
        for (i, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let fileLine = cell.codeLine + i
            if trimmed == beginSolution {
                if open != nil { throw NotebookError(file: path, line: fileLine, "'\(beginSolution)' inside another solution region") }
                open = (i, String(line.prefix { $0 == " " || $0 == "\t" }), nil)
            } else if trimmed == starter {
                guard open != nil, open!.starter == nil else {
                    throw NotebookError(file: path, line: fileLine, "'\(starter)' must sit once inside a '\(beginSolution)' region")
                }
                open!.starter = i
            } else if trimmed == endSolution {
                guard let region = open else { throw NotebookError(file: path, line: fileLine, "'\(endSolution)' without '\(beginSolution)'") }
                var starterLines: [String]?
                if let s = region.starter {
                    starterLines = try lines[(s + 1)..<i].enumerated().map { offset, raw in
                        let t = raw.trimmingCharacters(in: .whitespaces)
                        if t.isEmpty { return "" }
                        guard t.hasPrefix("//") else {
                            throw NotebookError(file: path, line: fileLine - (i - s - 1) + offset,
                                                "starter lines must be commented out with '// ' (they replace the solution in the handout)")
                        }
                        let body = t.dropFirst(2)
                        return region.indent + String(body.hasPrefix(" ") ? body.dropFirst() : body)
                    }
                }
                regions.append(Region(begin: region.begin, end: i, indent: region.indent, starter: starterLines))
                open = nil
            } else if trimmed.hasPrefix("// BEGIN") || trimmed.hasPrefix("// END SOL") {
                throw NotebookError(file: path, line: fileLine, "unknown marker '\(trimmed)' (write '\(beginSolution)' or '\(endSolution)' exactly)")
            }
        }
        if let open {
            throw NotebookError(file: path, line: cell.codeLine + open.begin, "'\(beginSolution)' has no '\(endSolution)'")
        }
        return regions
    }

    /// The student's version of an answer cell's code: each solution region replaced by its
    /// starter lines, or by `// YOUR CODE HERE` and `fatalError("not yet answered")`.
    public static func starterSource(of cell: Cell, path: String) throws -> String {
        let regions = try solutionRegions(in: cell, path: path)
        var lines = cell.source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for r in regions.reversed() {
            let replacement = [r.indent + "// YOUR CODE HERE"]
                + (r.starter ?? [r.indent + "fatalError(\"not yet answered\")"])
            lines.replaceSubrange(r.begin...r.end, with: replacement)
        }
        return lines.joined(separator: "\n")
    }

    /// An answer cell's solution as a reader should see it: without the `// BEGIN SOLUTION`,
    /// `// STARTER` and `// END SOLUTION` markers and without the (commented) starter lines.
    public static func solutionSource(of cell: Cell) -> String {
        var out: [Substring] = []
        var inStarter = false
        for line in cell.source.split(separator: "\n", omittingEmptySubsequences: false) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t == beginSolution { continue }
            if t == starter { inStarter = true; continue }
            if t == endSolution { inStarter = false; continue }
            if !inStarter { out.append(line) }
        }
        return out.joined(separator: "\n")
    }

    /// The exercise as a lesson to run (the site, `workbook check`): the reference solution with
    /// the given cells; check cells are left out, since they are closures over a student's exports.
    public var runnableLesson: Lesson {
        var runnable = lesson
        runnable.blocks = runnable.blocks.map { block in
            guard case .cell(var cell) = block, cell.index < roles.count,
                  roles[cell.index] == .check || roles[cell.index] == .hiddenCheck else { return block }
            cell.options.noRun = true
            return .cell(cell)
        }
        return runnable
    }

    static func findExplanation(_ lesson: Lesson) -> (String?, ClosedRange<Int>?) {
        let lines = lesson.text.components(separatedBy: "\n")
        let cellLines = lesson.cells.map { $0.line...$0.endLine }
        func inCell(_ n: Int) -> Bool { cellLines.contains { $0.contains(n) } }
        guard let start = lines.indices.first(where: {
            lines[$0].trimmingCharacters(in: .whitespaces).lowercased() == "## explanation" && !inCell($0 + 1)
        }) else { return (nil, nil) }
        var end = lines.count - 1
        for i in (start + 1)..<lines.count where lines[i].hasPrefix("## ") || lines[i].hasPrefix("# ") {
            if !inCell(i + 1) { end = i - 1; break }
        }
        while end > start && lines[end].trimmingCharacters(in: .whitespaces).isEmpty { end -= 1 }
        let body = end > start ? lines[(start + 1)...end].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return (body, (start + 1)...(end + 1))
    }
}
