import Foundation

/// A compiler message mapped back to the lesson.
public struct Diagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// `error`, `warning` or `note`.
    public var severity: String
    public var message: String
    /// The cell the line belongs to, if any.
    public var cell: Int?

    public var description: String { "\(file):\(line):\(column): \(severity): \(message)" }
}

/// Stage 3 (compile): `swiftc` against the engine build.
public struct LessonCompiler: Sendable {
    public var engine: EngineBuild
    public init(engine: EngineBuild) { self.engine = engine }

    public struct Output: Sendable {
        public var executable: URL?
        public var diagnostics: [Diagnostic]
        /// The compiler's whole output, for messages that are not about a cell.
        public var log: String
        public var errors: [Diagnostic] { diagnostics.filter { $0.severity == "error" } }
    }

    /// Writes `program` to `directory/main.swift` and compiles it to `directory/lesson`.
    public func compile(_ program: ProgramGenerator.Program, lesson: Lesson, in directory: URL) throws -> Output {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent("lesson")
        try Data(program.source.utf8).write(to: main, options: .atomic)
        try? fm.removeItem(at: executable)
        // Line tables let a trap be mapped to its statement's Markdown line (TrapLocation).
        var arguments = ["-Onone", "-gline-tables-only", "-swift-version", "5", "-module-name", ProgramGenerator.moduleName,
                         "-diagnostic-style", "llvm",
                         "-I", engine.modules.path]
        for map in engine.moduleMaps { arguments += ["-Xcc", "-fmodule-map-file=\(map.path)"] }
        arguments += ["-L", engine.buildDirectory.path, "-lWorkbookKit",
                      "-Xlinker", "-rpath", "-Xlinker", engine.buildDirectory.path,
                      main.path, "-o", executable.path]
        let result = try ChildProcess(executable: "swiftc", arguments: arguments).run()
        let log = String(decoding: result.stderr + result.stdout, as: UTF8.self)
        let diagnostics = Self.parseDiagnostics(log, lesson: lesson, mainPath: main.path)
        let ok = result.termination == .exited(0) && fm.fileExists(atPath: executable.path)
        return Output(executable: ok ? executable : nil, diagnostics: diagnostics, log: log)
    }

    /// Reads `file:line:col: severity: message` lines; lines in the lesson get their cell.
    static func parseDiagnostics(_ log: String, lesson: Lesson, mainPath: String) -> [Diagnostic] {
        var result: [Diagnostic] = []
        let pattern = try! Regex(#"^(.+?):(\d+):(\d+): (error|warning|note): (.*)$"#,
                                 as: (Substring, Substring, Substring, Substring, Substring, Substring).self)
        for raw in log.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            guard let match = line.firstMatch(of: pattern) else { continue }
            var file = String(match.1)
            let lineNumber = Int(match.2) ?? 0
            var cell: Int?
            if file == lesson.path {
                cell = lesson.cells.first { lineNumber > $0.line && lineNumber < max($0.endLine, $0.line + 2) }?.index
            } else if file == mainPath {
                file = "generated program for \(lesson.path)"
            }
            result.append(Diagnostic(file: file, line: lineNumber, column: Int(match.3) ?? 0,
                                     severity: String(match.4), message: String(match.5), cell: cell))
        }
        return result
    }
}
