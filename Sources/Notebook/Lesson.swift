/// A parsed lesson or exercise: front matter plus the Markdown body split into prose and cells,
/// in document order. Line numbers are 1-based lines of the whole file (front matter included).
public struct Lesson: Sendable {
    /// The path as given to the loader (e.g. `lessons/intro.md`); used in messages and
    /// `#sourceLocation` so compiler errors point at the Markdown file.
    public var path: String
    /// The whole file as read, with line endings normalised to "\n" and any UTF-8 byte order mark
    /// removed (`MarkdownText.normalized`); `MarkdownText.replacingCellCode` edits the file's own bytes.
    public var text: String
    public var frontMatter: FrontMatter
    public var blocks: [LessonBlock]

    public init(path: String, text: String, frontMatter: FrontMatter, blocks: [LessonBlock]) {
        self.path = path
        self.text = text
        self.frontMatter = frontMatter
        self.blocks = blocks
    }

    /// The Swift cells, in order (`cells[i].index == i`).
    public var cells: [Cell] {
        blocks.compactMap { if case .cell(let c) = $0 { return c } else { return nil } }
    }

    /// The prose chunks, in order.
    public var prose: [Prose] {
        blocks.compactMap { if case .prose(let p) = $0 { return p } else { return nil } }
    }

    /// The name used for cache entries and output folders: the file name without `.md`.
    public var name: String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".md") ? String(file.dropLast(3)) : file
    }
}

/// One piece of a lesson body.
public enum LessonBlock: Sendable {
    /// Markdown between cells (may contain non-Swift fenced code, which is plain code).
    case prose(Prose)
    /// A ```swift fenced block.
    case cell(Cell)
}

/// A run of Markdown lines between cells.
public struct Prose: Sendable, Equatable {
    /// The Markdown text, lines `lines` of the file joined with newlines.
    public var markdown: String
    /// 1-based, inclusive range of file lines.
    public var lines: ClosedRange<Int>
}

/// A fenced ```swift block: code that the runner executes.
public struct Cell: Sendable, Equatable {
    /// Position among the lesson's cells, from 0.
    public var index: Int
    /// `options.id` if given, else `cell-<index+1>`.
    public var id: String
    /// Line of the opening fence.
    public var line: Int
    /// Line of the first code line (`line + 1`).
    public var codeLine: Int { line + 1 }
    /// Line of the closing fence.
    public var endLine: Int
    /// The raw info string after the fence (`swift hide-source timeout=5`).
    public var info: String
    public var options: CellOptions
    /// The code, ending with a newline unless empty.
    public var source: String

    public init(index: Int, id: String, line: Int, endLine: Int, info: String,
                options: CellOptions, source: String) {
        self.index = index
        self.id = id
        self.line = line
        self.endLine = endLine
        self.info = info
        self.options = options
        self.source = source
    }

    /// The 1-based number shown to readers (`cell 3`).
    public var number: Int { index + 1 }
}
