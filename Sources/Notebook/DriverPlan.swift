import Foundation

/// The jobs `swiftc` runs for one program (frontend, autolink-extract, link), as the driver
/// printed them (`swiftc -###`) for a placeholder program; `ProgramCompiler` runs them directly
/// with each program's own paths. Kept in memory per argument list and `swiftc`, so a changed
/// engine folder, module cache, module name or toolchain plans afresh.
struct DriverPlan: Sendable, Equatable {
    struct Job: Sendable, Equatable {
        /// `frontend`, `autolink` or `link`, for timings.
        var name: String
        var command: [String]
    }

    /// Paths no real program has: the plan is made for them and they are replaced in every job.
    static let placeholderDirectory = "/workbook-driver-plan-placeholder"
    static let placeholderMain = placeholderDirectory + "/main.swift"
    static let placeholderExecutable = placeholderDirectory + "/program"

    /// The jobs as printed, with the placeholders and the driver's temporary folder in them.
    var templates: [Job]
    /// The driver's temporary folder (where it would put the object and the autolink list).
    var temporary: String

    /// The jobs for a program at `main` linked to `executable`, intermediates in `intermediates`.
    func jobs(main: String, executable: String, intermediates: String) -> [Job] {
        templates.map { job in
            Job(name: job.name, command: job.command.map { argument in
                if argument == Self.placeholderMain { return main }
                if argument == Self.placeholderExecutable { return executable }
                return argument.replacingOccurrences(of: temporary + "/", with: intermediates + "/")
            })
        }
    }

    /// `swiftc` as found on PATH, links resolved (what `ChildProcess` would run).
    static let swiftcPath: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("swiftc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.resolvingSymlinksInPath() }
        }
        return nil
    }()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var plans: [[String]: DriverPlan?] = [:]

    /// The plan for `swiftc arguments` (which name `placeholderMain` and `placeholderExecutable`),
    /// or nil when the driver's jobs are not the expected shape (then `swiftc` runs as usual).
    static func plan(arguments: [String]) -> DriverPlan? {
        let key = [swiftcPath?.path ?? ""] + arguments
        lock.lock()
        defer { lock.unlock() }
        if let known = plans[key] { return known }
        let made = make(arguments: arguments)
        plans[key] = made
        return made
    }

    private static func make(arguments: [String]) -> DriverPlan? {
        guard let result = try? ChildProcess(executable: "swiftc", arguments: ["-###"] + arguments).run(),
              result.termination == .exited(0) else { return nil }
        let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        let plan = parse(lines)
        // The driver made its temporary folder even though it ran nothing.
        if let temporary = plan?.temporary ?? lines.first.flatMap({ temporaryFolder(in: words($0) ?? []) }),
           URL(fileURLWithPath: temporary).lastPathComponent.hasPrefix("TemporaryDirectory.") {
            try? FileManager.default.removeItem(atPath: temporary)
        }
        return plan
    }

    /// The folder of the frontend's `-o` output.
    static func temporaryFolder(in frontend: [String]) -> String? {
        guard let o = frontend.lastIndex(of: "-o"), o + 1 < frontend.count else { return nil }
        return (frontend[o + 1] as NSString).deletingLastPathComponent
    }

    /// Reads the printed jobs: one frontend compiling the placeholder, autolink-extract, and a link
    /// writing the placeholder executable, in that order; anything else (a response file, more
    /// inputs, a placeholder left in an argument) is not planned.
    static func parse(_ lines: [String]) -> DriverPlan? {
        var jobs: [Job] = []
        for line in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let command = words(line), let tool = command.first else { return nil }
            let name = tool.hasSuffix("/swift-frontend") ? "frontend"
                : tool.hasSuffix("/swift-autolink-extract") ? "autolink" : "link"
            jobs.append(Job(name: name, command: command))
        }
        guard jobs.map(\.name) == ["frontend", "autolink", "link"],
              jobs[0].command.contains(placeholderMain),
              let temporary = temporaryFolder(in: jobs[0].command), temporary.hasPrefix("/"),
              !temporary.hasPrefix(placeholderDirectory),
              Array(jobs[2].command.suffix(2)) == ["-o", placeholderExecutable]
        else { return nil }
        var produced: Set<String> = []
        for job in jobs {
            for (index, argument) in job.command.enumerated() {
                if argument.hasPrefix("@") && !produced.contains(String(argument.dropFirst())) { return nil }
                if argument.contains(placeholderDirectory) && argument != placeholderMain && argument != placeholderExecutable {
                    return nil
                }
                if argument == "-o", index + 1 < job.command.count { produced.insert(job.command[index + 1]) }
            }
        }
        return DriverPlan(templates: jobs, temporary: temporary)
    }

    /// Splits a command line as the driver prints it (POSIX shell quoting: '…', "…", backslash).
    static func words(_ line: String) -> [String]? {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in line {
            if escaped { current.append(c); escaped = false; continue }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escaped = true } else { current.append(c) }
                continue
            }
            switch c {
            case "'", "\"": quote = c; inWord = true
            case "\\": escaped = true; inWord = true
            case " ", "\t":
                if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(c); inWord = true
            }
        }
        guard quote == nil, !escaped else { return nil }
        if inWord { words.append(current) }
        return words
    }
}
