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

extension Exercise {
    /// What `cell` is on the exercise's page: given cells show and run; an answer cell shows the
    /// handout's starter code, then the reference solution behind a toggle; visible checks show,
    /// not run; hidden checks stay out.
    public func role(of cell: Cell) -> CellRole {
        guard cell.index < roles.count else { return .normal }
        switch roles[cell.index] {
        case .given: return .normal
        case .answer: return .solution
        case .check: return .check
        case .hiddenCheck: return .hidden
        }
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
