import Foundation

/// A compiler message; lines inside a lesson also name their cell.
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

    static let pattern = try! Regex(#"^(.+?):(\d+):(\d+): (error|warning|note): (.*)$"#,
                                    as: (Substring, Substring, Substring, Substring, Substring, Substring).self)

    /// Reads swiftc's `file:line:col: severity: message` lines (`-diagnostic-style llvm`); the
    /// generated `main.swift` itself is named `generatedName`.
    static func parse(_ log: String, mainPath: String, generatedName: String) -> [Diagnostic] {
        log.split(separator: "\n", omittingEmptySubsequences: true).compactMap { raw in
            let line = String(raw)
            guard let match = line.firstMatch(of: pattern) else { return nil }
            let file = String(match.1) == mainPath ? generatedName : String(match.1)
            return Diagnostic(file: file, line: Int(match.2) ?? 0, column: Int(match.3) ?? 0,
                              severity: String(match.4), message: String(match.5), cell: nil)
        }
    }
}

/// Stage 3 (compile), for every program the tool builds (a lesson, a student's exercise, a
/// checker): writes `main.swift` and runs `swiftc -Onone` against the release engine library, with
/// line tables (so a trap maps to its Markdown line) and an optional shared module cache.
///
/// A grading run compiles thousands of programs that differ only in their source, so the
/// driver's own start (a large program that merely plans the frontend, autolink and link jobs) is
/// paid once: the jobs it prints for a placeholder program (`swiftc -###`) are kept per argument
/// list and toolchain, and later programs run them directly with their own paths.
public struct ProgramCompiler: Sendable {
    public var engine: EngineBuild
    /// Clang's module cache (nil: the toolchain's default). A shared one makes imports of the
    /// engine's modules cheap across many programs.
    public var moduleCache: URL?
    /// The program's module name: `#fileID` then reads `<moduleName>/<file>.md`.
    public var moduleName: String
    /// Link with the toolchain's own lld when it ships one: about half the CPU time of the
    /// system's gold for a program linked against the engine. False: the driver's default linker.
    public var usesToolchainLinker = true
    /// Run the driver's jobs directly from a kept plan (see the type's comment); false runs
    /// `swiftc` for every program (how to compare the two).
    public var reusesDriverPlan = true

    /// How diagnostics name the generated `main.swift` itself.
    public static let generatedFileName = "main.swift (generated)"

    public init(engine: EngineBuild, moduleCache: URL? = nil, moduleName: String = ProgramGenerator.moduleName) {
        self.engine = engine
        self.moduleCache = moduleCache
        self.moduleName = moduleName
    }

    public struct Output: Sendable {
        public var executable: URL?
        public var diagnostics: [Diagnostic]
        /// The compiler's whole output, for messages that are not about a line.
        public var log: String
        public var seconds: Double
        /// Stopped at the time limit.
        public var timedOut: Bool
        /// Seconds per job when the plan's jobs ran directly (`frontend`, `autolink`, `link`);
        /// empty when `swiftc` ran them.
        public var jobSeconds: [String: Double] = [:]
        public var errors: [Diagnostic] { diagnostics.filter { $0.severity == "error" } }
    }

    /// The `swiftc` arguments for `main` and `executable`.
    func arguments(main: String, executable: String) -> [String] {
        var arguments = ["-Onone", "-gline-tables-only", "-swift-version", "5", "-module-name", moduleName,
                         "-diagnostic-style", "llvm"]
        if usesToolchainLinker, Self.toolchainHasLLD { arguments += ["-use-ld=lld"] }
        if let moduleCache { arguments += ["-module-cache-path", moduleCache.path] }
        arguments += ["-I", engine.modules.path]
        for map in engine.moduleMaps { arguments += ["-Xcc", "-fmodule-map-file=\(map.path)"] }
        arguments += ["-L", engine.buildDirectory.path, "-lWorkbookKit",
                      "-Xlinker", "-rpath", "-Xlinker", engine.buildDirectory.path,
                      main, "-o", executable]
        return arguments
    }

    /// Writes `source` to `directory/main.swift` and compiles it to `directory/<name>`; a
    /// pathological source that keeps the type checker busy is stopped after `timeout` seconds,
    /// and a compile nobody waits for any more (a notebook run stopped) when `shouldStop` says so.
    public func compile(source: String, name: String, in directory: URL, timeout: Double = 300,
                        shouldStop: () -> Bool = { false }) throws -> Output {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        if let moduleCache { try Self.prepareModuleCache(moduleCache, engine: engine) }
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent(name)
        try Data(source.utf8).write(to: main, options: .atomic)
        try? fm.removeItem(at: executable)
        let start = Date()
        let stop = { Date().timeIntervalSince(start) > timeout || shouldStop() }
        var stdout = Data(), stderr = Data()
        var termination = ChildProcess.Termination.exited(0)
        var jobSeconds: [String: Double] = [:]
        if reusesDriverPlan, let plan = DriverPlan.plan(arguments: arguments(main: DriverPlan.placeholderMain,
                                                                             executable: DriverPlan.placeholderExecutable)) {
            // Intermediates (object, autolink list) beside the program, removed once it is linked.
            let intermediates = directory.appendingPathComponent(".jobs-\(name)")
            try? fm.removeItem(at: intermediates)
            try fm.createDirectory(at: intermediates, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: intermediates) }
            for job in plan.jobs(main: main.path, executable: executable.path, intermediates: intermediates.path) {
                let jobStart = Date()
                let result = try ChildProcess(executable: job.command[0], arguments: Array(job.command.dropFirst())).run(check: stop)
                jobSeconds[job.name, default: 0] += Date().timeIntervalSince(jobStart)
                stdout += result.stdout
                stderr += result.stderr
                termination = result.termination
                guard result.termination == .exited(0) else { break }
            }
        } else {
            let result = try ChildProcess(executable: "swiftc", arguments: arguments(main: main.path, executable: executable.path))
                .run(check: stop)
            (stdout, stderr, termination) = (result.stdout, result.stderr, result.termination)
        }
        let log = String(decoding: stderr + stdout, as: UTF8.self)
        let ok = termination == .exited(0) && fm.fileExists(atPath: executable.path)
        return Output(executable: ok ? executable : nil,
                      diagnostics: Diagnostic.parse(log, mainPath: main.path, generatedName: Self.generatedFileName),
                      log: log, seconds: Date().timeIntervalSince(start), timedOut: termination == .killed,
                      jobSeconds: jobSeconds)
    }

    /// Whether the toolchain of `swiftc` on PATH ships `ld.lld` beside it (Swift's Linux toolchains do).
    static let toolchainHasLLD: Bool = {
        #if os(Linux)
        guard let swiftc = DriverPlan.swiftcPath else { return false }
        return FileManager.default.isExecutableFile(atPath: swiftc.deletingLastPathComponent().appendingPathComponent("ld.lld").path)
        #else
        return false
        #endif
    }()

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

    /// Empties the module cache (after a program that must compile did not).
    public func resetModuleCache() throws {
        guard let moduleCache else { return }
        Self.moduleCacheLock.lock()
        Self.preparedModuleCaches.remove(moduleCache.standardizedFileURL.resolvingSymlinksInPath().path)
        Self.moduleCacheLock.unlock()
        try? FileManager.default.removeItem(at: moduleCache)
        try Self.prepareModuleCache(moduleCache, engine: engine)
    }
}
