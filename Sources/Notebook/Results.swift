import Foundation

/// One output of a cell, in the order it was produced. Stored as a flat JSON object whose `kind`
/// says which other fields are present:
/// `stdout`/`stderr`/`text` (`text`), `table` (`headers`, `rows`, `align`), `image` (`png` as
/// base64, optional `caption`), `svg` (`svg`), `html` (`html`), `error` (`text`).
public struct CellOutput: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case stdout, stderr, text, table, image, svg, html, error }
    public var kind: Kind
    public var text: String?
    public var headers: [String]?
    public var rows: [[String]]?
    public var align: [String]?
    public var png: String?
    public var caption: String?
    public var svg: String?
    public var html: String?

    public init(kind: Kind, text: String? = nil) { self.kind = kind; self.text = text }
}

/// What happened to a cell.
public enum CellStatus: String, Codable, Sendable {
    /// Ran to the end.
    case ok
    /// An `expect-error` cell that failed, as it should.
    case expectedError = "expected-error"
    /// Trapped, exited, or an `expect-error` cell that did not fail.
    case error
    /// Exceeded its (or the lesson's) time limit and was killed.
    case timeout
    /// The compiler rejected it.
    case compileError = "compile-error"
    /// Not reached: an earlier cell failed.
    case notRun = "not-run"
    /// A `no-run` cell.
    case skipped
}

public struct CellResult: Codable, Sendable {
    public var index: Int
    public var id: String
    /// The fence line when the lesson was run (outputs are re-attached by index on a cache hit).
    public var line: Int
    public var status: CellStatus
    /// Seconds, measured by the runner from the cell's start to the next cell's.
    public var duration: Double?
    public var outputs: [CellOutput]
    /// The error message for `error`, `expected-error`, `timeout` and `compile-error`.
    public var error: String?

    public init(index: Int, id: String, line: Int, status: CellStatus, duration: Double?, outputs: [CellOutput], error: String?) {
        self.index = index
        self.id = id
        self.line = line
        self.status = status
        self.duration = duration
        self.outputs = outputs
        self.error = error
    }
}

/// The outcome of a lesson: the cache file's contents.
public struct LessonResult: Codable, Sendable {
    public static let format = 1
    public var format: Int = LessonResult.format
    public var lesson: String
    /// The execution cache key (SHA-256 hex).
    public var key: String
    /// Every cell ran as intended (ok, expected-error or skipped).
    public var succeeded: Bool
    public var versions: Versions
    /// Declared input files -> SHA-256 of their contents.
    public var inputs: [String: String]
    public var createdAt: String
    public var durations: Durations
    public var cells: [CellResult]
    /// Problems not tied to a cell (the program's own start-up, an exit outside any cell).
    public var messages: [String]

    public struct Versions: Codable, Sendable {
        public var toolchain: String
        public var engine: String
        public var workbook: Int
    }

    public struct Durations: Codable, Sendable {
        public var generate: Double
        public var compile: Double
        public var run: Double
    }
}
