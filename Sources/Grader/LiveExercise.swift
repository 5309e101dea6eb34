import Foundation
import Notebook
import ProgramRecords

/// What the notebook page watches during an exercise run: the stream of cell events and the stop button.
struct LiveHooks {
    var stream: LiveStream
    var control: LiveRunControl
    var onEvent: @Sendable (LiveEvent) -> Void
    /// The submission's pieces, to put a compile error at its cell.
    var lesson: Lesson

    func compiled(_ output: ProgramCompiler.Output, exercise: Exercise) {
        guard output.executable == nil, !control.isStopped else { return }
        let cells = exercise.lesson.cells
        var problems = output.errors.map { d -> CellProblem in
            let inFile = d.file == exercise.path
            let cell = inFile ? cells.first { d.line > $0.line && d.line < max($0.endLine, $0.line + 2) }?.index : nil
            return CellProblem(cell: cell, line: inFile ? d.line : 0, message: d.description)
        }
        if problems.isEmpty {
            problems = output.failureMessages.map { CellProblem(cell: nil, line: 0, message: $0) }
        }
        onEvent(.compileFailed(problems))
        var results = cells.map { cell in
            CellResult(index: cell.index, id: cell.id, line: cell.line,
                       status: cell.options.noRun ? .skipped : .notRun, duration: nil, outputs: [], error: nil)
        }
        for problem in problems {
            guard let c = problem.cell else { continue }
            results[c].status = .compileError
            results[c].error = (results[c].error.map { $0 + "\n" } ?? "") + problem.message
        }
        stream.finish(with: results)
    }

    /// The program ended: every cell's final result.
    func ran(_ outcome: ProgramHost.Outcome, executable: URL) {
        stream.finish(with: stream.results(ending: outcome.ending, duration: outcome.seconds))
    }
}

extension ExerciseGrader {
    /// The uid `workbook test` and the notebook run a student's own exercise as, when root.
    public static let studentTestUID: UInt32 = 61999

    /// `workbook test` for one exercise file, streaming: the cells' events, then one .check per visible check.
    ///
    /// The file is read as a student's copy (answer cells marked `answer`, or an instructor's file
    /// with its solution regions): its own cells run, given ones included, in the grader's sandbox
    /// and limits, then the visible checks. Works for a handout folder outside the package: the
    /// engine (and the files the exercise declares, such as models/) come from `engine`.
    public func runLive(exerciseAt file: URL, control: LiveRunControl,
                        onEvent: @escaping @Sendable (LiveEvent) -> Void) throws -> ExerciseGrade {
        // The run's folder is the exercise's name under the work folder: one run of a name at a time.
        try LiveRunQueue.serialized(workDirectory.path + "#" + file.deletingPathExtension().lastPathComponent) {
            try runLiveNow(exerciseAt: file, control: control, onEvent: onEvent)
        }
    }

    func runLiveNow(exerciseAt file: URL, control: LiveRunControl,
                    onEvent: @escaping @Sendable (LiveEvent) -> Void) throws -> ExerciseGrade {
        let start = Date()
        try engine.ensureBuilt()
        let exercise = try Exercise.load(path: file.path, handout: true)
        let program = try SubmissionProgram(exercise: exercise, student: nil)
        let stream = LiveStream(lesson: exercise.lesson, cellMap: program.pieces.map(\.cell),
                                collector: OutputCollector(moduleName: compiler.moduleName), onEvent: onEvent)
        let hooks = LiveHooks(stream: stream, control: control, onEvent: onEvent, lesson: exercise.lesson)
        onEvent(.compiling)
        var grade = try test(handout: exercise, uid: Self.studentTestUID, live: hooks)
        let stopped = control.isStopped
        if stopped {
            grade.status = .timeout
            grade.message = "stopped"
        }
        if stopped {
            // Stopped before the program ran: the cells still get their final state.
            stream.finish(with: stream.results(ending: .stopped, duration: 0))
        }
        for check in grade.checks where !check.hidden {
            onEvent(.check(LiveCheck(name: check.name, passed: check.status == .passed, points: check.points, max: check.max,
                                     message: check.status == .notRun ? "not run" + (check.message.isEmpty ? "" : ": " + check.message)
                                                                      : check.message)))
        }
        let succeeded = !stopped && grade.status == .ok && grade.checks.allSatisfy { $0.status == .passed }
        onEvent(.finished(succeeded: succeeded, stopped: stopped, seconds: Date().timeIntervalSince(start)))
        return grade
    }
}
