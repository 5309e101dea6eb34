import ArgumentParser
import Foundation
import Grader

/// `workbook release`: the student handout of every exercise.
struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Write the student version of every exercise (solutions replaced by starters, hidden checks and explanations removed).")

    @Option(help: "Folder of exercises (instructor versions).")
    var exercises = "exercises"

    @Option(help: "Folder to write the handout into (replaced as a whole, atomically).")
    var out = "handout"

    func run() throws {
        let source = URL(fileURLWithPath: exercises).standardizedFileURL
        let target = URL(fileURLWithPath: out).standardizedFileURL
        guard source.path != target.path else { throw ValidationError("--out must differ from --exercises") }
        let written = try Release(exercisesDirectory: source).write(to: target)
        print("wrote \(written.count) exercise\(written.count == 1 ? "" : "s") to \(out)/")
    }
}
