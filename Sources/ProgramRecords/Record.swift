import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The protocol between a running lesson or exercise program and its host (the runner, the grader,
/// the notebook server), in one place: the program writes records with `RecordChannel`, the host
/// reads them with the same types, so a new output kind is a compile error wherever it is not
/// handled.
///
/// Wire format: one JSON object per line on the file descriptor named by `WORKBOOK_OUTPUT_FD`,
/// `{"seq":N,"kind":K,"cell":I,...}` with the kind's fields beside `seq`, `kind` and `cell`. Before
/// each record the program flushes stdout and writes `StreamMarker.line(seq)` to stdout and stderr,
/// so the host can cut both streams into the pieces written after each record.
public struct Record: Codable, Equatable, Sendable {
    /// 1, 2, 3, ... in the order written.
    public var seq: Int
    /// The cell running when the record was written (nil before the first and after the last).
    public var cell: Int?
    public var body: Body

    public enum Body: Equatable, Sendable {
        /// The program started (its pid, for the host's bookkeeping).
        case begin(pid: Int)
        /// A cell starts; `line` is its fence line.
        case cell(line: Int)
        /// `show(value)`.
        case text(String)
        case table(headers: [String], rows: [[String]], align: [String])
        /// A PNG, base64-encoded.
        case image(png: String, caption: String?)
        case svg(String)
        case html(String)
        /// How the forked child of an `expect-error` cell ended.
        case expectedError(failed: Bool, status: String)
        /// The last cell finished.
        case done
        /// A progress bar moved (`ProgressBar` in a cell, when the host asked for live progress):
        /// `done` of `total` steps, and the bar's one-line text. Hosts that do not know the kind skip
        /// the line; it carries no stream marker, so the cell's text is cut exactly as without it.
        case progress(label: String, done: Int, total: Int, text: String)
    }

    public init(seq: Int, cell: Int?, body: Body) {
        self.seq = seq
        self.cell = cell
        self.body = body
    }

    /// The `kind` string of the wire format.
    public var kind: String {
        switch body {
        case .begin: return "begin"
        case .cell: return "cell"
        case .text: return "text"
        case .table: return "table"
        case .image: return "image"
        case .svg: return "svg"
        case .html: return "html"
        case .expectedError: return "expected-error"
        case .done: return "done"
        case .progress: return "progress"
        }
    }

    enum Key: String, CodingKey {
        case seq, kind, cell, pid, line, text, headers, rows, align, png, caption, svg, html, failed, status, label, done, total
    }

    public struct UnknownKind: Error, CustomStringConvertible {
        public var kind: String
        public var description: String { "unknown record kind '\(kind)'" }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        seq = try c.decode(Int.self, forKey: .seq)
        cell = try c.decodeIfPresent(Int.self, forKey: .cell)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "begin": body = .begin(pid: try c.decodeIfPresent(Int.self, forKey: .pid) ?? 0)
        case "cell": body = .cell(line: try c.decodeIfPresent(Int.self, forKey: .line) ?? 0)
        case "text": body = .text(try c.decode(String.self, forKey: .text))
        case "table":
            body = .table(headers: try c.decode([String].self, forKey: .headers),
                          rows: try c.decode([[String]].self, forKey: .rows),
                          align: try c.decodeIfPresent([String].self, forKey: .align) ?? [])
        case "image": body = .image(png: try c.decode(String.self, forKey: .png),
                                    caption: try c.decodeIfPresent(String.self, forKey: .caption))
        case "svg": body = .svg(try c.decode(String.self, forKey: .svg))
        case "html": body = .html(try c.decode(String.self, forKey: .html))
        case "expected-error": body = .expectedError(failed: try c.decode(Bool.self, forKey: .failed),
                                                     status: try c.decodeIfPresent(String.self, forKey: .status) ?? "")
        case "done": body = .done
        case "progress": body = .progress(label: try c.decodeIfPresent(String.self, forKey: .label) ?? "",
                                          done: try c.decode(Int.self, forKey: .done),
                                          total: try c.decode(Int.self, forKey: .total),
                                          text: try c.decodeIfPresent(String.self, forKey: .text) ?? "")
        default: throw UnknownKind(kind: kind)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(seq, forKey: .seq)
        try c.encode(kind, forKey: .kind)
        try c.encodeIfPresent(cell, forKey: .cell)
        switch body {
        case .begin(let pid): try c.encode(pid, forKey: .pid)
        case .cell(let line): try c.encode(line, forKey: .line)
        case .text(let text): try c.encode(text, forKey: .text)
        case .table(let headers, let rows, let align):
            try c.encode(headers, forKey: .headers)
            try c.encode(rows, forKey: .rows)
            try c.encode(align, forKey: .align)
        case .image(let png, let caption):
            try c.encode(png, forKey: .png)
            try c.encodeIfPresent(caption, forKey: .caption)
        case .svg(let svg): try c.encode(svg, forKey: .svg)
        case .html(let html): try c.encode(html, forKey: .html)
        case .expectedError(let failed, let status):
            try c.encode(failed, forKey: .failed)
            try c.encode(status, forKey: .status)
        case .done: break
        case .progress(let label, let done, let total, let text):
            try c.encode(label, forKey: .label)
            try c.encode(done, forKey: .done)
            try c.encode(total, forKey: .total)
            try c.encode(text, forKey: .text)
        }
    }
}

/// What a checker program reports on the file descriptor named by `WORKBOOK_VERDICT_FD`: `start`
/// before check `i`, then its `result`, and `done` after the last. A check that crashes its
/// checker leaves a `start` without a `result`.
public enum Verdict: Codable, Equatable, Sendable {
    case start(check: Int)
    /// `summary` is the author's own words only: what a hidden check may show.
    case result(check: Int, passed: Bool, message: String, summary: String)
    case done

    enum Key: String, CodingKey { case start, check, passed, message, summary, done }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        if let i = try c.decodeIfPresent(Int.self, forKey: .start) {
            self = .start(check: i)
        } else if let i = try c.decodeIfPresent(Int.self, forKey: .check) {
            self = .result(check: i, passed: try c.decode(Bool.self, forKey: .passed),
                           message: try c.decodeIfPresent(String.self, forKey: .message) ?? "",
                           summary: try c.decodeIfPresent(String.self, forKey: .summary) ?? "")
        } else if try c.decodeIfPresent(Bool.self, forKey: .done) != nil {
            self = .done
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not a verdict"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case .start(let i): try c.encode(i, forKey: .start)
        case .result(let i, let passed, let message, let summary):
            try c.encode(i, forKey: .check)
            try c.encode(passed, forKey: .passed)
            try c.encode(message, forKey: .message)
            try c.encode(summary, forKey: .summary)
        case .done: try c.encode(true, forKey: .done)
        }
    }
}

/// The marker a program writes to stdout and stderr before record `seq`.
public enum StreamMarker {
    public static let prefix = "\u{1E}WB:"
    public static func line(_ seq: Int) -> String { "\(prefix)\(seq)\n" }
}

/// Encoding and decoding of one line of a channel, and the environment variables naming them.
public enum RecordChannel {
    /// The record channel's file descriptor, for lesson and exercise programs.
    public static let outputVariable = "WORKBOOK_OUTPUT_FD"
    /// The verdict channel's file descriptor, for checker programs.
    public static let verdictVariable = "WORKBOOK_VERDICT_FD"
    /// Lines longer than this are dropped by hosts reading untrusted programs.
    public static let maximumLineBytes = 1 << 26

    public static func encodeLine<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Nil for a line that is not a well-formed `T` (a host reading an untrusted program skips it).
    public static func decode<T: Decodable>(_ type: T.Type, line: Data) -> T? {
        try? JSONDecoder().decode(T.self, from: line)
    }

    /// Writes all of `data` to `fd`, retrying on EINTR; gives up silently on other errors (the host is gone).
    public static func write(_ data: Data, to fd: Int32) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                #if canImport(Glibc)
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #else
                let n = Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
                if n < 0 { if errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }
}
