import Foundation
import Notebook

extension Exercise {
    /// The handout text: solution regions replaced by starters, hidden checks and the explanation
    /// removed; everything else (prose, given cells, visible checks, line endings) kept as written.
    public func studentVersion() throws -> String {
        var lines = lesson.text.components(separatedBy: "\n")
        var edits: [(range: ClosedRange<Int>, with: [String])] = []  // 1-based file lines
        for (cell, role) in zip(lesson.cells, roles) {
            switch role {
            case .hiddenCheck:
                var end = cell.endLine
                // Take one blank line after the cell with it, so no double gap remains.
                if end < lines.count, lines[end].trimmingCharacters(in: .whitespaces).isEmpty { end += 1 }
                edits.append((cell.line...end, []))
            case .answer:
                guard cell.endLine > cell.codeLine else { continue }
                var starter = try Self.starterSource(of: cell, path: path).components(separatedBy: "\n")
                if starter.last == "" { starter.removeLast() }
                // The handout marks its answer cells, so `workbook test` knows them without the reference.
                var fence = lines[cell.line - 1]
                if cell.options.extra["answer"] == nil { fence += " answer" }
                edits.append((cell.line...(cell.endLine - 1), [fence] + starter))
            case .given, .check:
                continue
            }
        }
        if let range = explanationLines { edits.append((range, [])) }
        for edit in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            lines.replaceSubrange((edit.range.lowerBound - 1)...(edit.range.upperBound - 1), with: edit.with)
        }
        // Collapse blank runs the removals left behind.
        var out: [String] = []
        for line in lines {
            if line.trimmingCharacters(in: .whitespaces).isEmpty, let last = out.last,
               last.trimmingCharacters(in: .whitespaces).isEmpty, !out.isEmpty { continue }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }
}

/// `workbook release`: writes the handout version of every exercise into a folder.
public struct Release {
    public var exercisesDirectory: URL
    public init(exercisesDirectory: URL) { self.exercisesDirectory = exercisesDirectory }

    /// The exercise files in a folder (`CourseFiles.pages`), sorted by name.
    public static func exerciseFiles(in directory: URL) throws -> [URL] {
        try CourseFiles.pages(in: directory).map { directory.appendingPathComponent($0) }
    }

    /// Writes every student version into `output`, replacing it as a whole: the new folder is
    /// completed beside it, then swapped in, so a failure leaves the previous handout intact.
    /// Returns the files written.
    @discardableResult
    public func write(to output: URL) throws -> [String] {
        let fm = FileManager.default
        let files = try Self.exerciseFiles(in: exercisesDirectory)
        guard !files.isEmpty else {
            throw NotebookError(file: exercisesDirectory.path, line: nil, "no exercise files (*.md) in the folder")
        }
        var versions: [(String, String)] = []
        var problems: [String] = []
        for file in files {
            do {
                let exercise = try Exercise.load(path: file.path)
                versions.append((file.lastPathComponent, try exercise.studentVersion()))
            } catch {
                problems.append("\(error)")
            }
        }
        if !problems.isEmpty {
            throw NotebookError(file: exercisesDirectory.path, line: nil,
                                "nothing written; fix these first:\n" + problems.joined(separator: "\n"))
        }
        let parent = output.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = parent.appendingPathComponent(".\(output.lastPathComponent).tmp-\(UUID().uuidString.prefix(8))")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            for (name, text) in versions {
                try Data(text.utf8).write(to: staging.appendingPathComponent(name))
            }
            if fm.fileExists(atPath: output.path) {
                let old = parent.appendingPathComponent(".\(output.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
                try fm.moveItem(at: output, to: old)
                try fm.moveItem(at: staging, to: output)
                try? fm.removeItem(at: old)
            } else {
                try fm.moveItem(at: staging, to: output)
            }
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        return versions.map { output.appendingPathComponent($0.0).path }
    }
}
