import Foundation

/// Renders a lesson's results for a terminal: a header per cell naming its Markdown line, text
/// outputs as is, tables aligned, images and SVGs written to files and named.
public struct TerminalReport {
    /// Where images and SVGs are saved (`.workbook/outputs/NAME/`).
    public var mediaDirectory: URL

    public init(mediaDirectory: URL) { self.mediaDirectory = mediaDirectory }

    public func render(_ run: LessonPipeline.Run) -> String {
        var out = ""
        let cells = run.lesson.cells
        for result in run.result.cells {
            let cell = cells[result.index]
            let status: String
            switch result.status {
            case .ok, .expectedError: status = result.duration.map { String(format: " · %.2f s", $0) } ?? ""
            case .skipped: status = " · no-run"
            case .notRun: status = " · not run"
            case .error: status = " · ERROR"
            case .timeout: status = " · TIMEOUT"
            case .compileError: status = " · COMPILE ERROR"
            }
            out += "── cell \(cell.number) · \(run.lesson.path):\(cell.line)\(status) ──\n"
            if !cell.options.hideOutput || result.status != .ok {
                for (k, output) in result.outputs.enumerated() {
                    out += render(output, cell: cell, number: k)
                }
            }
            if let error = result.error {
                switch result.status {
                case .compileError: out += error + "\n"
                case .expectedError: out += "expected error: " + error + "\n"
                default: out += "error: " + error + "\n"
                }
            }
        }
        for message in run.result.messages { out += "error: \(message)\n" }
        return out
    }

    func render(_ output: CellOutput, cell: Cell, number: Int) -> String {
        func ended(_ s: String) -> String { s.hasSuffix("\n") ? s : s + "\n" }
        switch output.kind {
        case .stdout, .text: return ended(output.text ?? "")
        case .stderr: return ended(output.text ?? "")
        case .error: return "error: " + ended(output.text ?? "")
        case .html: return "[html, \(output.html?.utf8.count ?? 0) bytes]\n"
        case .table: return Self.alignedTable(headers: output.headers ?? [], rows: output.rows ?? [], align: output.align ?? [])
        case .svg:
            let file = save(Data((output.svg ?? "").utf8), name: "cell\(cell.number)-\(number + 1).svg")
            return "[svg plot saved to \(file)]\n"
        case .image:
            let data = Data(base64Encoded: output.png ?? "") ?? Data()
            let file = save(data, name: "cell\(cell.number)-\(number + 1).png")
            return "[image\(output.caption.map { " \"\($0)\"" } ?? "") saved to \(file)]\n"
        }
    }

    func save(_ data: Data, name: String) -> String {
        let url = mediaDirectory.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: mediaDirectory, withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
            let cwd = FileManager.default.currentDirectoryPath + "/"
            return url.path.hasPrefix(cwd) ? String(url.path.dropFirst(cwd.count)) : url.path
        } catch {
            return "(could not save \(url.path): \(error.localizedDescription))"
        }
    }

    /// Columns padded to their widest cell; `right`/`center` alignments honoured.
    public static func alignedTable(headers: [String], rows: [[String]], align: [String]) -> String {
        let columns = max(headers.count, rows.map(\.count).max() ?? 0)
        func cell(_ row: [String], _ c: Int) -> String { c < row.count ? row[c] : "" }
        let widths = (0..<columns).map { c in ([headers] + rows).map { cell($0, c).count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            (0..<columns).map { c in
                let text = cell(row, c), pad = widths[c] - text.count
                switch c < align.count ? align[c] : "left" {
                case "right": return String(repeating: " ", count: pad) + text
                case "center": return String(repeating: " ", count: pad / 2) + text + String(repeating: " ", count: pad - pad / 2)
                default: return text + String(repeating: " ", count: pad)
                }
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        var out = ""
        if !headers.isEmpty {
            out += line(headers)
            out += widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ") + "\n"
        }
        for row in rows { out += line(row) }
        return out
    }
}
