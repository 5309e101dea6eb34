import Foundation
import Notebook
@testable import Site
import XCTest

/// A small course on disk (2 lessons, 1 exercise, a home intro) and canned execution results with
/// outputs of every kind, so site tests never compile a lesson.
struct CourseFixture {
    static let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR4nGP4z8AARAxg8j8AG/ID/fPnS7EAAAAASUVORK5CYII="

    static let index = """
    ---
    title: Transfer Learning Workbook
    ---
    Welcome to the **course**. Money: \\$5.
    """

    static let lesson1 = """
    ---
    title: Tensors & "friends"
    order: 1
    summary: First steps with <tensors>.
    ---
    # Tensors

    Inline math $x^2 + y_i$ and display math:

    $$\\sum_i w_i x_i$$

    Dollars in code stay: `echo $HOME $PATH`, escaped \\$5, and prices $5 and $6 are not math.

    ## Creating tensors

    ```swift
    let x = 1 // a comment
    print("hello")
    ```

    ### Details

    ```swift hide-source
    print("<script>alert(1)</script>")
    ```

    ```swift hide-output
    print("HIDDEN_OUTPUT_TEXT")
    ```

    See [the next lesson](02-more.md#next-steps) and ![a plot](images/plot.png).

    ```sh
    echo "$NOT_MATH$"
    ```

    > [!NOTE]
    > Views share CALLOUT_NOTE_TEXT storage.

    > [!WARNING] Mind CALLOUT_WARNING_TEXT shapes.

    > A plain QUOTE_TEXT stays a quote.

    See @fig-curve for the curve, `@fig-in-code` is code, and [the details](#details).

    ```swift fold label=fig-curve
    let a = 1
    let b = 2
    ```

    ```swift
    print("long")
    ```
    """

    static let lesson2 = """
    ---
    title: More tensors
    order: 2
    ---
    Some text.

    ## Next steps

    ```swift expect-error
    let bad = 1
    ```

    ```swift
    let y = 2
    ```
    """

    static let exercise = """
    ---
    title: Freeze the body
    summary: An exercise.
    ---
    Write a function.

    ## Solution notes

    ```swift id=answer
    // BEGIN SOLUTION
    func freeze() { print("SOLUTION_SECRET_42") }
    freeze()
    // STARTER
    // let STARTER_CODE_1 = 0
    // END SOLUTION
    ```

    ```swift check id=visible points=1
    try expect(VISIBLE_CHECK_CODE, "shown to students")
    ```

    ```swift hidden-check id=grader points=1
    assert(GRADER_ONLY_CHECK)
    ```

    ## Explanation

    EXPLANATION_SECRET: freezing stops gradients.

    ## After

    Back to the question.
    """

    let root: URL

    /// Writes the course into a new temporary folder.
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("site-tests-\(UUID().uuidString)")
        let fm = FileManager.default
        for dir in ["lessons/images", "exercises"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try Self.index.write(to: root.appendingPathComponent("lessons/index.md"), atomically: true, encoding: .utf8)
        try Self.lesson1.write(to: root.appendingPathComponent("lessons/01-intro.md"), atomically: true, encoding: .utf8)
        try Self.lesson2.write(to: root.appendingPathComponent("lessons/02-more.md"), atomically: true, encoding: .utf8)
        try Self.exercise.write(to: root.appendingPathComponent("exercises/freeze.md"), atomically: true, encoding: .utf8)
        try Data(base64Encoded: Self.png)!.write(to: root.appendingPathComponent("lessons/images/plot.png"))
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// The theme shipped in the repository.
    static var theme: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("site")
    }

    func options(output: String = "_site") -> SiteBuilder.Options {
        var o = SiteBuilder.Options(root: root, output: root.appendingPathComponent(output), theme: Self.theme)
        // Shared by the tests of one run: KaTeX (node) starts once, not per build.
        o.mathCache = FileManager.default.temporaryDirectory.appendingPathComponent("site-tests-math-\(getpid()).json")
        return o
    }
}

/// Returns canned results: every cell `ok` with the outputs listed for it.
struct FixtureExecutor: LessonExecutor {
    /// path -> cell index -> outputs (as the cache file's JSON objects).
    var outputs: [String: [Int: [[String: Any]]]] = [
        "lessons/01-intro.md": [
            0: [["kind": "stdout", "text": "hello\n"],
                ["kind": "table", "headers": ["name", "value"], "rows": [["a", "1"], ["b<i>", "2.5"]], "align": ["left", "right"]],
                ["kind": "stdout", "text": "between\n"],
                ["kind": "image", "png": CourseFixture.png, "caption": "two red, two blue"],
                ["kind": "svg", "svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><script>alert(2)</script><rect onclick=\"x()\" width=\"5\" height=\"5\"/><text>loss &lt; 1</text></svg>"],
                ["kind": "html", "html": "<b>bold output</b><img src=\"https://example.com/x.png\">"],
                ["kind": "stderr", "text": "a warning\n"]],
            1: [["kind": "stdout", "text": "<script>alert(1)</script>\n"]],
            2: [["kind": "stdout", "text": "HIDDEN_OUTPUT_TEXT\n"]],
            3: [["kind": "image", "png": CourseFixture.png, "caption": "Loss curve"]],
            4: [["kind": "stdout", "text": (1...40).map { "LONG_LINE_\($0)" }.joined(separator: "\n")
                    + "\nexport sizes = {\"list\":[{\"int\":4800},{\"int\":600}]}\n"]],
        ],
        "exercises/freeze.md": [0: [["kind": "stdout", "text": "SOLUTION_SECRET_42\n"]]],
    ]
    /// path -> cell index -> (status, error)
    var statuses: [String: [Int: (String, String)]] = [
        "lessons/02-more.md": [0: ("expected-error", "lessons/02-more.md:9: expected: add: shapes [2] and [3] cannot be broadcast")],
    ]
    /// path -> messages not tied to a cell
    var messages: [String: [String]] = [:]
    var log = Log()

    final class Log: @unchecked Sendable { var executed: [Lesson] = [] }

    func execute(_ lesson: Lesson) throws -> (result: LessonResult, cached: Bool) {
        log.executed.append(lesson)
        let cells: [[String: Any]] = lesson.cells.map { cell in
            var c: [String: Any] = ["index": cell.index, "id": cell.id, "line": cell.line,
                                    "status": cell.options.noRun ? "skipped" : "ok",
                                    "outputs": outputs[lesson.path]?[cell.index] ?? []]
            if let (status, error) = statuses[lesson.path]?[cell.index] { c["status"] = status; c["error"] = error }
            return c
        }
        let failed = cells.contains { ["error", "timeout", "compile-error"].contains($0["status"] as! String) }
            || messages[lesson.path] != nil
        let json: [String: Any] = [
            "format": 1, "lesson": lesson.path, "key": "k", "succeeded": !failed,
            "versions": ["toolchain": "t", "engine": "e", "workbook": 1], "inputs": [String: String](),
            "createdAt": "2026-01-01T00:00:00Z", "durations": ["generate": 0, "compile": 0, "run": 0],
            "cells": cells, "messages": messages[lesson.path] ?? [],
        ]
        let data = try JSONSerialization.data(withJSONObject: json)
        return (try JSONDecoder().decode(LessonResult.self, from: data), true)
    }
}

/// Reading the built site.
struct BuiltSite {
    let root: URL

    func page(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let data = try Data(contentsOf: root.appendingPathComponent(path))
        return try XCTUnwrap(String(data: data, encoding: .utf8), "\(path) is not UTF-8", file: file, line: line)
    }

    /// Every file, relative to the root.
    func files() -> [String] {
        let e = FileManager.default.enumerator(atPath: root.path)
        var out: [String] = []
        while let p = e?.nextObject() as? String {
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root.appendingPathComponent(p).path, isDirectory: &dir),
               !dir.boolValue { out.append(p) }
        }
        return out.sorted()
    }

    /// Values of href= and src= attributes.
    static func links(in html: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: "\\s(?:href|src)=\"([^\"]*)\"")
        return regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            HTML.decodeEntities(String(html[Range($0.range(at: 1), in: html)!]))
        }
    }
}
