import Foundation

/// The one rule for which Markdown files of a course folder are pages (lessons, exercises), used
/// by the site, `workbook check`, `release` and `grade` alike.
public enum CourseFiles {
    /// A folder's own documentation, never a page.
    public static let documentation: Set<String> = ["FORMAT.md", "README.md"]
    /// `lessons/index.md`: the home page's introduction (rendered, not run).
    public static let intro = "index.md"

    /// The page files of `directory`: `*.md`, except hidden files and the folder's documentation,
    /// sorted by name.
    public static func pages(in directory: URL) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw NotebookError(file: directory.path, line: nil, "cannot list the folder (\(error.localizedDescription))")
        }
        return names.filter { $0.hasSuffix(".md") && !$0.hasPrefix(".") && !documentation.contains($0) }.sorted()
    }
}
