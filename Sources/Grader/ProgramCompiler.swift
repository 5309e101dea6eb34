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
        try Self.prepareModuleCache(moduleCache, engine: engine)
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent(name)
        try Data(source.utf8).write(to: main, options: .atomic)
        try? fm.removeItem(at: executable)
        // Line tables let a trap be mapped to the student's line (TrapLocation).
        var arguments = ["-Onone", "-gline-tables-only", "-swift-version", "5", "-module-name", "WorkbookExercise",
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
    private static let moduleCacheLock = NSLock()
    nonisolated(unsafe) private static var preparedModuleCaches: Set<String> = []

    /// Clang's module cache records absolute paths: a cache copied with the project, or left by
    /// another toolchain or engine build folder, makes every compile fail. A stamp names the
    /// cache's own location, the toolchain and the engine folder; on a mismatch it is emptied.
    static func prepareModuleCache(_ cache: URL, engine: EngineBuild) throws {
        moduleCacheLock.lock()
        defer { moduleCacheLock.unlock() }
        let location = cache.standardizedFileURL.resolvingSymlinksInPath().path
        if preparedModuleCaches.contains(location) { return }
        let fm = FileManager.default
        let stamp = cache.appendingPathComponent("workbook-stamp.txt")
        let expected = "location: \(location)\ntoolchain: \(EngineBuild.toolchainVersion())\nengine: \(engine.buildDirectory.path)\n"
        if (try? String(contentsOf: stamp, encoding: .utf8)) != expected {
            try? fm.removeItem(at: cache)
            try fm.createDirectory(at: cache, withIntermediateDirectories: true)
            try Data(expected.utf8).write(to: stamp, options: .atomic)
        }
        preparedModuleCaches.insert(location)
    }

    /// Empties the module cache (after a reference program failed to compile with it).
    func resetModuleCache() throws {
        Self.moduleCacheLock.lock()
        Self.preparedModuleCaches.remove(moduleCache.standardizedFileURL.resolvingSymlinksInPath().path)
        Self.moduleCacheLock.unlock()
        try? FileManager.default.removeItem(at: moduleCache)
        try Self.prepareModuleCache(moduleCache, engine: engine)
    }

    /// Compiles `exercise`'s checks (hidden ones included) into the grader's checker program in
    /// `directory` and returns its compile errors, located at the exercise's Markdown lines. An
    /// instructor runs this before grading (`workbook check`): a broken hidden check would
    /// otherwise fail for every student.
    public func checkerErrors(for exercise: Exercise, in directory: URL) throws -> [String] {
        let (source, _) = SubmissionProgram.checkerSource(exercise: exercise, includeHidden: true)
        return try compile(source: source, name: "checker", in: directory).errors
    }
}
