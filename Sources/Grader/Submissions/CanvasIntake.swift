import Foundation
import Notebook
import ZIPFoundation

/// Canvas's "Download submissions": one flat folder (or the .zip itself) of files named
/// `name_userid_submissionid_filename`, `name_LATE_userid_submissionid_filename` when Canvas
/// marked it late, and `name_userid_filename` where no submission id is given. `name` is Canvas's
/// run-together, lower-case name of the student; `filename` is the uploaded name, to which
/// Canvas adds `-1`, `-2`, ... before the extension for repeated uploads of the same name.
///
/// Students are told apart by user id; the gradebook name is the name token (`name-userid` when
/// two user ids share one). Canvas's download carries no submission times, so they come from a
/// submissions export beside it when there is one (`CanvasTimes`), else from the file's time.
enum CanvasIntake {
    struct Name: Equatable {
        var name: String
        var late: Bool
        var userID: String
        var submissionID: String?
        var fileName: String
    }

    /// Limits on an untrusted archive: entries listed, and bytes extracted in all.
    static let maximumEntries = 200_000
    static let maximumExtractedBytes: UInt64 = 2 << 30

    private static let pattern = try! NSRegularExpression(
        pattern: "^([^_]+)_(?:(late)_)?([0-9]{1,30})_(?:([0-9]{1,30})_)?(.+)$", options: [.caseInsensitive])

    /// A Canvas download name's parts, or nil when the name does not follow the pattern.
    static func parse(_ fileName: String) -> Name? {
        let range = NSRange(fileName.startIndex..., in: fileName)
        guard let m = pattern.firstMatch(in: fileName, range: range) else { return nil }
        func group(_ i: Int) -> String? {
            Range(m.range(at: i), in: fileName).map { String(fileName[$0]) }
        }
        guard let name = group(1), let user = group(3), let file = group(5) else { return nil }
        return Name(name: name, late: group(2) != nil, userID: user, submissionID: group(4), fileName: file)
    }

    /// One file found in the download, before students are named.
    private struct Found {
        var parsed: Name
        var file: URL
        var original: String
        var mtime: Date
    }

    static func read(_ source: URL, map: ExerciseMap, extractTo: URL?) throws -> SubmissionIntake {
        var unmapped: [UnmappedFile] = []
        var notes: [String] = []
        var found: [Found] = []
        var extracted: URL?
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw NotebookError(file: source.path, line: nil, "the Canvas download does not exist")
        }
        let metadataFolders: [URL]
        if isDirectory.boolValue {
            metadataFolders = [source, source.deletingLastPathComponent()]
            for name in try SubmissionIntake.listFolder(source) where !CanvasTimes.fileNames.contains(name) && name != "__MACOSX" {
                let url = source.appendingPathComponent(name)
                guard FileKind.of(url) == .file else {
                    unmapped.append(UnmappedFile(path: url.path, reason: "not a plain file (a Canvas download is one flat folder of files)"))
                    continue
                }
                guard let parsed = parse(name) else {
                    unmapped.append(UnmappedFile(path: url.path, reason: "the name does not follow Canvas's name_userid_submissionid_filename"))
                    continue
                }
                found.append(Found(parsed: parsed, file: url, original: url.path, mtime: SubmissionIntake.modificationDate(of: url)))
            }
        } else {
            metadataFolders = [source.deletingLastPathComponent()]
            let folder = try extractTo ?? makePrivateTemporaryFolder()
            extracted = folder
            do {
                found = try readZip(source, map: map, into: folder, unmapped: &unmapped)
            } catch {
                try? FileManager.default.removeItem(at: folder)
                throw error
            }
        }
        let times = try CanvasTimes.load(from: metadataFolders)
        if let times { notes.append("submission times from \(times.file.path)") }

        // Names: the name token, unless two user ids share it.
        var tokens: [String: Set<String>] = [:]
        for f in found { tokens[f.parsed.name, default: []].insert(f.parsed.userID) }
        var byUser: [String: (name: String, files: StudentFiles, ids: [String: String])] = [:]
        for f in found {
            let user = f.parsed.userID
            let name = (tokens[f.parsed.name]?.count ?? 0) > 1 ? "\(f.parsed.name)-\(user)" : f.parsed.name
            var entry = byUser[user] ?? (name, StudentFiles(), ["canvas_user_id": user])
            if let submission = f.parsed.submissionID { entry.ids["canvas_submission_id"] = submission }
            if f.parsed.late { entry.ids["canvas_late"] = "true" }
            switch map.match(fileName: f.parsed.fileName) {
            case .exercise(let exercise):
                let time = times?.byUser[user]
                entry.files.add(SubmittedFile(exercise: exercise, file: f.file, original: f.original,
                                              submitted: time ?? f.mtime, timeSource: time == nil ? .mtime : .canvas))
            case .notExercise(let reason), .unknown(let reason):
                unmapped.append(UnmappedFile(path: f.original, reason: reason, student: name))
            }
            byUser[user] = entry
        }
        var students: [StudentSubmission] = []
        for (user, entry) in byUser {
            if let times, times.byUser[user] == nil {
                notes.append("\(times.file.path) has no submission time for Canvas user \(user) (\(entry.name)); the file's time is used")
            }
            students.append(StudentSubmission(name: entry.name, files: entry.files.settle(student: entry.name, into: &unmapped),
                                              lmsIDs: entry.ids))
        }
        for (token, users) in tokens where users.count > 1 {
            notes.append("Canvas name '\(token)' belongs to \(users.count) user ids; they are named \(token)-USERID")
        }
        return SubmissionIntake(source: source, layout: .canvas, students: students, unmapped: unmapped,
                                notes: notes.sorted(), extractedDirectory: extracted)
    }

    /// `workbook-intake-<pid>-<uuid>` in the temporary folder; those of processes that are gone
    /// (a killed run) are removed first.
    static func makePrivateTemporaryFolder() throws -> URL {
        let temporary = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] where name.hasPrefix("workbook-intake-") {
            let fields = name.dropFirst("workbook-intake-".count).split(separator: "-", maxSplits: 1)
            guard let pid = fields.first.flatMap({ Int32($0) }), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            SubmissionIntake.removeExtraction(temporary.appendingPathComponent(name))
        }
        let url = temporary.appendingPathComponent("workbook-intake-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    /// Extracts the zip's exercise files (only those) into `folder`, each as `<user id>/<its name
    /// reduced to letters, digits, - and _>.md`: nothing from the archive chooses where a file lands.
    private static func readZip(_ zip: URL, map: ExerciseMap, into folder: URL,
                                unmapped: inout [UnmappedFile]) throws -> [Found] {
        let archive: Archive
        do { archive = try Archive(url: zip, accessMode: .read) } catch {
            throw NotebookError(file: zip.path, line: nil, "cannot open it as a zip archive (\(error))")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var found: [Found] = []
        var count = 0
        var total: UInt64 = 0
        var madeFolders = Set<String>()
        var written = Set<String>()
        for entry in archive {
            count += 1
            guard count <= maximumEntries else {
                throw NotebookError(file: zip.path, line: nil, "more than \(maximumEntries) entries; is this a Canvas download?")
            }
            let path = entry.path
            let original = "\(zip.path):\(path)"
            let components = path.split(separator: "/", omittingEmptySubsequences: true)
            // The Finder's resource forks and hidden files carry no submission.
            if components.first == "__MACOSX" || components.contains(where: { $0.hasPrefix(".") && $0 != ".." }) { continue }
            if entry.type == .directory { continue }
            if entry.type == .symlink {
                unmapped.append(UnmappedFile(path: original, reason: "a symbolic link; not followed"))
                continue
            }
            guard components.count == 1, !path.hasPrefix("/"), let name = components.first.map(String.init), name != ".." else {
                unmapped.append(UnmappedFile(path: original, reason: "inside a folder of the zip (a Canvas download is flat)"))
                continue
            }
            guard let parsed = parse(name) else {
                unmapped.append(UnmappedFile(path: original, reason: "the name does not follow Canvas's name_userid_submissionid_filename"))
                continue
            }
            // Files that map to no exercise are reported by the caller without being extracted.
            guard case .exercise = map.match(fileName: parsed.fileName) else {
                found.append(Found(parsed: parsed, file: zip, original: original, mtime: Date(timeIntervalSince1970: 0)))
                continue
            }
            guard entry.uncompressedSize <= UInt64(ExerciseGrader.maxSubmissionBytes) else {
                unmapped.append(UnmappedFile(path: original, reason: "\(entry.uncompressedSize) bytes, more than a submission may hold (\(ExerciseGrader.maxSubmissionBytes >> 20) MiB)"))
                continue
            }
            total += entry.uncompressedSize
            guard total <= maximumExtractedBytes else {
                throw NotebookError(file: zip.path, line: nil, "its exercise files hold more than \(maximumExtractedBytes >> 30) GiB; refusing to extract")
            }
            let data: Data
            do { data = try contents(of: entry, in: archive) } catch {
                unmapped.append(UnmappedFile(path: original, reason: "cannot be read from the zip: \(error)"))
                continue
            }
            // One folder per user id; a second entry of the same name (a damaged or crafted zip)
            // gets the entry's number, so nothing is overwritten.
            let directory = folder.appendingPathComponent(parsed.userID)
            if madeFolders.insert(parsed.userID).inserted {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            var file = directory.appendingPathComponent(ExerciseGrader.safeName(String(parsed.fileName.dropLast(3))) + ".md")
            if !written.insert(file.path).inserted {
                file = directory.appendingPathComponent("\(count)-" + file.lastPathComponent)
                written.insert(file.path)
            }
            let mtime = entry.fileAttributes[.modificationDate] as? Date ?? Date(timeIntervalSince1970: 0)
            try writeNew(data, to: file, modified: mtime)
            found.append(Found(parsed: parsed, file: file, original: original, mtime: mtime))
        }
        return found
    }

    /// Writes a new file (never replacing or following one) with its modification time. Plain
    /// system calls: a class's zip holds tens of thousands of files, and Foundation's `Data.write`
    /// costs twice as much per file on a busy disk.
    static func writeNew(_ data: Data, to file: URL, modified: Date) throws {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw NotebookError(file: file.path, line: nil, "cannot create the extracted file (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + offset, data.count - offset) }
            guard n > 0 else {
                throw NotebookError(file: file.path, line: nil, "cannot write the extracted file (\(String(cString: strerror(errno))))")
            }
            offset += n
        }
        let seconds = modified.timeIntervalSince1970.rounded(.down)
        let time = timespec(tv_sec: Int(seconds), tv_nsec: Int((modified.timeIntervalSince1970 - seconds) * 1e9))
        var times = [time, time]
        _ = futimens(fd, &times)
    }

    /// An entry's bytes, never more than its declared size, CRC-checked.
    private static func contents(of entry: Entry, in archive: Archive) throws -> Data {
        struct Damaged: Error, CustomStringConvertible { var description: String }
        let declared = entry.uncompressedSize
        var output = Data()
        let crc = try archive.extract(entry, bufferSize: 1 << 16) { piece in
            guard UInt64(output.count + piece.count) <= declared else {
                throw Damaged(description: "it inflates past the \(declared) bytes its directory entry declares")
            }
            output.append(piece)
        }
        guard crc == entry.checksum else { throw Damaged(description: "its CRC-32 does not match (corrupt archive)") }
        guard UInt64(output.count) == declared else { throw Damaged(description: "it holds \(output.count) bytes, not the \(declared) declared") }
        return output
    }
}

/// Submission times exported from Canvas, by user id: `canvas-submissions.json` (the JSON array
/// the Submissions API returns for an assignment, `GET /api/v1/courses/:course/assignments/:assignment/submissions`,
/// each object with `user_id` and `submitted_at`) or `canvas-submissions.csv` (a header row with
/// `user_id` and `submitted_at` columns; other columns are ignored). Times are ISO 8601 with a zone,
/// as Canvas writes them (`2026-11-20T22:59:03Z`); an empty or null time means not submitted.
struct CanvasTimes {
    static let fileNames = ["canvas-submissions.json", "canvas-submissions.csv"]
    var file: URL
    var byUser: [String: Date]

    /// The first export found in `folders` (JSON before CSV), nil when there is none.
    static func load(from folders: [URL]) throws -> CanvasTimes? {
        for folder in folders {
            for name in fileNames {
                let url = folder.appendingPathComponent(name)
                guard FileKind.of(url) == .file else { continue }
                return name.hasSuffix(".json") ? try json(url) : try csv(url)
            }
        }
        return nil
    }

    static func date(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }

    static func json(_ url: URL) throws -> CanvasTimes {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) } catch {
            throw NotebookError(file: url.path, line: nil, "not valid JSON (\(error.localizedDescription))")
        }
        guard let list = object as? [Any] else {
            throw NotebookError(file: url.path, line: nil, "expected a JSON array of submissions (as Canvas's Submissions API returns)")
        }
        var byUser: [String: Date] = [:]
        for (index, item) in list.enumerated() {
            guard let submission = item as? [String: Any] else {
                throw NotebookError(file: url.path, line: nil, "item \(index) is not an object")
            }
            let user: String
            switch submission["user_id"] {
            case let n as NSNumber: user = n.stringValue
            case let s as String where !s.isEmpty: user = s
            default: throw NotebookError(file: url.path, line: nil, "item \(index) has no user_id")
            }
            guard let text = submission["submitted_at"] as? String, !text.isEmpty else { continue }
            guard let date = date(text) else {
                throw NotebookError(file: url.path, line: nil, "item \(index) (user \(user)): submitted_at '\(text)' is not an ISO 8601 time with a zone")
            }
            byUser[user] = date
        }
        return CanvasTimes(file: url, byUser: byUser)
    }

    static func csv(_ url: URL) throws -> CanvasTimes {
        var byUser: [String: Date] = [:]
        let records = try CSVTable.records(at: url)
        for (line, values) in records {
            guard let user = values["user_id"], !user.isEmpty else {
                throw NotebookError(file: url.path, line: line, "no user_id (the header needs user_id and submitted_at columns)")
            }
            guard let text = values["submitted_at"] else {
                throw NotebookError(file: url.path, line: line, "no submitted_at column (the header needs user_id and submitted_at)")
            }
            if text.isEmpty { continue }
            guard let date = date(text) else {
                throw NotebookError(file: url.path, line: line, "submitted_at '\(text)' is not an ISO 8601 time with a zone")
            }
            byUser[user] = date
        }
        return CanvasTimes(file: url, byUser: byUser)
    }
}
