/// A problem with a lesson or exercise file, reported as `file:line: error: message` so editors
/// and terminals can jump to it.
public struct NotebookError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    /// 1-based line in `file`, or nil when the problem concerns the whole file.
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): error: \(message)" }
        return "\(file): error: \(message)"
    }
}
