import Foundation
import Notebook
import Site

/// `workbook build` on an unchanged course and after a prose edit to one lesson. Target: about a
/// second. A synthetic course (24 lessons x 8 cells with text, tables, SVG charts, images and
/// math) goes through the real pipeline, whose execution cache is seeded so every lesson is a
/// cache hit, as after a first build; needs the release engine build only for its fingerprint.
func runSiteBenchmark() {
    do {
        let fm = FileManager.default
        let engine = try EngineBuild()
        let root = fm.temporaryDirectory.appendingPathComponent("workbook-site-bench-\(getpid())")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root.appendingPathComponent("lessons"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("exercises"), withIntermediateDirectories: true)
        let lessonCount = 24
        for i in 1...lessonCount {
            try benchLesson(i).write(to: root.appendingPathComponent(String(format: "lessons/%02d-topic.md", i)), atomically: true, encoding: .utf8)
        }

        var pipelineOptions = LessonPipeline.Options()
        pipelineOptions.buildEngine = false
        var pipeline = LessonPipeline(engine: engine, options: pipelineOptions)
        pipeline.cache = ExecutionCache(directory: root.appendingPathComponent(".workbook/cache"))
        if !engine.isBuilt {
            print("site: the release engine is not built (swift build -c release --product WorkbookKit); skipped")
            return
        }
        let toolchain = EngineBuild.toolchainVersion()
        for i in 1...lessonCount {
            let path = String(format: "lessons/%02d-topic.md", i)
            let lesson = try LessonParser().parse(text: try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8), path: path)
            let (key, inputs) = try ExecutionCache.key(for: lesson, engine: engine.fingerprint, toolchain: toolchain, packageRoot: root)
            try pipeline.cache.store(benchResult(lesson, key: key, inputs: inputs), for: lesson)
        }

        let theme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("site")
        var options = SiteBuilder.Options(root: root, theme: theme)
        options.mathCache = root.appendingPathComponent(".workbook/site/math-cache.json")
        let builder = SiteBuilder(options: options)
        let executor = PipelineExecutor(pipeline: pipeline)

        func timed(_ label: String) throws -> Double {
            let start = Date()
            let report = try builder.build(executor: executor)
            let seconds = Date().timeIntervalSince(start)
            guard report.executed == 0 else { throw SiteError("site bench: \(report.executed) lessons were not cache hits") }
            print(String(format: "site: %@ %.3f s (%d pages)", label, seconds, report.pages))
            return seconds
        }
        _ = try timed("first build (math typeset)  ")
        let unchanged = (0..<3).map { _ in (try? timed("no-change rebuild           ")) ?? .infinity }.min()!
        let edited = root.appendingPathComponent("lessons/05-topic.md")
        var edits: [Double] = []
        for n in 0..<3 {
            try (String(contentsOf: edited, encoding: .utf8) + "\nAn added paragraph \(n).\n").write(to: edited, atomically: true, encoding: .utf8)
            edits.append(try timed("one-lesson prose edit       "))
        }
        let site = root.appendingPathComponent("_site")
        let size = (fm.enumerator(atPath: site.path)?.allObjects as? [String] ?? []).reduce(0) { total, p in
            total + ((try? fm.attributesOfItem(atPath: site.appendingPathComponent(p).path)[.size] as? Int) ?? 0)
        }
        print(String(format: "site: no-change rebuild %.3f s, one-lesson prose edit %.3f s (best of 3; target about 1 s) %@; site %.1f MB",
                     unchanged, edits.min()!, max(unchanged, edits.min()!) < 1.5 ? "OK" : "SLOW", Double(size) / 1e6))
    } catch {
        print("site: \(error)")
    }
}

private func benchLesson(_ n: Int) -> String {
    var text = "---\ntitle: Topic \(n)\norder: \(n)\nsummary: What lesson \(n) covers.\n---\n# Topic \(n)\n\n"
    for c in 1...8 {
        text += "## Step \(c)\n\nSome prose about step \(c) with math $w_{\(c)} x + b$ and a [link](01-topic.md).\n"
        text += "More text, *emphasis*, `code`, and a list:\n\n- one\n- two\n\n"
        if c == 4 { text += "$$\\mathcal{L} = -\\sum_i y_i \\log \\hat y_{i,\(n)}$$\n\n" }
        text += "```swift\nlet value\(c) = Tensor.ones([\(c), 3]) * \(c)\nprint(\"step \\(value\(c).shape)\") // step \(c)\n```\n\n"
    }
    return text
}

private func benchResult(_ lesson: Lesson, key: String, inputs: [String: String]) throws -> LessonResult {
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR4nGP4z8AARAxg8j8AG/ID/fPnS7EAAAAASUVORK5CYII="
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"400\">" +
        (0..<100).map { "<circle cx=\"\($0 * 6)\" cy=\"\(200 + $0 % 50)\" r=\"2\"/>" }.joined() + "</svg>"
    let cells: [[String: Any]] = lesson.cells.map { cell in
        var outputs: [[String: Any]] = [["kind": "stdout", "text": "step [\(cell.number), 3]\n" + String(repeating: "tensor([1., 2., 3.])\n", count: 5)]]
        switch cell.index % 4 {
        case 1: outputs.append(["kind": "table", "headers": ["epoch", "loss"], "rows": (1...20).map { ["\($0)", "\(1.0 / Double($0))"] }, "align": ["right", "right"]])
        case 2: outputs.append(["kind": "svg", "svg": svg])
        case 3: outputs.append(["kind": "image", "png": png, "caption": "cell \(cell.number)"])
        default: break
        }
        return ["index": cell.index, "id": cell.id, "line": cell.line, "status": "ok", "outputs": outputs]
    }
    let json: [String: Any] = [
        "format": LessonResult.format, "lesson": lesson.path, "key": key, "succeeded": true,
        "versions": ["toolchain": "bench", "engine": "bench", "workbook": LessonResult.format], "inputs": inputs,
        "createdAt": "2026-01-01T00:00:00Z", "durations": ["generate": 0, "compile": 0, "run": 0],
        "cells": cells, "messages": [String](),
    ]
    return try JSONDecoder().decode(LessonResult.self, from: JSONSerialization.data(withJSONObject: json))
}
