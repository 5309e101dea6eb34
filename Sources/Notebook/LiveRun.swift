import Foundation
import ProgramRecords

/// A progress bar's state (`ProgressBar` in a cell), as the notebook page draws it.
public struct LiveProgress: Sendable, Equatable, Codable {
    /// `epoch 2/5`.
    public var label: String
    public var done: Int
    public var total: Int
    /// The bar as one line of text (`epoch 2/5 [=====>   ] 120/391 loss 0.4312 85.2 it/s ETA 0:14`).
    public var text: String

    public init(label: String, done: Int, total: Int, text: String) {
        self.label = label
        self.done = done
        self.total = total
        self.text = text
    }
}

/// A compile error or a trap, placed at its cell and Markdown line.
public struct CellProblem: Sendable, Equatable, Codable {
    /// The cell's index (as `CellResult.index`), nil when the problem is outside every cell.
    public var cell: Int?
    /// The line in the Markdown file (0 when unknown).
    public var line: Int
    public var message: String

    public init(cell: Int?, line: Int, message: String) {
        self.cell = cell
        self.line = line
        self.message = message
    }
}

/// One visible check's verdict in a live exercise run.
public struct LiveCheck: Sendable, Equatable, Codable {
    public var name: String
    public var passed: Bool
    public var points: Double
    public var max: Double
    /// Why it failed (empty when it passed).
    public var message: String

    public init(name: String, passed: Bool, points: Double, max: Double, message: String) {
        self.name = name
        self.passed = passed
        self.points = points
        self.max = max
        self.message = message
    }
}

/// What a live run reports, in order: `compiling`; then either `compileFailed` or the cells'
/// `cellStarted`, `output`s, `progress` and `cellFinished`; for an exercise the `check`s; and last
/// `finished`. Every cell of the file gets one `cellFinished` (cells that did not run come at the
/// end with status `not-run` or `skipped`).
public enum LiveEvent: Sendable {
    case compiling
    case compileFailed([CellProblem])
    case cellStarted(cell: Int)
    /// One output as it arrives; stdout and stderr arrive as `.stdout`/`.stderr` text chunks. The
    /// cell's `cellFinished` result holds the final outputs (chunks merged, a trap's stack trace
    /// removed from stderr), which replace these.
    case output(cell: Int, CellOutput)
    case progress(cell: Int, LiveProgress)
    /// Final status, outputs and error of one cell (the error names the Markdown line), the same
    /// `CellResult` the batch run produces.
    case cellFinished(CellResult)
    case check(LiveCheck)
    case finished(succeeded: Bool, stopped: Bool, seconds: Double)
}

/// Shared between the caller and a run: `stop()` kills the running program (process group) at once.
public final class LiveRunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    public init() {}

    /// Stops the run: a compile is abandoned, a running program is killed within ~0.1 s (the
    /// host polls every 100 ms), and nothing of the run is cached.
    public func stop() {
        lock.lock(); stopped = true; lock.unlock()
    }

    public var isStopped: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopped
    }
}

/// One live run per file at a time, in this process: a second Run of the same file (the page
/// stops the first) waits until the first has returned, since both build in the same folder.
/// After `stop()` that wait is short (the program is killed within ~0.1 s).
public enum LiveRunQueue {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var locks: [String: NSLock] = [:]

    public static func serialized<T>(_ key: String, _ body: () throws -> T) rethrows -> T {
        lock.lock()
        let entry = locks[key] ?? NSLock()
        locks[key] = entry
        lock.unlock()
        entry.lock()
        defer { entry.unlock() }
        return try body()
    }
}

/// Runs a lesson for the notebook page: the same stages as `workbook run` (`LessonPipeline`), with
/// the outputs forwarded as they arrive, a stop button, limits, and the sandbox where it isolates.
public struct LiveRunner: Sendable {
    public var engine: EngineBuild
    public var options: LessonPipeline.Options
    /// Limits of a live lesson program. The wall clock is the lesson's own (`options.lessonTimeout`
    /// and the cells' timeouts, enforced by `CellRunner`); these add memory, file and output bounds.
    public var limits: SandboxLimits
    /// Run in the sandbox when it can isolate (false: always as `workbook run` does, with limits).
    public var isolates: Bool = true
    /// Where results are stored and programs built: `LessonPipeline`'s (`.workbook/cache`, `.workbook/build`).
    public var cache: ExecutionCache
    public var workDirectory: URL

    public init(engine: EngineBuild) {
        self.engine = engine
        self.options = LessonPipeline.Options()
        self.limits = Self.lessonLimits
        let pipeline = LessonPipeline(engine: engine)
        self.cache = pipeline.cache
        self.workDirectory = pipeline.workDirectory
    }

    /// Roomier than a student's submission: lessons train small networks and save images.
    public static var lessonLimits: SandboxLimits {
        var limits = SandboxLimits()
        limits.memoryBytes = 8 << 30
        limits.cpuSeconds = 4 * 3600
        limits.wallSeconds = 3600
        limits.outputBytes = 16 << 20
        limits.fileBytes = 1 << 30
        limits.recordLineBytes = RecordChannel.maximumLineBytes
        limits.recordsKept = 1_000_000
        limits.scratchBytes = 1 << 30
        limits.temporaryBytes = 256 << 20
        return limits
    }

    /// The path a lesson is known by in the cache and the site: relative to the package root
    /// (`lessons/intro.md`) when inside it, else absolute.
    public func lessonPath(for file: URL) -> String {
        let absolute = file.standardizedFileURL.resolvingSymlinksInPath().path
        let root = engine.packageRoot.standardizedFileURL.resolvingSymlinksInPath().path
        return absolute.hasPrefix(root + "/") ? String(absolute.dropFirst(root.count + 1)) : absolute
    }

    /// Runs a lesson file through the program layer, calling onEvent (from any thread, in order) as
    /// outputs arrive; a successful run is stored in the execution cache so `workbook build` reuses it.
    /// Runs in the bubblewrap sandbox (Sandbox.swift) when available, with a time and memory limit.
    public func runLesson(at file: URL, control: LiveRunControl,
                          onEvent: @escaping @Sendable (LiveEvent) -> Void) throws -> LessonResult {
        try LiveRunQueue.serialized(file.standardizedFileURL.path) {
            try runLessonNow(at: file, control: control, onEvent: onEvent)
        }
    }

    func runLessonNow(at file: URL, control: LiveRunControl,
                      onEvent: @escaping @Sendable (LiveEvent) -> Void) throws -> LessonResult {
        let start = Date()
        let path = lessonPath(for: file)
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw NotebookError(file: path, line: nil, "cannot read the file (\(error.localizedDescription))")
        }
        let lesson = try LessonParser(configuration: options.parser).parse(text: text, path: path)
        var pipeline = LessonPipeline(engine: engine, options: options)
        pipeline.cache = cache
        pipeline.workDirectory = workDirectory
        // The page's Run always runs (no cache lookup), and stores what `workbook build` will reuse.
        let (key, inputs, toolchain) = try pipeline.prepare(lesson)
        onEvent(.compiling)
        let stream = LiveStream(lesson: lesson, collector: OutputCollector(keepsBacktrace: options.keepsBacktrace), onEvent: onEvent)
        // The runner's own limits (cells' and the lesson's timeouts) come first, with their messages.
        var limits = self.limits
        limits.wallSeconds = max(limits.wallSeconds, options.lessonTimeout + 30)
        let sandbox = Sandbox(limits: limits, isolates: isolates && Sandbox.isolationAvailable,
                              libraries: [engine.library],
                              inputs: inputs.keys.sorted().map { Sandbox.Input(host: engine.packageRoot.appendingPathComponent($0), relativePath: $0) })
        let run = try pipeline.execute(lesson, key: key, inputs: inputs, toolchain: toolchain, onCompiled: { compiled in
            if compiled.executable == nil, !control.isStopped { onEvent(.compileFailed(Self.problems(compiled, lesson: lesson))) }
        }, shouldStop: { control.isStopped }, runProgram: { executable, runner in
            var runner = runner
            var base = ProcessInfo.processInfo.environment
            var directory = engine.packageRoot
            if sandbox.isolated {
                // Inside, the package is the working folder: its declared inputs (models/) are
                // bound there read-only, and nothing of the checkout is visible.
                base = [:]
                runner.environment["WORKBOOK_PACKAGE_ROOT"] = Sandbox.scratchInside
                directory = URL(fileURLWithPath: Sandbox.scratchInside)
            }
            runner.environment[LiveStream.progressVariable] = "1"
            return try runner.run(executable: executable, lesson: lesson, policy: .sandboxed(sandbox), baseEnvironment: base,
                                  directory: directory, observer: stream.observer(executable: executable, stop: control))
        })
        stream.finish(with: run.result.cells)
        let stopped = control.isStopped
        onEvent(.finished(succeeded: run.result.succeeded && !stopped, stopped: stopped, seconds: Date().timeIntervalSince(start)))
        return run.result
    }

    /// Compile errors at their cells and Markdown lines (errors in the generated glue: no cell).
    static func problems(_ compiled: ProgramCompiler.Output, lesson: Lesson) -> [CellProblem] {
        let errors = compiled.errors
        guard !errors.isEmpty else {
            return [CellProblem(cell: nil, line: 0, message: compiled.timedOut ? "the compiler took too long and was stopped"
                                                                              : "compilation failed:\n\(compiled.log.suffix(2000))")]
        }
        return errors.map { d in
            CellProblem(cell: d.cell, line: d.file == lesson.path ? d.line : 0, message: d.description)
        }
    }
}


/// Turns a running program's records and raw streams into `LiveEvent`s as they arrive: cell
/// starts, outputs, progress, and each cell's final result as soon as its output is complete.
///
/// Records arrive on fd 3 and text on stdout and stderr, each in its own order. Before every
/// record the program writes that record's stream marker to both streams, so text after marker
/// `s` belongs to record `s`'s cell (as `OutputCollector` reads it), and a cell is complete once
/// the record that ends it has arrived and both streams have passed its marker.
public final class LiveStream: @unchecked Sendable {
    /// Set to 1 in a program's environment to get progress records (`NotebookSession.progressVariable`;
    /// the runtime is not linked here).
    public static let progressVariable = "WORKBOOK_LIVE_PROGRESS"

    let lesson: Lesson
    let onEvent: @Sendable (LiveEvent) -> Void
    /// Program cell numbers -> the file's cell indices (a submission numbers its pieces).
    let cellMap: [Int]?
    var collector: OutputCollector

    private let lock = NSLock()
    private var stdout = Data(), stderr = Data()
    private var records: [CellRunner.TimedRecord] = []
    private var cellOfSeq: [Int: Int?] = [:]
    private var parsers: [ProgramHost.Stream: MarkerParser] = [.stdout: MarkerParser(), .stderr: MarkerParser()]
    private var waiting: [(stream: ProgramHost.Stream, seq: Int, text: String)] = []
    /// Cells whose end record (`seq`) has arrived, waiting for both streams to pass its marker.
    private var ending: [(seq: Int, cell: Int)] = []
    private var running: Int?
    private var finished = Set<Int>()
    private var executable: URL?
    private var lastTime = 0.0

    /// `cellMap[i]`: the file's cell index of the program's cell `i` (nil: the same numbers).
    public init(lesson: Lesson, cellMap: [Int]? = nil, collector: OutputCollector = OutputCollector(),
                onEvent: @escaping @Sendable (LiveEvent) -> Void) {
        self.lesson = lesson
        self.cellMap = cellMap
        self.collector = collector
        self.onEvent = onEvent
    }

    func fileCell(_ programCell: Int?) -> Int? {
        guard let c = programCell else { return nil }
        guard let cellMap else { return c }
        return c >= 0 && c < cellMap.count ? cellMap[c] : nil
    }

    /// The `CellRunner` observer feeding this stream, stopping when `stop` says so.
    public func observer(executable: URL?, stop: LiveRunControl) -> CellRunner.Observer {
        self.executable = executable
        return CellRunner.Observer(onRecord: { [self] in record($0) }, onOutput: { [self] in output($0, $1, $2) },
                                   shouldStop: { stop.isStopped })
    }

    /// A record from the program (its `cell` in program numbering).
    public func record(_ timed: CellRunner.TimedRecord) {
        lock.lock(); defer { lock.unlock() }
        var timed = timed
        timed.record.cell = fileCell(timed.record.cell)
        let record = timed.record
        lastTime = max(lastTime, timed.time)
        if case .progress(let label, let done, let total, let text) = record.body {
            if let c = record.cell { onEvent(.progress(cell: c, LiveProgress(label: label, done: done, total: total, text: text))) }
            return
        }
        records.append(timed)
        cellOfSeq.updateValue(record.cell, forKey: record.seq)
        switch record.body {
        case .cell:
            if let previous = running { ending.append((record.seq, previous)) }
            running = record.cell
            if let c = record.cell { onEvent(.cellStarted(cell: c)) }
        case .done:
            if let previous = running { ending.append((record.seq, previous)) }
            running = nil
        default:
            if let c = record.cell, let output = OutputCollector.output(for: record.body) { onEvent(.output(cell: c, output)) }
        }
        releaseWaiting()
        finishCompleteCells()
    }

    /// A piece of stdout or stderr, markers included.
    public func output(_ stream: ProgramHost.Stream, _ data: Data, _ time: Double) {
        lock.lock(); defer { lock.unlock() }
        lastTime = max(lastTime, time)
        if stream == .stdout { stdout.append(data) } else { stderr.append(data) }
        for piece in parsers[stream]!.feed(data) { deliver(stream, seq: piece.seq, text: piece.text) }
        finishCompleteCells()
    }

    private func deliver(_ stream: ProgramHost.Stream, seq: Int, text: String) {
        guard !text.isEmpty else { return }
        if seq == 0 { return }  // before the first record: the collector makes it a message
        guard let known = cellOfSeq[seq] else {
            waiting.append((stream, seq, text))
            return
        }
        guard let cell = known else { return }
        onEvent(.output(cell: cell, CellOutput(kind: stream == .stdout ? .stdout : .stderr, text: text)))
    }

    private func releaseWaiting() {
        guard !waiting.isEmpty else { return }
        let ready = waiting.filter { cellOfSeq[$0.seq] != nil }
        waiting.removeAll { cellOfSeq[$0.seq] != nil }
        for piece in ready { deliver(piece.stream, seq: piece.seq, text: piece.text) }
    }

    /// Sends `cellFinished` for cells whose output is all in, with the batch collector's result.
    private func finishCompleteCells() {
        let passed = min(parsers[.stdout]!.seq, parsers[.stderr]!.seq)
        let ready = ending.filter { $0.seq <= passed }
        guard !ready.isEmpty else { return }
        ending.removeAll { $0.seq <= passed }
        let results = collect(ending: .exited(0))
        for (_, cell) in ready where cell >= 0 && cell < results.count && finished.insert(cell).inserted {
            onEvent(.cellFinished(results[cell]))
        }
    }

    private func collect(ending: ProgramHost.Ending) -> [CellResult] {
        let raw = CellRunner.RawRun(stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self),
                                    records: records, ending: ending, timeout: nil, duration: lastTime, executable: executable)
        return collector.collect(raw, lesson: lesson, programCells: []).cells
    }

    /// The batch collector's results over everything the program sent, once it ended.
    public func results(ending: ProgramHost.Ending, duration: Double) -> [CellResult] {
        lock.lock(); defer { lock.unlock() }
        lastTime = max(lastTime, duration)
        return collect(ending: ending)
    }

    /// The run is over: text still held back goes out, then `cellFinished` for every cell not yet
    /// reported, from the run's final results (`results`, by cell index).
    public func finish(with results: [CellResult]) {
        lock.lock(); defer { lock.unlock() }
        for stream in [ProgramHost.Stream.stdout, .stderr] {
            for piece in parsers[stream]!.flush() { deliver(stream, seq: piece.seq, text: piece.text) }
        }
        // Text after a marker whose record never came: the cell of the latest record before it.
        for piece in waiting {
            let owner = records.last { $0.record.seq < piece.seq }?.record.cell
            if let cell = owner {
                onEvent(.output(cell: cell, CellOutput(kind: piece.stream == .stdout ? .stdout : .stderr, text: piece.text)))
            }
        }
        waiting.removeAll()
        for result in results where finished.insert(result.index).inserted {
            onEvent(.cellFinished(result))
        }
    }
}

/// Cuts one stream into text pieces and stream markers as bytes arrive: a marker or a UTF-8
/// character split between two reads is held until its end arrives.
struct MarkerParser {
    /// The latest marker's record number (0 before the first).
    private(set) var seq = 0
    private var held: [UInt8] = []
    static let prefix = Array(StreamMarker.prefix.utf8)

    mutating func feed(_ data: Data) -> [(seq: Int, text: String)] {
        held += data
        var pieces: [(seq: Int, text: String)] = []
        var text: [UInt8] = []
        var i = 0
        scan: while i < held.count {
            guard held[i] == Self.prefix[0] else { text.append(held[i]); i += 1; continue }
            // A marker is the prefix, digits and a newline; anything else is text.
            var j = i
            for byte in Self.prefix {
                if j == held.count { break scan }
                if held[j] != byte { text.append(held[i]); i += 1; continue scan }
                j += 1
            }
            let digitsStart = j
            while j < held.count, held[j] >= 48, held[j] <= 57 { j += 1 }
            if j == held.count { break scan }
            let number = Int(String(decoding: held[digitsStart..<j], as: UTF8.self))
            if held[j] == 10 { j += 1 }
            if !text.isEmpty { pieces.append((seq, String(decoding: text, as: UTF8.self))); text = [] }
            if let number { seq = number }
            i = j
        }
        // Hold back an unfinished UTF-8 character at the end of the text.
        var keep = held[i...]
        if i == held.count {
            let cut = Self.completeUTF8Prefix(text)
            keep = ArraySlice(text[cut...])
            text.removeSubrange(cut...)
        }
        if !text.isEmpty { pieces.append((seq, String(decoding: text, as: UTF8.self))) }
        held = Array(keep)
        return pieces
    }

    /// Whatever is held, as text (the stream ended).
    mutating func flush() -> [(seq: Int, text: String)] {
        defer { held = [] }
        return held.isEmpty ? [] : [(seq, String(decoding: held, as: UTF8.self))]
    }

    /// The length of `bytes` without a trailing incomplete UTF-8 sequence.
    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        var k = bytes.count - 1
        var continuation = 0
        while k >= 0, continuation < 3, bytes[k] & 0xC0 == 0x80 { k -= 1; continuation += 1 }
        guard k >= 0 else { return bytes.count }
        let lead = bytes[k]
        let needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return needed > continuation + 1 ? k : bytes.count
    }
}
