import Foundation
import Notebook

/// What a cell is for on an exercise page.
public enum CellRole: String, Sendable, Equatable {
    /// Part of the text (lessons: every cell).
    case normal
    /// The code a student starts from: shown, not run.
    case starter
    /// The reference solution: run; shown with its outputs behind a "Show solution" toggle, or left
    /// out entirely with `--no-solutions`.
    case solution
    /// Run but never shown (grader checks).
    case hidden
    /// Shown (labelled as a check), not run: visible grader checks.
    case check
}

/// The exercise-specific part of the site: which cells are starters and solutions, and what the
/// parser must accept. The grader defines the exercise markers; it plugs its own conformance
/// into `SiteBuilder.Options.exercises`.
public protocol ExerciseConventions: Sendable {
    /// Front matter keys and cell options exercises may use beyond the lesson format.
    var parserConfiguration: LessonParser.Configuration { get }
    func role(of cell: Cell, in exercise: Lesson) -> CellRole
    /// The lesson to execute for an exercise (for example with starter cells made `no-run`).
    func runnable(_ exercise: Lesson) -> Lesson
    /// For a `.solution` cell: the code a student starts from, shown before the solution (and
    /// alone with `--no-solutions`); nil shows none.
    func starterSource(of cell: Cell, in exercise: Lesson) -> String?
    /// For a `.solution` cell: the code to show as the solution (e.g. without grading markers);
    /// nil shows the cell's source.
    func solutionSource(of cell: Cell, in exercise: Lesson) -> String?
    /// File lines (1-based) of prose that belongs to the solution (an explanation section): left
    /// out with `--no-solutions`, cells inside included.
    func solutionLines(in exercise: Lesson) -> [ClosedRange<Int>]
    /// Throws a `file:line` error when the exercise breaks the exercise format.
    func validate(_ exercise: Lesson) throws
}

extension ExerciseConventions {
    public func starterSource(of cell: Cell, in exercise: Lesson) -> String? { nil }
    public func solutionSource(of cell: Cell, in exercise: Lesson) -> String? { nil }
    public func solutionLines(in exercise: Lesson) -> [ClosedRange<Int>] { [] }
    public func validate(_ exercise: Lesson) throws {}
}

/// Until the grader's markers land: cell options `starter`, `solution` and `hidden`
/// (```` ```swift solution ````); starter cells are not run.
public struct DefaultExerciseConventions: ExerciseConventions {
    public init() {}
    public var parserConfiguration: LessonParser.Configuration {
        LessonParser.Configuration(extraFrontMatterKeys: ["difficulty"], extraCellOptions: ["starter", "solution", "hidden"])
    }
    public func role(of cell: Cell, in exercise: Lesson) -> CellRole {
        if cell.options.extra["solution"] != nil { return .solution }
        if cell.options.extra["starter"] != nil { return .starter }
        if cell.options.extra["hidden"] != nil { return .hidden }
        return .normal
    }
    public func runnable(_ exercise: Lesson) -> Lesson {
        var lesson = exercise
        lesson.blocks = lesson.blocks.map { block in
            guard case .cell(var cell) = block, role(of: cell, in: exercise) == .starter else { return block }
            cell.options.noRun = true
            return .cell(cell)
        }
        return lesson
    }
}

/// One page of the course.
public struct CoursePage: Sendable {
    public enum Kind: String, Sendable { case lesson, exercise }
    public var kind: Kind
    public var lesson: Lesson
    /// The execution result (nil for pages not run, such as when rendering without results).
    public var result: LessonResult?

    public init(kind: Kind, lesson: Lesson, result: LessonResult?) {
        self.kind = kind
        self.lesson = lesson
        self.result = result
    }

    /// `lessons/intro.html`, relative to the site root.
    public var url: String { (kind == .lesson ? "lessons/" : "exercises/") + Course.slug(lesson.name) + ".html" }

    /// Front matter title, else the first `# heading`, else the file name.
    public var title: String {
        if let t = lesson.frontMatter.title, !t.isEmpty { return t }
        if let first = lesson.prose.first?.markdown.split(separator: "\n").first(where: { !$0.allSatisfy(\.isWhitespace) }),
           first.hasPrefix("# ") {
            return String(first.dropFirst(2)).trimmingWhitespace()
        }
        return lesson.name
    }
}

/// The whole course: an optional home-page introduction, lessons and exercises in order.
public struct Course: Sendable {
    public var title: String
    /// `lessons/index.md`, rendered as prose on the home page (its cells are shown, not run).
    public var intro: Lesson?
    public var lessons: [CoursePage]
    public var exercises: [CoursePage]

    public init(title: String, intro: Lesson?, lessons: [CoursePage], exercises: [CoursePage]) {
        self.title = title
        self.intro = intro
        self.lessons = lessons
        self.exercises = exercises
    }

    /// Lessons, then exercises: the reading order for previous/next links.
    public var pages: [CoursePage] { lessons + exercises }

    /// A file-name-safe slug (letters, digits, `-`, `_`, `.`).
    public static func slug(_ name: String) -> String {
        String(name.unicodeScalars.map { c -> Character in
            (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_" || c == ".") && c.isASCII
                ? Character(c) : "-"
        })
    }

    /// Sorts by front matter `order`, then file name.
    public static func ordered(_ pages: [CoursePage]) -> [CoursePage] {
        pages.sorted { a, b in
            let oa = a.lesson.frontMatter.order ?? Int.max, ob = b.lesson.frontMatter.order ?? Int.max
            return oa != ob ? oa < ob : a.lesson.path < b.lesson.path
        }
    }
}
