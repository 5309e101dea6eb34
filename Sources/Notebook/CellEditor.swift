import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Saves an edit of one cell made in the notebook page back into its Markdown file: only that
/// cell's code lines change (`MarkdownText.replacingCellCode` keeps every other byte), and the
/// file is replaced in one rename, so an editor or `workbook build` never reads half a file.
public enum CellEditor {
    /// Replaces the code of Swift cell `index` (index into `lesson.cells`, as `CellResult.index`) of the
    /// Markdown file `file` with `code`, atomically (temp file in the same folder + rename), changing
    /// only that cell's code lines: front matter, prose, fences, other cells, line endings (LF/CRLF/CR),
    /// a BOM and a missing final newline all stay byte-for-byte. Refuses (NotebookError naming file and
    /// line) a cell that is not editable (not a Swift cell; for an exercise, not an answer cell), a code
    /// that would close the fence, or a file that changed shape since it was loaded. Returns the re-parsed lesson.
    public static func replaceCode(ofCell index: Int, in file: URL, with code: String) throws -> Lesson {
        try replaceCode(ofCell: index, in: file, with: code, expecting: nil)
    }

    /// As `replaceCode(ofCell:in:with:)`; `expecting`: the cell's code as the caller loaded it
    /// (`Cell.source`). When the file on disk no longer has that code in that cell (edited in another
    /// window, cells added above it), the save is refused rather than overwrite someone's change.
    public static func replaceCode(ofCell index: Int, in file: URL, with code: String,
                                   expecting loadedCode: String?) throws -> Lesson {
        let path = file.path
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: file))
        } catch {
            throw NotebookError(file: path, line: nil, "cannot read the file (\(error.localizedDescription))")
        }
        let configuration = Exercise.parserConfiguration
        let lesson = try LessonParser(configuration: configuration).parse(text: String(decoding: bytes, as: UTF8.self), path: path)
        let cells = lesson.cells
        guard index >= 0, index < cells.count else {
            throw NotebookError(file: path, line: nil,
                                "there is no Swift cell \(index + 1) (the file has \(cells.count) Swift cell\(cells.count == 1 ? "" : "s")); reload the page")
        }
        let cell = cells[index]
        if let loadedCode, cell.source != MarkdownText.normalized(loadedCode) {
            throw NotebookError(file: path, line: cell.line,
                                "cell \(index + 1) changed on disk since the page loaded it; reload the page before saving")
        }
        let exercise = try exerciseRoles(of: lesson)
        if let roles = exercise, roles[index] != .answer {
            throw NotebookError(file: path, line: cell.line,
                                "cell \(index + 1) ('\(cell.id)') is a \(roles[index].rawValue) cell of an exercise; only answer cells can be edited")
        }
        if let line = closingFenceLine(in: code, opening: lineText(bytes, line: cell.line)) {
            throw NotebookError(file: path, line: cell.codeLine + line,
                                "line \(line + 1) of the new code of cell \(index + 1) would close the cell's fence; indent it or change the fence")
        }
        let replaced = try MarkdownText.replacingCellCode(cell.id, with: code, in: bytes, path: path, configuration: configuration)
        let updated = try LessonParser(configuration: configuration).parse(text: String(decoding: replaced, as: UTF8.self), path: path)
        if exercise != nil {
            // Without its `// BEGIN SOLUTION` markers an instructor's answer cell would turn into a given cell.
            let roles = try exerciseRoles(of: updated)
            if roles?[index] != .answer {
                throw NotebookError(file: path, line: cell.codeLine,
                                    "the new code of answer cell '\(cell.id)' drops its '\(Exercise.beginSolution)' ... '\(Exercise.endSolution)' markers, so it would no longer be an answer cell; keep them around your answer")
            }
        }
        try writeAtomically(replaced, to: file)
        return updated
    }

    /// The cells the page offers to edit (indices into `lesson.cells`): every Swift cell of a
    /// lesson; an exercise's answer cells only. `lesson` parsed with `Exercise.parserConfiguration`
    /// (a superset of the lesson format) or the plain lesson parser.
    public static func editableCells(in lesson: Lesson) throws -> [Int] {
        guard let roles = try exerciseRoles(of: lesson) else { return lesson.cells.map(\.index) }
        return roles.indices.filter { roles[$0] == .answer }
    }

    /// The roles of the cells when `lesson` is an exercise (a cell with an exercise option or a
    /// solution region), nil for a lesson.
    static func exerciseRoles(of lesson: Lesson) throws -> [Exercise.Role]? {
        let isExercise = lesson.cells.contains { cell in
            ["answer", "check", "hidden-check"].contains { cell.options.extra[$0] != nil }
                || cell.source.contains(Exercise.beginSolution)
        }
        guard isExercise else { return nil }
        return try Exercise(lesson: lesson, handout: true).roles
    }

    /// The 0-based line of `code` that would close a fence opened by `opening` (CommonMark: the same
    /// character, at least as many, nothing but blanks after, at most three spaces of indent).
    static func closingFenceLine(in code: String, opening: String) -> Int? {
        let trimmed = opening.drop { $0 == " " || $0 == "\t" || $0 == ">" }
        guard let fenceChar = trimmed.first, fenceChar == "`" || fenceChar == "~" else { return nil }
        let length = trimmed.prefix { $0 == fenceChar }.count
        for (i, line) in MarkdownText.normalized(code).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indent = line.prefix { $0 == " " }.count
            guard indent <= 3 else { continue }
            let rest = line.dropFirst(indent)
            let run = rest.prefix { $0 == fenceChar }.count
            if run >= length && rest.dropFirst(run).allSatisfy({ $0 == " " || $0 == "\t" }) { return i }
        }
        return nil
    }

    static func lineText(_ bytes: [UInt8], line: Int) -> String {
        let start = bytes.starts(with: MarkdownText.byteOrderMark) ? 3 : 0
        let lines = MarkdownText.lines(of: bytes, from: start)
        guard line >= 1, line <= lines.count else { return "" }
        return String(decoding: bytes[lines[line - 1].content], as: UTF8.self)
    }

    /// Tests set this to fail a save after the temporary file is written.
    nonisolated(unsafe) static var failBeforeRename: (() throws -> Void)?

    /// Writes `bytes` to a temporary file beside `file` (same permissions), flushes it, and renames it
    /// over `file`; on any failure the temporary file is removed and `file` is untouched. A symbolic
    /// link is followed, so the file it names is the one replaced.
    static func writeAtomically(_ bytes: [UInt8], to file: URL) throws {
        let target = file.resolvingSymlinksInPath()
        let folder = target.deletingLastPathComponent()
        var template = Array(folder.appendingPathComponent(".\(target.lastPathComponent).save-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw NotebookError(file: file.path, line: nil, "cannot save: cannot create a temporary file in \(folder.path) (\(String(cString: strerror(errno))))")
        }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var done = false
        defer {
            if !done { unlink(temporary) }
        }
        func fail(_ what: String) -> NotebookError {
            NotebookError(file: file.path, line: nil, "cannot save: \(what) (\(String(cString: strerror(errno))))")
        }
        var info = stat()
        if stat(target.path, &info) == 0 { _ = fchmod(fd, info.st_mode & 0o7777) }
        var offset = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        guard ok else { close(fd); throw fail("writing the temporary file failed") }
        guard fsync(fd) == 0 else { close(fd); throw fail("flushing the temporary file failed") }
        close(fd)
        try failBeforeRename?()
        guard rename(temporary, target.path) == 0 else { throw fail("renaming the temporary file over the file failed") }
        done = true
    }
}
