import Foundation

/// Stored lesson results under `<package>/.workbook/cache/`, one JSON file per lesson
/// (`lessons__intro.md.json` for `lessons/intro.md`), replaced on every run.
///
/// The key covers what can change outputs: each runnable cell's source and options, the
/// front matter's seed, threads, timeout and inputs, the contents of the declared input files,
/// the engine build and the toolchain. Prose is not part of it: editing text re-uses outputs.
public struct ExecutionCache: Sendable {
    public var directory: URL
    public init(directory: URL) { self.directory = directory }

    public func entryURL(for lesson: Lesson) -> URL {
        let name = lesson.path.split(separator: "/").filter { $0 != "." && $0 != ".." }.joined(separator: "__")
        return directory.appendingPathComponent(name + ".json")
    }

    /// The key and the input fingerprints for `lesson`.
    public static func key(for lesson: Lesson, engine: String, toolchain: String,
                           packageRoot: URL) throws -> (key: String, inputs: [String: String]) {
        var h = SHA256()
        func field(_ s: String) { h.update("\(s.utf8.count):\(s)\n") }
        field("workbook-cache-\(LessonResult.format)-generator-\(ProgramGenerator.version)")
        field(toolchain)
        field(engine)
        field(lesson.path)
        let fm = lesson.frontMatter
        field("seed=\(fm.seed.map(String.init) ?? "-") threads=\(fm.threads.map(String.init) ?? "-") timeout=\(fm.timeout.map { "\($0)" } ?? "-")")
        for cell in lesson.cells {
            field("cell \(cell.index) [\(cell.options.canonical)]")
            field(cell.options.noRun ? "" : cell.source)
        }
        let inputs = try inputHashes(lesson: lesson, packageRoot: packageRoot)
        for (path, hash) in inputs.sorted(by: { $0.key < $1.key }) { field("input \(path) \(hash)") }
        return (h.finalize(), inputs)
    }

    /// Expands the front matter's `inputs` globs (relative to the package root) and hashes each file.
    public static func inputHashes(lesson: Lesson, packageRoot: URL) throws -> [String: String] {
        var result: [String: String] = [:]
        for pattern in lesson.frontMatter.inputs {
            let matches = glob(pattern, in: packageRoot)
            guard !matches.isEmpty else {
                throw NotebookError(file: lesson.path, line: lesson.frontMatter.lines.map { $0.lowerBound },
                                    "declared input '\(pattern)' matches no file under \(packageRoot.path)")
            }
            for relative in matches {
                let url = packageRoot.appendingPathComponent(relative)
                guard let handle = try? FileHandle(forReadingFrom: url) else {
                    throw NotebookError(file: lesson.path, line: nil, "cannot read declared input \(relative)")
                }
                defer { try? handle.close() }
                var h = SHA256()
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(chunk) }
                result[relative] = h.finalize()
            }
        }
        return result
    }

    /// Paths relative to `root` matching a pattern with `*` and `?` in its last component.
    static func glob(_ pattern: String, in root: URL) -> [String] {
        let directory = (pattern as NSString).deletingLastPathComponent
        let name = (pattern as NSString).lastPathComponent
        guard name.contains("*") || name.contains("?") else {
            return FileManager.default.fileExists(atPath: root.appendingPathComponent(pattern).path) ? [pattern] : []
        }
        let folder = directory.isEmpty ? root : root.appendingPathComponent(directory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { fnmatch(name, $0, 0) == 0 }.sorted()
            .map { directory.isEmpty ? $0 : directory + "/" + $0 }
    }

    /// The stored result for `lesson` if its key matches.
    public func lookup(_ lesson: Lesson, key: String) -> LessonResult? {
        guard let data = try? Data(contentsOf: entryURL(for: lesson)),
              let result = try? JSONDecoder().decode(LessonResult.self, from: data),
              result.format == LessonResult.format, result.key == key,
              result.cells.count == lesson.cells.count else { return nil }
        return result
    }

    /// Stores the result (temp file + rename), replacing the lesson's previous entry, and beside it
    /// the parts its key was made of, so a later miss can say what changed.
    public func store(_ result: LessonResult, for lesson: Lesson) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let parts = KeyParts(lesson: lesson, engine: result.versions.engine, toolchain: result.versions.toolchain,
                             inputs: result.inputs)
        try FileManager.default.createDirectory(at: partsDirectory, withIntermediateDirectories: true)
        try encoder.encode(parts).write(to: partsURL(for: lesson), options: .atomic)
        try encoder.encode(result).write(to: entryURL(for: lesson), options: .atomic)
    }

    /// Beside the cache folder (`.workbook/cache-keys/`), so the cache keeps one file per lesson.
    var partsDirectory: URL { directory.deletingLastPathComponent().appendingPathComponent(directory.lastPathComponent + "-keys") }

    func partsURL(for lesson: Lesson) -> URL {
        partsDirectory.appendingPathComponent(entryURL(for: lesson).lastPathComponent)
    }

    /// What a cache key is made of, kept apart so that a miss can be explained.
    public struct KeyParts: Codable, Sendable, Equatable {
        public var format: String
        public var toolchain: String
        public var engine: String
        public var frontMatter: String
        /// Per cell: its options and a hash of its source (empty for `no-run` cells).
        public var cells: [String]
        public var inputs: [String: String]

        public init(lesson: Lesson, engine: String, toolchain: String, inputs: [String: String]) {
            format = "\(LessonResult.format)-\(ProgramGenerator.version)"
            self.toolchain = toolchain
            self.engine = engine
            let fm = lesson.frontMatter
            frontMatter = "seed=\(fm.seed.map(String.init) ?? "-") threads=\(fm.threads.map(String.init) ?? "-") timeout=\(fm.timeout.map { "\($0)" } ?? "-") inputs=\(fm.inputs.joined(separator: ","))"
            cells = lesson.cells.map { cell in
                var h = SHA256()
                h.update(cell.options.noRun ? "" : cell.source)
                return "[\(cell.options.canonical)] \(h.finalize().prefix(16))"
            }
            self.inputs = inputs
        }
    }

    /// Why `lesson` has no usable stored result: which cell, input file, option, engine or
    /// toolchain changed since it was stored (nil when the stored result is still valid).
    /// Cheap parts are compared first; input files are hashed only when nothing else differs.
    public func missReason(for lesson: Lesson, engine: String, toolchain: String, packageRoot: URL) -> String? {
        guard FileManager.default.fileExists(atPath: entryURL(for: lesson).path) else { return "never run before (no stored result)" }
        guard let data = try? Data(contentsOf: partsURL(for: lesson)),
              let old = try? JSONDecoder().decode(KeyParts.self, from: data) else {
            return "the stored result has no record of its key (stored by an older workbook)"
        }
        let now = KeyParts(lesson: lesson, engine: engine, toolchain: toolchain, inputs: [:])
        if old.format != now.format { return "the cache format or program generator changed" }
        if old.toolchain != now.toolchain { return "the Swift toolchain changed (\(old.toolchain) -> \(now.toolchain))" }
        if old.engine != now.engine { return "the engine library was rebuilt with other sources (\(old.engine.prefix(12)) -> \(now.engine.prefix(12)))" }
        if old.frontMatter != now.frontMatter { return "the front matter changed (\(old.frontMatter) -> \(now.frontMatter))" }
        var reasons: [String] = []
        for (i, cell) in lesson.cells.enumerated() {
            guard i < old.cells.count else { reasons.append("cell \(i + 1) (line \(cell.line)) is new"); continue }
            guard old.cells[i] != now.cells[i] else { continue }
            let optionsOf = { (s: String) in s.split(separator: "]", maxSplits: 1).first.map { String($0.dropFirst()) } ?? "" }
            let (was, isNow) = (optionsOf(old.cells[i]), optionsOf(now.cells[i]))
            reasons.append(was != isNow ? "cell \(i + 1) (line \(cell.line)) options changed ([\(was)] -> [\(isNow)])"
                                        : "cell \(i + 1) (line \(cell.line)) changed")
        }
        if old.cells.count > lesson.cells.count { reasons.append("\(old.cells.count - lesson.cells.count) cell(s) removed at the end") }
        if !reasons.isEmpty { return reasons.joined(separator: "; ") }
        guard let inputs = try? Self.inputHashes(lesson: lesson, packageRoot: packageRoot) else { return "a declared input file cannot be read" }
        for path in Set(inputs.keys).union(old.inputs.keys).sorted() where inputs[path] != old.inputs[path] {
            reasons.append(inputs[path] == nil ? "input \(path) is gone" : old.inputs[path] == nil ? "input \(path) is new" : "input \(path) changed")
        }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }

    /// Removes entries whose lesson file no longer exists (`lessons__old.md.json`).
    public func prune(packageRoot: URL) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".json") {
            let path = String(name.dropLast(5)).replacingOccurrences(of: "__", with: "/")
            let candidate = path.hasPrefix("/") ? URL(fileURLWithPath: path) : packageRoot.appendingPathComponent(path)
            if !fm.fileExists(atPath: candidate.path) {
                try? fm.removeItem(at: directory.appendingPathComponent(name))
                try? fm.removeItem(at: partsDirectory.appendingPathComponent(name))
            }
        }
    }
}
