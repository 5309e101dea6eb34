import Foundation
import Notebook

/// A GitHub Classroom clone (what `gh classroom clone student-repos` writes): one repository
/// folder per student, named `assignment-username`. A student's exercise files are read from
/// the repository's root and its `exercises/` folder; `qNN` files anywhere else in it are
/// reported, not graded, and other files (README, CI settings) are the repository's own business.
///
/// The username is what follows the assignment prefix, the longest `…-` prefix all repository
/// folders share; with a roster (`classroom_roster.csv`, the Classroom download with
/// `identifier` and `github_username` columns, in the clone folder or beside it) a folder is
/// matched to the username it ends with and the student is named by their roster identifier.
/// Submission time: the committer date of the repository's last commit (`git log -1`); a
/// folder without `.git` (or whose history cannot be read) falls back to the files' times.
enum ClassroomIntake {
    static let rosterName = "classroom_roster.csv"
    /// Limits on walking a repository for misplaced exercise files.
    static let maximumDepth = 6
    static let maximumEntries = 20_000

    static func read(_ source: URL, map: ExerciseMap) throws -> SubmissionIntake {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw NotebookError(file: source.path, line: nil, "the Classroom clone folder does not exist")
        }
        var unmapped: [UnmappedFile] = []
        var notes: [String] = []
        var repositories: [String] = []
        for name in try SubmissionIntake.listFolder(source) where name != rosterName {
            let url = source.appendingPathComponent(name)
            if FileKind.of(url) == .directory { repositories.append(name); continue }
            unmapped.append(UnmappedFile(path: url.path, reason: "not a repository folder (a Classroom clone holds one folder per student)"))
        }
        let roster = try Roster.load(from: [source, source.deletingLastPathComponent()])
        if let roster { notes.append("student names from the roster \(roster.file.path)") }
        let prefix = assignmentPrefix(repositories)

        var named: [(folder: String, student: StudentSubmission)] = []
        for folder in repositories {
            let repository = source.appendingPathComponent(folder)
            var ids: [String: String] = [:]
            var name: String
            if let roster, let match = roster.entry(forFolder: folder) {
                ids["github_username"] = match.username
                if !match.identifier.isEmpty { ids["roster_identifier"] = match.identifier }
                name = match.identifier.isEmpty ? match.username : match.identifier
            } else {
                let username = folder.count > prefix.count ? String(folder.dropFirst(prefix.count)) : folder
                ids["github_username"] = username
                name = username
                if roster != nil { notes.append("\(folder): no roster entry matches; the student is named \(username)") }
            }
            let commitTime = gitCommitTime(of: repository)
            if commitTime == nil, FileManager.default.fileExists(atPath: repository.appendingPathComponent(".git").path) {
                notes.append("\(folder): the last commit's time cannot be read (git missing or no commits); the files' times are used")
            }
            var files = StudentFiles()
            for (url, relative) in exerciseCandidates(in: repository, unmapped: &unmapped, student: name) {
                let top = relative.split(separator: "/").count == 1 || (relative.hasPrefix("exercises/") && relative.split(separator: "/").count == 2)
                switch map.match(fileName: url.lastPathComponent) {
                case .exercise(let exercise):
                    guard top else {
                        unmapped.append(UnmappedFile(path: url.path, reason: "outside the repository's root and exercises/ folder; not graded", student: name, exercise: exercise))
                        continue
                    }
                    files.add(SubmittedFile(exercise: exercise, file: url, original: url.path,
                                            submitted: commitTime ?? SubmissionIntake.modificationDate(of: url),
                                            timeSource: commitTime == nil ? .mtime : .git))
                case .unknown(let reason):
                    unmapped.append(UnmappedFile(path: url.path, reason: reason, student: name))
                case .notExercise:
                    continue
                }
            }
            named.append((folder, StudentSubmission(name: name, files: files.settle(student: name, into: &unmapped), lmsIDs: ids)))
        }
        // Two repositories of one student (a renamed account, a second clone): named by folder instead.
        let counts = Dictionary(grouping: named, by: \.student.name).mapValues(\.count)
        let students = named.map { entry -> StudentSubmission in
            guard counts[entry.student.name, default: 0] > 1 else { return entry.student }
            notes.append("\(entry.folder): another repository maps to student \(entry.student.name); named by its folder instead")
            var student = entry.student
            student.name = entry.folder
            return student
        }
        return SubmissionIntake(source: source, layout: .classroom, students: students, unmapped: unmapped,
                                notes: notes.sorted(), extractedDirectory: nil)
    }

    /// The longest prefix ending in `-` that every folder shares (`hw1-` of `hw1-alice`,
    /// `hw1-bob`); empty for fewer than two folders.
    static func assignmentPrefix(_ folders: [String]) -> String {
        guard folders.count >= 2, var common = folders.first else { return "" }
        for folder in folders.dropFirst() {
            common = String(zip(common, folder).prefix { $0 == $1 }.map(\.0))
        }
        guard let dash = common.lastIndex(of: "-") else { return "" }
        return String(common[...dash])
    }

    /// `.md` files named like exercises anywhere in the repository (hidden folders, symbolic
    /// links and anything deeper than `maximumDepth` skipped), with their paths in it.
    static func exerciseCandidates(in repository: URL, unmapped: inout [UnmappedFile], student: String) -> [(URL, String)] {
        var result: [(URL, String)] = []
        var seen = 0
        func walk(_ folder: URL, _ relative: String, depth: Int) {
            guard depth <= maximumDepth, let names = try? SubmissionIntake.listFolder(folder) else { return }
            for name in names {
                seen += 1
                if seen > maximumEntries { return }
                let url = folder.appendingPathComponent(name)
                let path = relative.isEmpty ? name : relative + "/" + name
                switch FileKind.of(url) {
                case .directory: walk(url, path, depth: depth + 1)
                case .file:
                    if name.lowercased().hasSuffix(".md"), ExerciseMap.number(in: name) != nil { result.append((url, path)) }
                case .other:
                    if name.lowercased().hasSuffix(".md"), ExerciseMap.number(in: name) != nil {
                        unmapped.append(UnmappedFile(path: url.path, reason: "not a plain file (a symbolic link?); not followed", student: student))
                    }
                }
            }
        }
        walk(repository, "", depth: 0)
        if seen > maximumEntries {
            unmapped.append(UnmappedFile(path: repository.path, reason: "more than \(maximumEntries) entries; only the first were searched for exercise files", student: student))
        }
        return result.sorted { $0.1 < $1.1 }
    }

    /// The committer date of HEAD, nil without a readable history. The repository's own
    /// configuration cannot make git run a pager or a signature program here.
    static func gitCommitTime(of repository: URL) -> Date? {
        guard FileManager.default.fileExists(atPath: repository.appendingPathComponent(".git").path) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "--no-pager", "-c", "safe.directory=*", "-c", "log.showSignature=false",
                             "-C", repository.path, "log", "-1", "--format=%cI"]
        var environment = ProcessInfo.processInfo.environment
        for key in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"] { environment[key] = nil }
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_TERMINAL_PROMPT"] = "0"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        return ISO8601DateFormatter().date(from: text)
    }
}

/// GitHub Classroom's roster download: `identifier` (the instructor's name for the student)
/// and `github_username` (empty until the student links their account).
struct Roster {
    struct Entry { var identifier: String; var username: String }
    var file: URL
    var entries: [Entry]

    static func load(from folders: [URL]) throws -> Roster? {
        for folder in folders {
            let url = folder.appendingPathComponent(ClassroomIntake.rosterName)
            guard FileKind.of(url) == .file else { continue }
            var entries: [Entry] = []
            for (line, values) in try CSVTable.records(at: url) {
                guard let identifier = values["identifier"], let username = values["github_username"] else {
                    throw NotebookError(file: url.path, line: line, "the roster needs identifier and github_username columns")
                }
                if !username.isEmpty { entries.append(Entry(identifier: identifier, username: username)) }
            }
            return Roster(file: url, entries: entries)
        }
        return nil
    }

    /// The entry whose username the folder is, or ends with after a `-` (GitHub usernames
    /// ignore case); the longest wins, so `hw1-ann-lee` is `ann-lee` rather than `lee`.
    func entry(forFolder folder: String) -> Entry? {
        let lower = folder.lowercased()
        return entries.filter {
            let u = $0.username.lowercased()
            return lower == u || lower.hasSuffix("-" + u)
        }.max { $0.username.count < $1.username.count }
    }
}
