import Foundation

/// Stage 4 (run): launches a compiled lesson, follows its records as they arrive and enforces
/// the time limits: a cell's own `timeout=`, else the front matter's `timeout`, else
/// `defaultCellTimeout`; and `lessonTimeout` for the whole program. On a limit the process group
/// is killed.
public struct CellRunner: Sendable {
    public var defaultCellTimeout: Double
    public var lessonTimeout: Double

    public init(defaultCellTimeout: Double = 600, lessonTimeout: Double = 3600) {
        self.defaultCellTimeout = defaultCellTimeout
        self.lessonTimeout = lessonTimeout
    }

    /// A record from the program, with the runner's clock when it arrived.
    public struct Record: @unchecked Sendable {
        public var seq: Int
        public var kind: String
        public var cell: Int?
        public var fields: [String: Any]
        public var time: Double
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
        public var records: [Record]
        public var termination: ChildProcess.Termination
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

    public func run(executable: URL, lesson: Lesson) throws -> RawRun {
        var env = ProcessInfo.processInfo.environment
        env["WORKBOOK_OUTPUT_FD"] = "3"
        // A crash report with symbolication takes seconds and says nothing a reader needs.
        env["SWIFT_BACKTRACE"] = "enable=no"
        let start = Date()
        var records: [Record] = []
        var current: Int? = nil
        var cellStart = 0.0
        var timeout: Timeout?
        let process = ChildProcess(executable: executable.path, arguments: [], environment: env, recordChannel: true)
        let result = try process.run(onRecordLine: { line in
            let now = Date().timeIntervalSince(start)
            guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any],
                  let seq = object["seq"] as? Int, let kind = object["kind"] as? String else { return }
            let record = Record(seq: seq, kind: kind, cell: object["cell"] as? Int, fields: object, time: now)
            records.append(record)
            if kind == "cell" { current = record.cell; cellStart = now }
            if kind == "done" { current = nil }
        }, check: {
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
        return RawRun(stdout: String(decoding: result.stdout, as: UTF8.self),
                      stderr: String(decoding: result.stderr, as: UTF8.self),
                      records: records.sorted { $0.seq < $1.seq }, termination: result.termination,
                      timeout: timeout, duration: Date().timeIntervalSince(start), executable: executable)
    }
}
