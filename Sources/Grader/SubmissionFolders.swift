import Foundation
import Notebook

/// The student folders of a folder-per-student layout, by name. Kept for callers that only need
/// the names; everything that reads submissions goes through `SubmissionIntake`.
public enum SubmissionFolders {
    /// The student folders under `submissions`, sorted; hidden entries and plain files are skipped.
    public static func students(in submissions: URL) throws -> [String] {
        try SubmissionIntake.read(submissions, exercises: [], layout: .folders).students.map(\.name)
    }
}
