import ArgumentParser
import Foundation
import Grader

/// `workbook gradebook`: the instructor's view of `gradebooks/gradebook.sqlite`, where every
/// `workbook grade` run is recorded.
struct GradebookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradebook",
        abstract: "Look at, export, compare and merge the recorded grading runs (gradebooks/gradebook.sqlite).",
        subcommands: [Show.self, Runs.self, Export.self, Diff.self, Merge.self])

    struct Location: ParsableArguments {
        @Option(name: .customLong("gradebook"), help: "The gradebook: a `workbook grade --out` folder, or its gradebook.sqlite.")
        var path = "gradebooks"

        func open() throws -> GradebookDatabase { try GradebookDatabase(url: GradebookDatabase.location(path)) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Points per student and exercise, from each student's latest run (or one run).")
        @OptionGroup var location: Location
        @Option(name: .customLong("student"), help: "Only this student (repeatable); shows their checks too.")
        var students: [String] = []
        @Option(name: .customLong("run"), help: "One run's grades (a run id, latest or previous) instead of each student's latest.")
        var runSpec: String?

        func run() throws {
            let db = try location.open()
            let latest = try db.latest(run: try runSpec.map { try db.runID($0) })
            let unknown = students.filter { !latest.students.contains($0) }
            if !unknown.isEmpty {
                throw GradebookError(file: db.url.path, "no grades for \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (students: \(latest.students.prefix(10).joined(separator: ", "))\(latest.students.count > 10 ? ", ..." : ""))")
            }
            print(GradebookTable(latest, students: students.isEmpty ? nil : students).render(), terminator: "")
            for student in students { print("\n" + GradebookReport.checks(of: student, in: latest), terminator: "") }
        }
    }

    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The recorded runs: id, time, students, shard or merge, exercise set.")
        @OptionGroup var location: Location

        func run() throws {
            let db = try location.open()
            print(try GradebookReport.runs(db), terminator: "")
        }
    }

    enum Format: String, ExpressibleByArgument, CaseIterable { case canvas, csv, json }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One row per student: Canvas's grade-import CSV, a plain CSV or JSON (final points: penalties applied).")
        @OptionGroup var location: Location
        @Option(help: "canvas (Canvas's gradebook import CSV), csv or json.")
        var format: Format = .canvas
        @Option(name: .customLong("run"), help: "One run's grades (a run id, latest or previous) instead of each student's latest.")
        var runSpec: String?
        @Flag(help: "A column per exercise instead of one total.")
        var perExercise = false
        @Option(help: "Canvas: the assignment column's name for the total.")
        var assignment = "Workbook exercises"
        @Option(name: .customLong("assignment-id"), help: "Canvas: an existing assignment's id, for the total (ID) or per exercise (qNN-name=ID); repeatable. Without one, Canvas creates the assignment.")
        var assignmentIDs: [String] = []
        @Option(name: .shortAndLong, help: "Write to this file (atomically) instead of standard output.")
        var output: String?

        func run() throws {
            let db = try location.open()
            let table = GradebookTable(try db.latest(run: try runSpec.map { try db.runID($0) }))
            var ids: [String: String] = [:]
            for item in assignmentIDs {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 {
                    guard table.exercises.contains(where: { $0.name == parts[0] }) else {
                        throw ValidationError("--assignment-id \(item): no exercise '\(parts[0])' in the gradebook")
                    }
                    ids[parts[0]] = parts[1]
                } else { ids[""] = item }
            }
            let data: Data
            switch format {
            case .canvas: data = Data(table.canvasCSV(perExercise: perExercise, assignment: assignment, assignmentIDs: ids).utf8)
            case .csv: data = Data(table.csv(perExercise: perExercise).utf8)
            case .json: data = try table.json() + Data("\n".utf8)
            }
            if let output {
                try data.write(to: URL(fileURLWithPath: output), options: .atomic)
                FileHandle.standardError.write(Data("wrote \(output): \(table.lines.count) student\(table.lines.count == 1 ? "" : "s")\n".utf8))
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who gained or lost points between two runs, on which checks, and whether the checks or the submissions changed.")
        @OptionGroup var location: Location
        @Argument(help: "The earlier run (id, latest or previous; default previous).")
        var runA = "previous"
        @Argument(help: "The later run (default latest).")
        var runB = "latest"

        func run() throws {
            let db = try location.open()
            let diff = GradebookDiff(try db.run(try db.runID(runA)), try db.run(try db.runID(runB)))
            print(diff.render(), terminator: "")
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine the partial gradebooks of `workbook grade --shard I/N` (each one's latest run) into one run.")
        @Argument(help: "Where the merged run goes: a gradebooks folder (its files are written there too) or a .sqlite file.")
        var out: String
        @Argument(help: "The partial gradebooks (folders or .sqlite files), one per shard.")
        var partials: [String]

        func validate() throws {
            guard !partials.isEmpty else { throw ValidationError("give the partial gradebooks to merge") }
        }

        func run() throws {
            let target = GradebookDatabase.location(out)
            let partialURLs = partials.map(GradebookDatabase.location)
            for url in partialURLs where !FileManager.default.fileExists(atPath: url.path) {
                throw GradebookError(file: url.path, "no partial gradebook here")
            }
            let db = try GradebookDatabase(url: target, create: true)
            let (id, run) = try GradebookMerge.merge(into: db, partials: partialURLs)
            var written = try run.gradebook.write(to: target.deletingLastPathComponent())
            written.database = db.url
            print("merged \(partials.count) shards: \(run.students.count) students x \(run.exercises.count) exercises as run \(id) of \(db.url.path)")
            print("gradebook: \(written.csv.path)\n           \(written.json.path)\nfeedback:  \(written.feedback.path)/")
        }
    }
}
