import Foundation
import Notebook

/// Compiles a generated exercise program (student or checker) against the engine library with
/// `swiftc -Onone` and a shared module cache (imports of the engine's modules are then cheap).
public struct ProgramCompiler: Sendable {
    public var engine: EngineBuild
    public var moduleCache: URL

    public init(engine: EngineBuild, moduleCache: URL) {
        self.engine = engine
        self.moduleCache = moduleCache
    }

    public struct Output: Sendable {
        public var executable: URL?
        /// `file:line:col: error: message` lines.
        public var errors: [String]
        public var log: String
        public var seconds: Double
    }

    /// Writes `source` to `directory/main.swift`, compiles it to `directory/<name>`.
    public func compile(source: String, name: String, in directory: URL, timeout: Double = 300) throws -> Output {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        try fm.createDirectory(at: moduleCache, withIntermediateDirectories: true)
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent(name)
        try Data(source.utf8).write(to: main, options: .atomic)
        try? fm.removeItem(at: executable)
        var arguments = ["-Onone", "-swift-version", "5", "-module-name", "WorkbookExercise",
                         "-diagnostic-style", "llvm", "-module-cache-path", moduleCache.path,
                         "-I", engine.modules.path]
        for map in engine.moduleMaps { arguments += ["-Xcc", "-fmodule-map-file=\(map.path)"] }
        arguments += ["-L", engine.buildDirectory.path, "-lWorkbookKit",
                      "-Xlinker", "-rpath", "-Xlinker", engine.buildDirectory.path,
                      main.path, "-o", executable.path]
        let start = Date()
        // A pathological source could make the type checker spin; bound it.
        let result = try ChildProcess(executable: "swiftc", arguments: arguments).run(check: {
            Date().timeIntervalSince(start) > timeout
        })
        let log = String(decoding: result.stderr + result.stdout, as: UTF8.self)
        let errors = log.split(separator: "\n").map(String.init).filter { $0.contains(": error: ") }
            .map { $0.replacingOccurrences(of: directory.path + "/", with: "") }
        let ok = result.termination == .exited(0) && fm.fileExists(atPath: executable.path)
        var finalErrors = errors
        if !ok && errors.isEmpty {
            finalErrors = [result.termination == .killed ? "the compiler took longer than \(Int(timeout)) s and was stopped"
                                                         : "compilation failed: \(String(log.suffix(2000)))"]
        }
        return Output(executable: ok ? executable : nil, errors: ok ? [] : finalErrors, log: log,
                      seconds: Date().timeIntervalSince(start))
    }
}

extension ProgramCompiler {
    /// Compiles `exercise`'s checks (hidden ones included) into the grader's checker program in
    /// `directory` and returns its compile errors, located at the exercise's Markdown lines. An
    /// instructor runs this before grading (`workbook check`): a broken hidden check would
    /// otherwise fail for every student.
    public func checkerErrors(for exercise: Exercise, in directory: URL) throws -> [String] {
        let (source, _) = SubmissionProgram.checkerSource(exercise: exercise, includeHidden: true)
        return try compile(source: source, name: "checker", in: directory).errors
    }
}
