import Foundation

/// Finds the Markdown line of the statement that trapped, from the stack trace the Swift runtime
/// prints on a fatal error (`Current stack trace:` then `N  module  0xADDR  symbol + OFFSET`
/// lines): the first frame in the program's own executable is the statement, and the program was
/// compiled with line tables under `#sourceLocation`, so the toolchain's `llvm-symbolizer` maps
/// it to `file.md:LINE`.
///
/// The runtime's frame list is read rather than a signal handler's, because it is printed for
/// every fatal error (traps, `fatalError`, errors thrown at top level) in a format stable across
/// Swift 5.9-6.x, and needs nothing installed in the program.
public struct TrapLocation: Sendable, Equatable {
    public var file: String
    public var line: Int

    /// One frame of the runtime's printed stack trace.
    struct Frame: Equatable {
        var module: String
        var offset: Int
    }

    static let framePattern = try! NSRegularExpression(
        pattern: #"^\d+\s+(\S+)\s+0x[0-9a-fA-F]+\s+.*\+\s+(\d+)\s*$"#)

    /// Whether `line` belongs to the runtime's stack trace (its header or a frame).
    public static func isBacktraceLine<S: StringProtocol>(_ line: S) -> Bool {
        let text = String(line)
        if text.hasPrefix("Current stack trace:") || text.hasPrefix(thrownHeader) { return true }
        return framePattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// The engine's trap handler prints the latest `throw`'s stack under this header
    /// (Sources/CEngineSupport/trap_report.c).
    static let thrownHeader = "Error thrown at:"

    /// The frames of the crash (`thrown` false) or of the latest `throw` (`thrown` true).
    static func frames(in stderr: String, thrown: Bool = false) -> [Frame] {
        var inThrown = false
        return stderr.split(separator: "\n").compactMap { raw in
            if raw.hasPrefix("Current stack trace:") { inThrown = false }
            if raw.hasPrefix(thrownHeader) { inThrown = true }
            guard inThrown == thrown else { return nil }
            let line = String(raw)
            guard let m = framePattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                  let module = Range(m.range(at: 1), in: line), let offset = Range(m.range(at: 2), in: line),
                  let value = Int(line[offset]) else { return nil }
            return Frame(module: String(line[module]), offset: value)
        }
    }

    /// The source locations of the frames in `executable`, innermost first (the statement that
    /// trapped is the first of them in the cell). An error thrown at top level lands in the
    /// program's shared error block, which has no line, so for `thrown` the stack of the latest
    /// `throw` is read instead. Empty when there is no such frame or no symbolizer.
    public static func locate(stderr: String, executable: URL, thrown: Bool = false) -> [TrapLocation] {
        let name = executable.lastPathComponent
        // Return addresses: the call each returns from starts before it.
        let offsets = frames(in: stderr, thrown: thrown).filter { $0.module == name && $0.offset > 0 }
            .prefix(8).map { String(format: "0x%x", $0.offset - 1) }
        guard !offsets.isEmpty, let symbolizer = symbolizerPath() else { return [] }
        let process = ChildProcess(executable: symbolizer, arguments: ["--obj=\(executable.path)"] + offsets)
        guard let result = try? process.run(), result.termination == .exited(0) else { return [] }
        return parse(symbolized: String(decoding: result.stdout, as: UTF8.self))
    }

    /// What the Swift runtime prints before the description of an error thrown at top level.
    public static let thrownMessagePrefix = "Fatal error: Error raised at top level: "

    /// The line in `file` (within `lines`) of the statement that trapped, read from a program's
    /// stderr: the first frame of `executable` that lands there. For an error thrown at top level
    /// (the runtime's message says so) the latest `throw`'s stack is read.
    public static func statementLine(stderr: String, executable: URL, file: String, within lines: ClosedRange<Int>) -> Int? {
        let thrown = stderr.contains(thrownMessagePrefix)
        return locate(stderr: stderr, executable: executable, thrown: thrown).lazy
            .compactMap { $0.line(in: file, within: lines) }.first
    }

    /// Reads `function\nfile:line:column` (the innermost inlined frame first).
    static func parse(symbolized: String) -> [TrapLocation] {
        symbolized.split(separator: "\n").compactMap { raw in
            let parts = raw.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3, let line = Int(parts[parts.count - 2]), line > 0 else { return nil }
            let file = parts.dropLast(2).joined(separator: ":")
            return file.contains("<compiler-generated>") ? nil : TrapLocation(file: file, line: line)
        }
    }

    /// The toolchain's `llvm-symbolizer`: beside the `swiftc` on PATH, else on PATH itself.
    static func symbolizerPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let fm = FileManager.default
        for dir in path.split(separator: ":") {
            let swiftc = URL(fileURLWithPath: String(dir)).appendingPathComponent("swiftc")
            guard fm.isExecutableFile(atPath: swiftc.path) else { continue }
            let beside = swiftc.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("llvm-symbolizer")
            if fm.isExecutableFile(atPath: beside.path) { return beside.path }
        }
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("llvm-symbolizer").path
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The line when the symbolized file is `path` (DWARF keeps the compile folder in front of
    /// the `#sourceLocation` name) and the line lies in `lines`.
    public func line(in path: String, within lines: ClosedRange<Int>) -> Int? {
        guard file == path || file.hasSuffix("/" + path) || path.hasSuffix("/" + file) else { return nil }
        return lines.contains(line) ? line : nil
    }
}
