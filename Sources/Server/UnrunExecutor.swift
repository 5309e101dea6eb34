import Foundation
import Notebook
import Site

/// Pages built without running anything: every cell "skipped", no outputs. `workbook serve
/// --exercises` builds a student's handout this way: the student presses Run on the page, and
/// starting the server does not compile every exercise first.
public struct UnrunExecutor: LessonExecutor {
    public init() {}

    public func execute(_ lesson: Lesson) throws -> (result: LessonResult, cached: Bool) {
        let json: [String: Any] = [
            "format": LessonResult.format, "lesson": lesson.path, "key": "not-run", "succeeded": true,
            "versions": ["toolchain": "", "engine": "", "workbook": 0], "inputs": [String: String](),
            "createdAt": ISO8601DateFormatter().string(from: Date()),
            "durations": ["generate": 0, "compile": 0, "run": 0],
            "cells": lesson.cells.map { ["index": $0.index, "id": $0.id, "line": $0.line, "status": "skipped", "outputs": [Any]()] },
            "messages": [String](),
        ]
        return (try JSONDecoder().decode(LessonResult.self, from: JSONSerialization.data(withJSONObject: json)), true)
    }

    public func missReason(_ lesson: Lesson) -> String? { nil }
}
