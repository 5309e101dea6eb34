import Foundation

/// Stage 1 (load): reads a Markdown lesson into a `Lesson`.
public struct LessonParser: Sendable {
    /// What the parser accepts beyond the lesson format (exercises add markers of their own).
    public struct Configuration: Sendable {
        public var extraFrontMatterKeys: Set<String> = []
        public var extraCellOptions: Set<String> = []
        public init(extraFrontMatterKeys: Set<String> = [], extraCellOptions: Set<String> = []) {
            self.extraFrontMatterKeys = extraFrontMatterKeys
            self.extraCellOptions = extraCellOptions
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Reads and parses the file at `path` (relative paths resolve against the current directory;
    /// messages use `path` as given).
    public func load(path: String) throws -> Lesson {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw NotebookError(file: path, line: nil, "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(text: text, path: path)
    }

    /// Parses lesson text; `path` names the file in messages and `#sourceLocation`s.
    /// CRLF, lone CR and a UTF-8 byte order mark are accepted: the lesson's `text` is the file's
    /// text with those normalised (`MarkdownText.normalized`), so every later reader splits at "\n"
    /// and counts the same lines as cmark and as the user's editor.
    public func parse(text rawText: String, path: String) throws -> Lesson {
        let text = MarkdownText.normalized(rawText)
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }

        // Front matter: `---` on line 1 up to the next `---` (or `...`).
        var frontMatter = FrontMatter()
        var bodyStart = 1
        if let first = lines.first, first.trimmingCharacters(in: .whitespaces) == "---" {
            guard let close = lines.indices.dropFirst().first(where: {
                let t = lines[$0].trimmingCharacters(in: .whitespaces)
                return t == "---" || t == "..."
            }) else {
                throw NotebookError(file: path, line: 1,
                                    "unterminated front matter: the '---' on line 1 has no closing '---' line")
            }
            let yaml = lines[1..<close].joined(separator: "\n")
            frontMatter = try FrontMatter.parse(yaml: yaml, firstLine: 2, file: path,
                                                extraAllowed: configuration.extraFrontMatterKeys)
            frontMatter.lines = 1...(close + 1)
            bodyStart = close + 2
        }

        // Blank out the front matter so cmark's line numbers are the file's.
        var body = lines
        for i in 0..<(bodyStart - 1) { body[i] = "" }
        let fences = MarkdownFences.codeBlocks(in: body.joined(separator: "\n") + "\n")

        var blocks: [LessonBlock] = []
        var next = bodyStart
        func addProse(upTo last: Int) {
            guard last >= next else { return }
            let chunk = lines[(next - 1)...(last - 1)]
            if chunk.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                blocks.append(.prose(Prose(markdown: chunk.joined(separator: "\n"), lines: next...last)))
            }
        }
        var index = 0
        var ids = Set<String>()
        for fence in fences where fence.language == "swift" {
            // cmark and the split above agree on lines once endings are normalised; the guard keeps
            // a disagreement (a bug) a message instead of a trap.
            guard fence.startLine >= bodyStart, fence.endLine >= fence.startLine, fence.endLine <= lines.count else {
                throw NotebookError(file: path, line: fence.startLine,
                                    "internal error: cmark reports a ```swift cell on lines \(fence.startLine)-\(fence.endLine) of a \(lines.count)-line file")
            }
            let closing = lines[fence.endLine - 1].trimmingCharacters(in: .whitespaces)
            if fence.endLine == fence.startLine || !(closing.hasPrefix("```") || closing.hasPrefix("~~~")) {
                throw NotebookError(file: path, line: fence.startLine,
                                    "unterminated ```swift cell: no closing fence before the end of the file")
            }
            let words = fence.info.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst()
            let options = try CellOptions.parse(Array(words), extraAllowed: configuration.extraCellOptions,
                                                file: path, line: fence.startLine)
            let id = options.id ?? "cell-\(index + 1)"
            if !ids.insert(id).inserted {
                throw NotebookError(file: path, line: fence.startLine, "two cells have the id '\(id)'")
            }
            addProse(upTo: fence.startLine - 1)
            blocks.append(.cell(Cell(index: index, id: id, line: fence.startLine, endLine: fence.endLine,
                                     info: fence.info, options: options, source: fence.code)))
            index += 1
            next = fence.endLine + 1
        }
        addProse(upTo: lines.count)
        return Lesson(path: path, text: text, frontMatter: frontMatter, blocks: blocks)
    }
}
