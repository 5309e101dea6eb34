/// Options written after `swift` in a cell's fence, space-separated:
///
///     ```swift hide-source timeout=120
///
/// Flags: `hide-source`, `hide-output`, `no-run`, `expect-error`, `fold` (the site shows the code
/// folded). Values: `timeout=SECONDS`, `id=NAME`, `label=fig-NAME` / `label=tbl-NAME` (the site
/// numbers the cell's figure or table, and `@fig-NAME` in prose refers to it). Other tools (the grader) may allow more names through `LessonParser.Configuration`;
/// those land in `extra`. Anything else is an error naming the line.
public struct CellOptions: Sendable, Equatable, Hashable {
    /// Show only the outputs, not the code (set-up cells).
    public var hideSource = false
    /// Run the cell but do not show its outputs.
    public var hideOutput = false
    /// Show the code but never compile or run it.
    public var noRun = false
    /// The cell must fail at run time (a trap such as a shape mismatch); it runs in a forked
    /// child so the lesson continues with the state from before the cell.
    public var expectError = false
    /// Per-cell time limit in seconds (overrides the front matter's `timeout`).
    public var timeout: Double?
    /// A stable name for the cell (default `cell-N`).
    public var id: String?
    /// Show the code folded on the site (a "show code" toggle), for long set-up cells.
    public var fold = false
    /// `fig-NAME` or `tbl-NAME`: the cell's output is a numbered figure or table.
    public var label: String?
    /// Options allowed by the parser's configuration but not known here, in order of appearance
    /// (`name` -> value, `""` for flags).
    public var extra: [String: String] = [:]

    public init() {}

    public static let flags = ["hide-source", "hide-output", "no-run", "expect-error", "fold"]
    public static let valued = ["timeout", "id", "label"]
    /// The prefixes a `label` may have, and what the site calls them.
    public static let labelKinds = ["fig": "Figure", "tbl": "Table"]

    /// Parses the words after `swift`. `line` and `file` only serve error messages.
    public static func parse(_ words: [Substring], extraAllowed: Set<String> = [],
                             file: String, line: Int) throws -> CellOptions {
        var options = CellOptions()
        var seen = Set<String>()
        for word in words {
            let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : nil
            if !seen.insert(name).inserted {
                throw NotebookError(file: file, line: line, "cell option '\(name)' given twice")
            }
            func flag() throws {
                if value != nil {
                    throw NotebookError(file: file, line: line, "cell option '\(name)' takes no value")
                }
            }
            switch name {
            case "hide-source": try flag(); options.hideSource = true
            case "hide-output": try flag(); options.hideOutput = true
            case "no-run": try flag(); options.noRun = true
            case "expect-error": try flag(); options.expectError = true
            case "fold": try flag(); options.fold = true
            case "label":
                let kind = value.flatMap { $0.split(separator: "-", maxSplits: 1).first.map(String.init) } ?? ""
                guard let value, labelKinds[kind] != nil, value.count > kind.count + 1,
                      value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw NotebookError(file: file, line: line,
                                        "cell option 'label' needs fig-NAME or tbl-NAME (letters, digits, '-', '_'), as in label=fig-curves")
                }
                options.label = value
            case "timeout":
                guard let value, let seconds = Double(value), seconds > 0, seconds.isFinite else {
                    throw NotebookError(file: file, line: line,
                                        "cell option 'timeout' needs a positive number of seconds, as in timeout=120")
                }
                options.timeout = seconds
            case "id":
                guard let value, !value.isEmpty,
                      value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw NotebookError(file: file, line: line,
                                        "cell option 'id' needs a name of letters, digits, '-' or '_', as in id=setup")
                }
                options.id = value
            default:
                guard extraAllowed.contains(name) else {
                    let known = (flags + valued.map { "\($0)=..." } + extraAllowed.sorted()).joined(separator: ", ")
                    throw NotebookError(file: file, line: line,
                                        "unknown cell option '\(word)' (known: \(known))")
                }
                options.extra[name] = value ?? ""
            }
        }
        if options.noRun && options.expectError {
            throw NotebookError(file: file, line: line, "a cell cannot be both 'no-run' and 'expect-error'")
        }
        return options
    }

    /// The canonical text of the options, used in cache keys (order-independent).
    public var canonical: String {
        var parts: [String] = []
        if hideSource { parts.append("hide-source") }
        if hideOutput { parts.append("hide-output") }
        if noRun { parts.append("no-run") }
        if expectError { parts.append("expect-error") }
        if let timeout { parts.append("timeout=\(timeout)") }
        if let id { parts.append("id=\(id)") }
        if fold { parts.append("fold") }
        if let label { parts.append("label=\(label)") }
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { parts.append(v.isEmpty ? k : "\(k)=\(v)") }
        return parts.joined(separator: " ")
    }
}
