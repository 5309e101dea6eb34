import Foundation
import Notebook

/// The body of build.html: per lesson and exercise, whether it came from the cache, why it ran
/// again, and each cell's run time and status. Holds no clock time, so rebuilding from the cache
/// gives the same page.
enum BuildReportPage {
    static func html(runs: [SiteBuilder.PageRun], course: Course) -> String {
        let ran = runs.filter { !$0.cached }.count
        var out = "<p class=\"summary\">\(runs.count) lessons and exercises: \(ran) ran, \(runs.count - ran) from the cache.</p>\n"
        if runs.isEmpty { out += "<p>Nothing was run in this build.</p>\n" }
        out += "<div class=\"table-wrap\"><table class=\"build-report\">\n<thead><tr><th>Page</th><th>Cache</th><th>Why it ran</th>"
            + "<th class=\"align-right\">Cells' run time</th></tr></thead>\n<tbody>\n"
        for run in runs {
            let total = run.cells.compactMap(\.duration).reduce(0, +)
            // When the result was made (now or in an earlier build): compile and run times.
            let made = run.durations.map { "<br><small>compiled in \(seconds($0.compile)), ran in \(seconds($0.run))</small>" } ?? ""
            out += "<tr id=\"run-\(HTML.escape(run.url.replacingOccurrences(of: "/", with: "-")))\">"
                + "<td><a href=\"\(HTML.escape(run.url))\">\(HTML.escape(run.title))</a><br><code>\(HTML.escape(run.path))</code></td>"
                + "<td class=\"\(run.cached ? "hit" : "miss")\">\(run.cached ? "hit" : "miss")</td>"
                + "<td>\(HTML.escape(run.reason ?? "—"))</td>"
                + "<td class=\"align-right\">\(seconds(total))\(made)</td></tr>\n"
        }
        out += "</tbody></table></div>\n"
        for run in runs where !run.cells.isEmpty {
            out += "<details class=\"report-cells\"><summary>\(HTML.escape(run.title)): \(run.cells.count) cells</summary>\n"
                + "<table><thead><tr><th>Cell</th><th>Line</th><th>Status</th><th class=\"align-right\">Time</th></tr></thead><tbody>\n"
            for (i, cell) in run.cells.enumerated() {
                let line = i < run.lines.count ? run.lines[i] : cell.line
                out += "<tr><td>\(i + 1)</td><td><code>\(HTML.escape(run.path)):\(line)</code></td>"
                    + "<td>\(cell.status.rawValue)</td><td class=\"align-right\">\(cell.duration.map(seconds) ?? "—")</td></tr>\n"
            }
            out += "</tbody></table></details>\n"
        }
        return out
    }

    static func seconds(_ s: Double) -> String { String(format: s < 10 ? "%.2f s" : "%.1f s", s) }
}
