import Foundation
import ProgramRecords

/// Stage 5 (collect): turns a raw run into per-cell results.
///
/// Before each record the program writes `StreamMarker.line(seq)` to stdout and stderr, so the
/// text of each stream after marker `s` and before the next one was written after record `s`;
/// record `s` names its cell. A cell's outputs are thus, in order: each of its records followed by
/// the stdout and stderr written after it.
public struct OutputCollector: Sendable {
    /// Keep the runtime's raw stack trace in the cell's stderr (`workbook run --backtrace`).
    public var keepsBacktrace: Bool
    /// The module the program was compiled as (`#fileID`s in trap messages start with it).
    public var moduleName: String

    public init(keepsBacktrace: Bool = false, moduleName: String = ProgramGenerator.moduleName) {
        self.keepsBacktrace = keepsBacktrace
        self.moduleName = moduleName
    }

    static let markerPrefix = StreamMarker.prefix

    /// Splits a stream into the text after each marker (key 0: before the first).
    static func segments(_ stream: String) -> [Int: String] {
        var result: [Int: String] = [:]
        var seq = 0
        var rest = Substring(stream)
        while let range = rest.range(of: markerPrefix) {
            result[seq, default: ""] += rest[..<range.lowerBound]
            let afterPrefix = rest[range.upperBound...]
            let digits = afterPrefix.prefix { $0.isNumber }
            seq = Int(digits) ?? seq
            rest = afterPrefix.dropFirst(digits.count)
            if rest.first == "\n" { rest = rest.dropFirst() }
        }
        result[seq, default: ""] += rest
        return result
    }

    public func collect(_ run: CellRunner.RawRun, lesson: Lesson, programCells: [Int]) -> (cells: [CellResult], messages: [String]) {
        let cells = lesson.cells
        var results = cells.map { cell in
            CellResult(index: cell.index, id: cell.id, line: cell.line,
                       status: cell.options.noRun ? .skipped : .notRun, duration: nil, outputs: [], error: nil)
        }
        var messages: [String] = []
        let out = Self.segments(run.stdout), err = Self.segments(run.stderr)
        var started: [Int] = []
        var startTimes: [Int: Double] = [:]
        var endOfCell: [Int: Double] = [:]
        var lastStarted: Int?
        var expected: [Int: Bool] = [:]
        var finished = false

        func append(_ output: CellOutput, to cell: Int?) {
            guard let cell, cell >= 0, cell < results.count else {
                if let text = output.text, !text.isEmpty { messages.append(text) }
                return
            }
            if let last = results[cell].outputs.last, last.kind == output.kind,
               output.kind == .stdout || output.kind == .stderr {
                results[cell].outputs[results[cell].outputs.count - 1].text! += output.text ?? ""
            } else {
                results[cell].outputs.append(output)
            }
        }

        var owner: Int? = nil
        let seqs = Set(out.keys).union(err.keys).union(run.records.map(\.record.seq)).sorted()
        let bySeq = Dictionary(run.records.map { ($0.record.seq, $0) }, uniquingKeysWith: { a, _ in a })
        for seq in seqs {
            if let timed = bySeq[seq] {
                let record = timed.record
                owner = record.cell
                switch record.body {
                case .cell:
                    if let c = record.cell {
                        if let previous = lastStarted { endOfCell[previous] = timed.time }
                        started.append(c); startTimes[c] = timed.time; lastStarted = c
                    }
                case .done:
                    if let previous = lastStarted { endOfCell[previous] = timed.time }
                    finished = true
                case .expectedError(let failed, _):
                    if let c = record.cell { expected[c] = failed }
                case .text, .table, .image, .svg, .html:
                    if let output = Self.output(for: record.body) { append(output, to: owner) }
                case .begin, .progress:
                    break
                }
            }
            if let text = out[seq], !text.isEmpty { append(CellOutput(kind: .stdout, text: text), to: owner) }
            if let text = err[seq], !text.isEmpty { append(CellOutput(kind: .stderr, text: text), to: owner) }
        }

        for c in started {
            results[c].status = .ok
            if let t0 = startTimes[c] { results[c].duration = (endOfCell[c] ?? run.duration) - t0 }
        }
        for (c, failed) in expected {
            let message = errorMessage(in: &results[c], lesson: lesson, executable: run.executable)
            if failed {
                results[c].status = .expectedError
                results[c].error = message ?? "the cell failed, as expected"
            } else {
                results[c].status = .error
                results[c].error = "\(lesson.path):\(cells[c].line): this cell is marked expect-error but ran without an error"
            }
        }
        if !finished {
            if let timeout = run.timeout {
                let what = timeout.lessonWide ? "the lesson's time limit" : "its time limit"
                if let c = timeout.cell {
                    results[c].status = .timeout
                    results[c].error = "\(lesson.path):\(cells[c].line): cell \(c + 1) exceeded \(what) of \(formatSeconds(timeout.limit)) and was stopped"
                } else {
                    messages.append("\(lesson.path): the program exceeded \(what) of \(formatSeconds(timeout.limit)) and was stopped")
                }
            } else if let c = lastStarted {
                results[c].status = .error
                let reason: String
                switch run.ending {
                case .signalled(let s): reason = "the program crashed (signal \(s))"
                case .exited(let code): reason = "the program exited with status \(code)"
                case .timedOut, .stopped: reason = "the program was stopped"
                }
                let message = errorMessage(in: &results[c], lesson: lesson, executable: run.executable)
                results[c].error = message ?? "\(lesson.path):\(cells[c].line): \(reason) in cell \(c + 1)"
            } else {
                messages.append("\(lesson.path): the program ended before its first cell (\(run.ending))")
            }
        }
        return (results, messages)
    }

    /// The cell output a display record stands for (nil for the records that only mark time).
    public static func output(for body: Record.Body) -> CellOutput? {
        switch body {
        case .text(let text):
            return CellOutput(kind: .text, text: text)
        case .table(let headers, let rows, let align):
            var o = CellOutput(kind: .table)
            o.headers = headers
            o.rows = rows
            o.align = align
            return o
        case .image(let png, let caption):
            var o = CellOutput(kind: .image)
            o.png = png
            o.caption = caption
            return o
        case .svg(let svg):
            var o = CellOutput(kind: .svg); o.svg = svg; return o
        case .html(let html):
            var o = CellOutput(kind: .html); o.html = html; return o
        case .begin, .cell, .done, .expectedError, .progress:
            return nil
        }
    }

    /// Finds the trap message in a cell's stderr (the engine's `error: file:line: ...` line, else
    /// Swift's `Fatal error:` line), removes the crash lines and the runtime's stack trace from the
    /// stderr output and maps `#fileID` paths (`WorkbookLesson/NAME.md`) back to the lesson's path.
    /// The message is one line, `file.md:LINE: in cell N: ...`, at the trapping statement's line
    /// when the stack trace leads there (else the cell's first code line).
    func errorMessage(in result: inout CellResult, lesson: Lesson, executable: URL?) -> String? {
        var message: String?
        var stderrText = ""
        for i in result.outputs.indices where result.outputs[i].kind == .stderr {
            stderrText += result.outputs[i].text!
            var kept: [Substring] = []
            for line in result.outputs[i].text!.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("error: ") {
                    if message == nil || !(message!.hasPrefix("error")) { message = String(line.dropFirst(7)) }
                } else if line.contains("Fatal error") || line.hasPrefix("💣") {
                    if message == nil { message = String(line) }
                } else if !TrapLocation.isBacktraceLine(line) || keepsBacktrace {
                    kept.append(line)
                }
            }
            result.outputs[i].text = kept.joined(separator: "\n")
        }
        result.outputs.removeAll { $0.kind == .stderr && ($0.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        guard var found = message.map({ relocate($0, lesson: lesson) }) else { return nil }
        // `Torch/Broadcasting.swift:161: ` says where the engine noticed, not where the reader erred.
        if !found.hasPrefix(lesson.path), let r = found.range(of: #"^[\w./-]+\.swift:\d+: "#, options: .regularExpression) {
            found.removeSubrange(r)
        }
        // An error thrown at top level: the reader wants the error's own words.
        if found.hasPrefix(TrapLocation.thrownMessagePrefix) { found.removeFirst(TrapLocation.thrownMessagePrefix.count) }
        // Engine errors carry their caller's `#fileID`/`#line`: already the statement.
        if found.contains(lesson.path) { return found }
        let cells = lesson.cells
        var line = result.line + 1
        if result.index >= 0, result.index < cells.count, let executable,
           let statement = TrapLocation.statementLine(stderr: stderrText, executable: executable, file: lesson.path,
                                                      within: cells[result.index].codeLine...cells[result.index].endLine) {
            line = statement
        }
        return "\(lesson.path):\(line): in cell \(result.index + 1): \(found)"
    }

    /// `WorkbookLesson/NAME.md:LINE` (what `#fileID` gives under `#sourceLocation`) -> the lesson's path.
    func relocate(_ text: String, lesson: Lesson) -> String {
        let file = lesson.path.split(separator: "/").last.map(String.init) ?? lesson.path
        return text.replacingOccurrences(of: "\(moduleName)/\(file)", with: lesson.path)
    }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
}
