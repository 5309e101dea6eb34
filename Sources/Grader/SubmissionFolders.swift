import Foundation
import Notebook

/// How the submissions of a class are laid out on disk: one folder per student (its name is the
/// student's name) holding that student's `qNN-*.md` files, which `ExerciseGrader.submissionFile`
/// finds. `workbook grade` and `workbook similarity` read submissions through it.
public enum SubmissionFolders {
    /// The student folders under `submissions`, sorted; hidden entries and plain files are skipped.
    public static func students(in submissions: URL) throws -> [String] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: submissions.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw NotebookError(file: submissions.path, line: nil, "the submissions folder does not exist")
        }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: submissions.path) } catch {
            throw NotebookError(file: submissions.path, line: nil, "cannot read the submissions folder (\(error.localizedDescription))")
        }
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(
                atPath: submissions.appendingPathComponent(name).path, isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
    }
}
