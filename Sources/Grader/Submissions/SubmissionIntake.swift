import Foundation
import Notebook

/// How a class's submissions arrive on the instructor's disk.
public enum SubmissionLayout: String, CaseIterable, Sendable, Codable {
    /// One folder per student (named after the student) holding `qNN-*.md` files.
    case folders
    /// Canvas's "Download submissions": a flat folder or .zip of `name[_LATE]_userid[_submissionid]_filename`.
    case canvas
    /// A GitHub Classroom clone: one repository folder per student, `assignment-username`.
    case classroom
}

/// Where a submission's time came from.
public enum SubmissionTimeSource: String, Codable, Sendable {
    /// Canvas's submissions export (`canvas-submissions.json` / `.csv`).
    case canvas
    /// The committer date of the repository's last commit.
    case git
    /// The file's modification time (for a zip: the entry's date), the least trustworthy.
    case mtime
}

/// One student's file for one exercise.
public struct SubmittedFile: Sendable, Equatable {
    public var exercise: String
    /// Where the grader reads it (for a zip: the extracted copy).
    public var file: URL
    /// The file as the instructor received it (path in the folder or `archive.zip:entry`), for messages.
    public var original: String
    public var submitted: Date
    public var timeSource: SubmissionTimeSource
}

/// One student as the intake found them.
public struct StudentSubmission: Sendable, Equatable {
    /// The name gradebooks and `--student` use: the folder name, Canvas's name token, or the
    /// Classroom roster's identifier (else the GitHub username).
    public var name: String
    /// By exercise name.
    public var files: [String: SubmittedFile]
    /// Identifiers from the LMS: `canvas_user_id`, `canvas_submission_id`, `canvas_late` ("true"
    /// when Canvas marked the file late), `github_username`, `roster_identifier`.
    public var lmsIDs: [String: String]

    public init(name: String, files: [String: SubmittedFile] = [:], lmsIDs: [String: String] = [:]) {
        self.name = name
        self.files = files
        self.lmsIDs = lmsIDs
    }
}

/// A file the intake did not map to a student and an exercise, and why.
public struct UnmappedFile: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    /// Known when the file was traced to a student (and an exercise) but still not used.
    public var student: String?
    public var exercise: String?

    public var description: String { "\(path): \(reason)" }
}

/// The submissions of a class, read once from any supported layout: per student the file of
/// each exercise with its submission time, plus every file that could not be mapped. Nothing is
/// guessed: two files for one exercise of one student, an unknown exercise number or a name
/// outside the layout's pattern are reported in `unmapped` and none of them is graded.
/// `workbook grade` and `workbook similarity` both read submissions through it.
public struct SubmissionIntake: Sendable {
    public var source: URL
    public var layout: SubmissionLayout
    /// Sorted by name.
    public var students: [StudentSubmission]
    public var unmapped: [UnmappedFile]
    /// What the intake used or assumed (metadata files read, roster matches, fallbacks).
    public var notes: [String]
    /// Files extracted from a zip live here; `removeExtracted()` deletes them.
    public var extractedDirectory: URL?

    public func student(named name: String) -> StudentSubmission? {
        students.first { $0.name == name }
    }

    /// The file of `exercise` for `student`, nil when there is none (or it was ambiguous).
    public func file(student name: String, exercise: String) -> SubmittedFile? {
        student(named: name)?.files[exercise]
    }

    /// Deletes the files extracted from a zip. The folder's two levels (user id, file) are
    /// unlinked directly, which is many times faster than `FileManager.removeItem` for a class.
    public func removeExtracted() {
        if let extractedDirectory { Self.removeExtraction(extractedDirectory) }
    }

    static func removeExtraction(_ directory: URL) {
        let fm = FileManager.default
        for folder in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] {
            let path = directory.appendingPathComponent(folder).path
            for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] { unlink(path + "/" + name) }
            rmdir(path)
        }
        // Whatever is left (nothing, unless something else wrote there) goes the slow way.
        try? fm.removeItem(at: directory)
    }

    /// Reads `source` (a folder, or a Canvas .zip) laid out as `layout` (nil: detected).
    /// `exercises`: the exercise names (`qNN-slug`) files are mapped to. `extractTo`: a folder
    /// for a zip's files (created; nil: a private temporary folder).
    public static func read(_ source: URL, exercises: [String], layout: SubmissionLayout? = nil,
                            extractTo: URL? = nil) throws -> SubmissionIntake {
        let layout = try layout ?? detectLayout(of: source)
        let map = ExerciseMap(exercises)
        var intake: SubmissionIntake
        switch layout {
        case .folders: intake = try FolderIntake.read(source, map: map)
        case .canvas: intake = try CanvasIntake.read(source, map: map, extractTo: extractTo)
        case .classroom: intake = try ClassroomIntake.read(source, map: map)
        }
        intake.students.sort { $0.name < $1.name }
        intake.unmapped.sort { ($0.path, $0.reason) < ($1.path, $1.reason) }
        return intake
    }

    /// The layout of `source`: a .zip is a Canvas download; a folder whose sub-folders are git
    /// repositories is a Classroom clone; a folder whose plain files follow Canvas's naming
    /// (and outnumber its sub-folders) is a Canvas download; anything else is a folder per student.
    public static func detectLayout(of source: URL) throws -> SubmissionLayout {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw NotebookError(file: source.path, line: nil, "the submissions folder does not exist")
        }
        if !isDirectory.boolValue {
            guard source.pathExtension.lowercased() == "zip" else {
                throw NotebookError(file: source.path, line: nil, "submissions must be a folder or a Canvas .zip download")
            }
            return .canvas
        }
        let entries = try listFolder(source)
        var folders = 0, repositories = 0, canvasFiles = 0
        for name in entries {
            let url = source.appendingPathComponent(name)
            switch FileKind.of(url) {
            case .directory:
                folders += 1
                if fm.fileExists(atPath: url.appendingPathComponent(".git").path) { repositories += 1 }
            case .file:
                if CanvasIntake.parse(name) != nil { canvasFiles += 1 }
            case .other: break
            }
        }
        if repositories > 0, repositories * 2 >= folders { return .classroom }
        if canvasFiles > 0, canvasFiles > folders { return .canvas }
        return .folders
    }

    /// The visible entries of a folder (hidden ones and Canvas/Classroom metadata are the
    /// callers' to skip), or an error naming it.
    static func listFolder(_ url: URL) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw NotebookError(file: url.path, line: nil, "cannot read the folder (\(error.localizedDescription))")
        }
    }

    static func modificationDate(of url: URL) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date) ?? Date(timeIntervalSince1970: 0)
    }
}

/// What a directory entry is, without following symbolic links (a link could point anywhere).
enum FileKind {
    case file, directory, other

    static func of(_ url: URL) -> FileKind {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return .other }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }
}

/// Maps file names to exercises by their number: `q01-setup.md`, `q1-setup.md`, `q01.md` and
/// `q01-setup-1.md` (Canvas's suffix for a repeated upload) are all exercise `q01-…`.
struct ExerciseMap: Sendable {
    let byNumber: [Int: String]
    let names: Set<String>

    init(_ exercises: [String]) {
        var byNumber: [Int: String] = [:]
        for name in exercises {
            if let number = Self.number(in: name) { byNumber[number] = name }
        }
        self.byNumber = byNumber
        names = Set(exercises)
    }

    /// The number of `qNN…`: a `q` (either case), digits, then nothing or a non-digit.
    static func number(in name: String) -> Int? {
        let chars = Array(name.unicodeScalars)
        guard chars.count >= 2, chars[0] == "q" || chars[0] == "Q" else { return nil }
        var digits = ""
        for c in chars.dropFirst() {
            guard CharacterSet.decimalDigits.contains(c), c.isASCII else { break }
            digits.unicodeScalars.append(c)
        }
        guard !digits.isEmpty, digits.count <= 6 else { return nil }
        return Int(digits)
    }

    enum Match: Equatable { case exercise(String), notExercise(String), unknown(String) }

    /// The exercise a file name stands for, or why it stands for none.
    func match(fileName: String) -> Match {
        guard fileName.lowercased().hasSuffix(".md") else {
            return .notExercise("not an exercise file (expected qNN-….md)")
        }
        let stem = String(fileName.dropLast(3))
        if names.contains(stem) { return .exercise(stem) }
        guard let number = Self.number(in: stem) else {
            return .notExercise("not an exercise file (expected qNN-….md)")
        }
        guard let name = byNumber[number] else {
            return .unknown("no exercise number \(number) in the exercise set (q\(String(format: "%02d", number)))")
        }
        return .exercise(name)
    }
}

/// Collects one student's candidate files and settles them: one file per exercise is used,
/// two or more for the same exercise are all reported and none is used.
struct StudentFiles {
    var candidates: [String: [SubmittedFile]] = [:]

    mutating func add(_ file: SubmittedFile) { candidates[file.exercise, default: []].append(file) }

    func settle(student: String, into unmapped: inout [UnmappedFile]) -> [String: SubmittedFile] {
        var files: [String: SubmittedFile] = [:]
        for (exercise, list) in candidates {
            if list.count == 1 { files[exercise] = list[0]; continue }
            let names = list.map { ($0.original as NSString).lastPathComponent }.sorted()
            for file in list {
                unmapped.append(UnmappedFile(
                    path: file.original,
                    reason: "ambiguous: \(list.count) files for exercise \(exercise) of \(student) (\(names.joined(separator: ", "))); none is graded until one remains",
                    student: student, exercise: exercise))
            }
        }
        return files
    }
}

/// A small RFC 4180 reader for the metadata files (Canvas's submission times, Classroom's
/// roster): quoted fields, doubled quotes, CRLF or LF. Rows come with their 1-based line.
enum CSVTable {
    static func rows(_ text: String) -> [(line: Int, fields: [String])] {
        var rows: [(Int, [String])] = []
        var field = "", fields: [String] = []
        var quoted = false, line = 1, rowLine = 1, pendingQuote = false
        var sawAny = false
        for c in text.unicodeScalars {
            if quoted {
                if pendingQuote {
                    pendingQuote = false
                    if c == "\"" { field.unicodeScalars.append(c); continue }
                    quoted = false
                } else if c == "\"" {
                    pendingQuote = true
                    continue
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                    continue
                }
            }
            switch c {
            case "\"" where field.isEmpty:
                quoted = true
                sawAny = true
            case ",":
                fields.append(field); field = ""; sawAny = true
            case "\r":
                continue
            case "\n":
                fields.append(field); field = ""
                if sawAny || fields.count > 1 || !fields[0].isEmpty { rows.append((rowLine, fields)) }
                fields = []; sawAny = false
                line += 1; rowLine = line
            default:
                field.unicodeScalars.append(c); sawAny = true
            }
        }
        if sawAny || !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            rows.append((rowLine, fields))
        }
        return rows
    }

    /// Rows as dictionaries keyed by the header's names (lowercased, spaces as `_`, a BOM dropped).
    static func records(at url: URL) throws -> [(line: Int, values: [String: String])] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw NotebookError(file: url.path, line: nil, "cannot read it as UTF-8 text (\(error.localizedDescription))")
        }
        var all = rows(text)
        guard !all.isEmpty else { throw NotebookError(file: url.path, line: 1, "empty: a header row is needed") }
        let header = all.removeFirst().fields.map {
            $0.replacingOccurrences(of: "\u{FEFF}", with: "").trimmingCharacters(in: .whitespaces)
                .lowercased().replacingOccurrences(of: " ", with: "_")
        }
        return all.map { row in
            var values: [String: String] = [:]
            for (key, value) in zip(header, row.fields) where !key.isEmpty {
                values[key] = value.trimmingCharacters(in: .whitespaces)
            }
            return (row.line, values)
        }
    }
}
