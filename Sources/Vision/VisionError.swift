import Foundation

/// A problem with data on disk or in memory (a corrupt image, a malformed dataset file, a missing
/// dataset). The message names the file and what is wrong with it.
public struct VisionError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file (or data name) the problem is about, if any.
    public let file: String?
    /// What is wrong.
    public let message: String

    public init(file: String? = nil, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { file.map { "\($0): \(message)" } ?? message }
    public var errorDescription: String? { description }
}

/// Writes `data` to `url` atomically: a temporary file in the same folder, then a rename, so a
/// reader never sees a half-written file.
func writeAtomically(_ data: Data, to url: URL) throws {
    let folder = url.deletingLastPathComponent()
    let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    do {
        try data.write(to: temporary)
    } catch {
        throw VisionError(file: url.path, "cannot write: \(error.localizedDescription)")
    }
    if rename(temporary.path, url.path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw VisionError(file: url.path, "cannot move the written file into place: \(reason)")
    }
}
