import Foundation

/// Markdown files as users save them: LF, CRLF (Windows) or lone CR line endings, with or without a
/// UTF-8 byte order mark. Readers normalise; writers keep the file's own bytes.
public enum MarkdownText {
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// `text` without a leading UTF-8 byte order mark and with every CRLF or lone CR turned into LF.
    /// Line N of the result is line N of the file as cmark and editors count it.
    public static func normalized(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let start = bytes.starts(with: byteOrderMark) ? 3 : 0
        guard start > 0 || bytes.contains(13) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = start
        while i < bytes.count {
            if bytes[i] == 13 {
                out.append(10)
                if i + 1 < bytes.count && bytes[i + 1] == 10 { i += 1 }
            } else {
                out.append(bytes[i])
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// One line of a file's bytes: `content` without its ending, `end` past its ending ("\n", "\r\n",
    /// "\r" or nothing on a last line without one).
    struct Line {
        var content: Range<Int>
        var end: Int
    }

    /// The lines of `bytes` from `start`, split where `normalized` puts its "\n"s.
    static func lines(of bytes: [UInt8], from start: Int) -> [Line] {
        var lines: [Line] = []
        var lineStart = start, i = start
        while i < bytes.count {
            if bytes[i] == 10 || bytes[i] == 13 {
                let contentEnd = i
                if bytes[i] == 13 && i + 1 < bytes.count && bytes[i + 1] == 10 { i += 1 }
                i += 1
                lines.append(Line(content: lineStart..<contentEnd, end: i))
                lineStart = i
            } else {
                i += 1
            }
        }
        if lineStart < bytes.count { lines.append(Line(content: lineStart..<bytes.count, end: bytes.count)) }
        return lines
    }

    /// The file's bytes with the code of the cell named `id` (its `id=` option, or `cell-N`)
    /// replaced by `code`. Every byte outside the cell's code lines is kept: the byte order mark,
    /// the fences, other cells, prose and a missing final newline. The new lines end the way the
    /// cell's opening fence line ends, and carry the fence's indentation (list items, quotes).
    /// Throws a `NotebookError` when the file does not parse, has no such cell, or when `code` would
    /// end the cell early (a line that closes the fence).
    public static func replacingCellCode(_ id: String, with code: String, in file: [UInt8], path: String,
                                         configuration: LessonParser.Configuration = .init()) throws -> [UInt8] {
        let parser = LessonParser(configuration: configuration)
        let lesson = try parser.parse(text: String(decoding: file, as: UTF8.self), path: path)
        guard let cell = lesson.cells.first(where: { $0.id == id }) else {
            throw NotebookError(file: path, line: nil,
                                "no cell with the id '\(id)' (cells: \(lesson.cells.map(\.id).joined(separator: ", ")))")
        }
        let start = file.starts(with: byteOrderMark) ? 3 : 0
        let lines = lines(of: file, from: start)
        // Parsing succeeded on the same bytes, so the fence lines exist; the guard keeps it a message.
        guard cell.line >= 1, cell.endLine <= lines.count, cell.endLine > cell.line else {
            throw NotebookError(file: path, line: cell.line, "cannot locate the lines of cell '\(id)'")
        }
        let opening = lines[cell.line - 1]
        let ending = Array(file[opening.content.upperBound..<opening.end])
        let prefix = fencePrefix(Array(file[opening.content]))

        var newCode = normalized(code)
        if newCode.hasSuffix("\n") { newCode.removeLast() }
        var replacement: [UInt8] = []
        if !newCode.isEmpty || code.hasSuffix("\n") || code.hasSuffix("\r") {
            for line in newCode.split(separator: "\n", omittingEmptySubsequences: false) {
                // An empty line keeps a quote's '>' (without it the quote would end) but no trailing blanks.
                replacement += line.isEmpty ? Array(prefix.reversed().drop { $0 == 32 || $0 == 9 }.reversed()) : prefix
                replacement += Array(line.utf8)
                replacement += ending
            }
        }
        let replaced = opening.end..<lines[cell.endLine - 1].content.lowerBound
        var result = Array(file[..<replaced.lowerBound])
        result += replacement
        result += file[replaced.upperBound...]

        // The new code must read back as the cell's code: a line such as ``` would close the cell early.
        let expected = newCode.isEmpty && replacement.isEmpty ? "" : newCode + "\n"
        let reread = try? parser.parse(text: String(decoding: result, as: UTF8.self), path: path)
        guard let same = reread?.cells.first(where: { $0.id == id }), same.source == expected,
              reread?.cells.count == lesson.cells.count else {
            throw NotebookError(file: path, line: cell.codeLine,
                                "the new code of cell '\(id)' would change the file's structure (a line of it closes or opens a fence)")
        }
        return result
    }

    /// String form of `replacingCellCode(_:with:in:path:configuration:)`.
    public static func replacingCellCode(_ id: String, with code: String, in text: String, path: String,
                                         configuration: LessonParser.Configuration = .init()) throws -> String {
        let bytes = try replacingCellCode(id, with: code, in: Array(text.utf8), path: path, configuration: configuration)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What precedes code lines inside a fence opened by `line`: its indentation, with blockquote
    /// markers kept and list markers turned into spaces (cmark strips that much from each code line).
    static func fencePrefix(_ line: [UInt8]) -> [UInt8] {
        guard let fence = line.firstIndex(where: { $0 == UInt8(ascii: "`") || $0 == UInt8(ascii: "~") }) else { return [] }
        return line[..<fence].map { byte in
            byte == UInt8(ascii: ">") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") ? byte : UInt8(ascii: " ")
        }
    }
}
