import Foundation

/// What `workbook test` prints: the program's output, how it ended, each visible check.
public enum TestReport {
    public static func render(_ grade: ExerciseGrade, path: String) -> String {
        var out = "== \(path)\n"
        let output = grade.output.trimmingCharacters(in: .newlines)
        if !output.isEmpty { out += output + "\n" }
        switch grade.status {
        case .ok: break
        case .compileError: out += "✗ \(grade.message)\n"
        default: out += "✗ \(grade.status.rawValue): \(grade.message)\n"
        }
        for note in grade.notes { out += "note: \(note)\n" }
        if grade.checks.isEmpty { out += "(this exercise has no visible checks; it is graded by hidden checks only)\n" }
        for c in grade.checks {
            let points = "\(Gradebook.number(c.points))/\(Gradebook.number(c.max))"
            out += c.status == .passed ? "✓ \(c.name) (\(points))\n" : "✗ \(c.name) (\(points)): \(c.message)\n"
        }
        let passed = grade.checks.filter { $0.status == .passed }.count
        out += "\(passed) of \(grade.checks.count) visible check\(grade.checks.count == 1 ? "" : "s") passed"
        out += " (hidden checks run only when graded)"
        return out
    }
}
