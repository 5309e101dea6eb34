import Foundation
import ProgramRecords

/// Stage 4 (run): launches a compiled lesson, follows its records as they arrive and enforces
/// the time limits: a cell's own `timeout=`, else the front matter's `timeout`, else
/// `defaultCellTimeout`; and `lessonTimeout` for the whole program. On a limit the process group
/// is killed.
public struct CellRunner: Sendable {
    public var defaultCellTimeout: Double
    public var lessonTimeout: Double
    /// Added to the runner's own environment (e.g. `WORKBOOK_PACKAGE_ROOT`, so `loadSourceModel()`
    /// finds the package's `models/` wherever the program was built).
    public var environment: [String: String] = [:]

    public init(defaultCellTimeout: Double = 600, lessonTimeout: Double = 3600) {
        self.defaultCellTimeout = defaultCellTimeout
        self.lessonTimeout = lessonTimeout
    }

    /// A record from the program, with the runner's clock when it arrived.
    public struct TimedRecord: Sendable {
        public var record: Record
        public var time: Double
        public init(record: Record, time: Double) {
            self.record = record
            self.time = time
        }
    }

    public struct Timeout: Sendable {
        public var cell: Int?
        public var limit: Double
        public var lessonWide: Bool
    }

    /// Everything the program produced.
    public struct RawRun: Sendable {
        public var stdout: String
        public var stderr: String
        public var records: [TimedRecord]
        public var ending: ProgramHost.Ending
        public var timeout: Timeout?
        public var duration: Double
        /// The program that ran, for symbolizing a trap's frames.
        public var executable: URL? = nil
    }

    public func limit(for cell: Int, in lesson: Lesson) -> Double {
        let cells = lesson.cells
        if cell >= 0 && cell < cells.count, let t = cells[cell].options.timeout { return t }
        return lesson.frontMatter.timeout ?? defaultCellTimeout
    }

    /// Who watches a run as it goes (the notebook page): every record and every piece of stdout
    /// and stderr as it arrives, and a way to stop the program.
    public struct Observer {
        public var onRecord: (TimedRecord) -> Void
        public var onOutput: (ProgramHost.Stream, Data, Double) -> Void
        public var shouldStop: () -> Bool
        public init(onRecord: @escaping (TimedRecord) -> Void = { _ in },
                    onOutput: @escaping (ProgramHost.Stream, Data, Double) -> Void = { _, _, _ in },
                    shouldStop: @escaping () -> Bool = { false }) {
            self.onRecord = onRecord
            self.onOutput = onOutput
            self.shouldStop = shouldStop
        }
    }

    /// Runs the lesson's program as `workbook run` does: the host's environment plus `environment`,
    /// in the current folder, on this machine.
    public func run(executable: URL, lesson: Lesson) throws -> RawRun {
        try run(executable: executable, lesson: lesson, policy: .local, baseEnvironment: ProcessInfo.processInfo.environment)
    }

    /// Runs the lesson's program under `policy` (a sandbox for the notebook), starting from
    /// `baseEnvironment` plus `environment`, in `directory` (nil: the current one), telling `observer`.
    public func run(executable: URL, lesson: Lesson, policy: ProgramHost.Policy, baseEnvironment: [String: String],
                    directory: URL? = nil, observer: Observer? = nil) throws -> RawRun {
        var env = baseEnvironment.merging(environment) { _, new in new }
        env[RecordChannel.outputVariable] = "3"
        // A crash report with symbolication takes seconds and says nothing a reader needs; the
        // engine's own handler prints the frames the runner maps to the statement.
        env["SWIFT_BACKTRACE"] = "enable=no"
        var records: [TimedRecord] = []
        var current: Int? = nil
        var cellStart = 0.0
        var timeout: Timeout?
        let start = Date()
        let outcome = try ProgramHost.run(ProgramHost.Launch(executable: executable.path, directory: directory,
                                                             environment: env, channel: .records),
                                          policy: policy, onRecord: { record, now in
            let timed = TimedRecord(record: record, time: now)
            switch record.body {
            // Progress is for a watching page only; the outputs it would add nothing to are the same without it.
            case .progress: observer?.onRecord(timed); return
            case .cell: current = record.cell; cellStart = now
            case .done: current = nil
            default: break
            }
            records.append(timed)
            observer?.onRecord(timed)
        }, onOutput: { stream, data in
            observer?.onOutput(stream, data, Date().timeIntervalSince(start))
        }, shouldStop: {
            if observer?.shouldStop() == true { return true }
            let now = Date().timeIntervalSince(start)
            if now > lessonTimeout {
                timeout = Timeout(cell: current, limit: lessonTimeout, lessonWide: true)
                return true
            }
            if let cell = current, now - cellStart > limit(for: cell, in: lesson) {
                timeout = Timeout(cell: cell, limit: limit(for: cell, in: lesson), lessonWide: false)
                return true
            }
            return false
        })
        return RawRun(stdout: String(decoding: outcome.stdout, as: UTF8.self),
                      stderr: String(decoding: outcome.stderr, as: UTF8.self),
                      records: records.sorted { $0.record.seq < $1.record.seq }, ending: outcome.ending,
                      timeout: timeout, duration: outcome.seconds, executable: executable)
    }
}
