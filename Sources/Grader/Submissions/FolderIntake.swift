import Foundation
import Notebook

/// A folder per student, named after them, with their `qNN-*.md` files at its top level.
/// Submission times are the files' modification times.
enum FolderIntake {
    static func read(_ source: URL, map: ExerciseMap) throws -> SubmissionIntake {
        var students: [StudentSubmission] = []
        var unmapped: [UnmappedFile] = []
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw NotebookError(file: source.path, line: nil, "the submissions folder does not exist (a folder per student is expected)")
        }
        for name in try SubmissionIntake.listFolder(source) {
            let folder = source.appendingPathComponent(name)
            switch FileKind.of(folder) {
            case .directory: break
            case .file:
                unmapped.append(UnmappedFile(path: folder.path, reason: "a file outside any student's folder (expected one folder per student)"))
                continue
            case .other:
                unmapped.append(UnmappedFile(path: folder.path, reason: "neither a folder nor a plain file (a symbolic link?); not followed"))
                continue
            }
            let entries: [String]
            do { entries = try SubmissionIntake.listFolder(folder) } catch {
                unmapped.append(UnmappedFile(path: folder.path, reason: "cannot read the student's folder; the student is left out", student: name))
                continue
            }
            var files = StudentFiles()
            for entry in entries {
                let url = folder.appendingPathComponent(entry)
                switch FileKind.of(url) {
                case .file: break
                case .directory:
                    let looksLikeExercise = entry.lowercased().hasSuffix(".md") && ExerciseMap.number(in: entry) != nil
                    unmapped.append(UnmappedFile(path: url.path, reason: looksLikeExercise
                        ? "a folder, not a file: cannot read it as an exercise file"
                        : "a folder inside the student's folder (exercise files are read from its top level)", student: name))
                    continue
                case .other:
                    unmapped.append(UnmappedFile(path: url.path, reason: "not a plain file (a symbolic link?); not followed", student: name))
                    continue
                }
                switch map.match(fileName: entry) {
                case .exercise(let exercise):
                    files.add(SubmittedFile(exercise: exercise, file: url, original: url.path,
                                            submitted: SubmissionIntake.modificationDate(of: url), timeSource: .mtime))
                case .notExercise(let reason), .unknown(let reason):
                    unmapped.append(UnmappedFile(path: url.path, reason: reason, student: name))
                }
            }
            students.append(StudentSubmission(name: name, files: files.settle(student: name, into: &unmapped)))
        }
        return SubmissionIntake(source: source, layout: .folders, students: students, unmapped: unmapped, notes: [],
                                extractedDirectory: nil)
    }
}
