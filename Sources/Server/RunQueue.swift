import Foundation
import Notebook
import Site

/// One run at a time: a new Run stops the one before (whose program is killed) and starts once it
/// has ended, so two runs never write the same cache entry or fight over the CPU. Every event goes
/// to the pages as `event: run` with the run's id and file, outputs already rendered to HTML.
final class RunQueue: @unchecked Sendable {
    private let backend: any NotebookBackend
    private let hub: EventHub
    private let fragments: OutputFragments?
    private let queue = DispatchQueue(label: "workbook.serve.runs")
    private let lock = NSLock()
    private var nextID = 1
    private var current: (id: Int, control: RunControl)?

    init(backend: any NotebookBackend, hub: EventHub, fragments: OutputFragments?) {
        self.backend = backend
        self.hub = hub
        self.fragments = fragments
    }

    /// Saves the cell at once (a refused save is the request's error), then queues the run.
    /// Returns the run's id and the cell's code as saved.
    func start(file: String, url: URL, kind: NotebookFileKind, cell: Int, code: String, expected: String?) throws -> (id: Int, saved: String) {
        let lesson = try backend.save(cell: cell, in: url, code: code, expected: expected, kind: kind)
        let control = RunControl()
        lock.lock()
        let id = nextID
        nextID += 1
        let previous = current
        current = (id, control)
        lock.unlock()
        previous?.control.stop()
        let roles = Self.roles(lesson, kind: kind)
        hub.send(event: "run", json: ["run": id, "file": file, "type": "started", "cell": cell])
        queue.async { [self] in
            let send: @Sendable ([String: Any]) -> Void = { [hub] fields in
                hub.send(event: "run", json: fields.merging(["run": id, "file": file]) { a, _ in a })
            }
            if control.isStopped {
                send(["type": "finished", "succeeded": false, "stopped": true, "seconds": 0])
                return
            }
            do {
                try backend.run(url, kind: kind, control: control) { [self] event in
                    if let json = self.json(event, lesson: lesson, roles: roles, file: file) { send(json) }
                }
            } catch {
                send(["type": "failed", "message": "\(error)"])
            }
            lock.lock()
            if current?.id == id { current = nil }
            lock.unlock()
        }
        return (id, cell < lesson.cells.count ? lesson.cells[cell].source : code)
    }

    var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return current != nil }

    /// Stops the current run; false if nothing was running.
    @discardableResult
    func stopCurrent() -> Bool {
        lock.lock()
        let running = current
        lock.unlock()
        running?.control.stop()
        return running != nil
    }

    /// What each cell is on the page (exercises: hidden checks are never shown, nor their outputs).
    static func roles(_ lesson: Lesson, kind: NotebookFileKind) -> [CellRole] {
        guard kind == .exercise,
              let exercise = (try? Exercise(lesson: lesson)) ?? (try? Exercise(lesson: lesson, handout: true)) else {
            return lesson.cells.map { _ in .normal }
        }
        return lesson.cells.map { exercise.role(of: $0) }
    }

    func json(_ event: LiveEvent, lesson: Lesson, roles: [CellRole], file: String) -> [String: Any]? {
        func shown(_ cell: Int?) -> Bool {
            guard let cell else { return true }
            return cell < roles.count ? roles[cell] == .normal || roles[cell] == .solution : false
        }
        switch event {
        case .compiling:
            return ["type": "compiling"]
        case .compileFailed(let problems):
            // A problem in a hidden check names no cell: the student sees the message at the top.
            return ["type": "compileFailed", "problems": problems.map { p -> [String: Any] in
                var o: [String: Any] = ["line": p.line, "message": p.message]
                if let c = p.cell, shown(c) { o["cell"] = c }
                return o
            }]
        case .cellStarted(let cell):
            return shown(cell) ? ["type": "cellStarted", "cell": cell] : nil
        case .output(let cell, let output):
            guard shown(cell) else { return nil }
            switch output.kind {
            case .stdout, .text, .stderr:
                return ["type": "text", "cell": cell, "stream": output.kind.rawValue, "text": output.text ?? ""]
            default:
                let html = (try? fragments?.html(for: output)) ?? nil
                return ["type": "output", "cell": cell, "html": html ?? HTML.escape(output.text ?? "(\(output.kind.rawValue) output)")]
            }
        case .progress(let cell, let p):
            guard shown(cell) else { return nil }
            return ["type": "progress", "cell": cell, "label": p.label, "done": p.done, "total": p.total, "text": p.text]
        case .cellFinished(let result):
            guard shown(result.index), result.index < lesson.cells.count else { return nil }
            var o: [String: Any] = ["type": "cellFinished", "cell": result.index, "status": result.status.rawValue]
            if let fragments {
                o["html"] = (try? fragments.html(for: lesson.cells[result.index], result: result, role: roles[result.index], file: file)) ?? ""
            }
            if let error = result.error { o["error"] = error }
            if let d = result.duration { o["seconds"] = d }
            return o
        case .check(let check):
            return ["type": "check", "name": check.name, "passed": check.passed, "points": check.points,
                    "max": check.max, "message": check.message]
        case .finished(let succeeded, let stopped, let seconds):
            return ["type": "finished", "succeeded": succeeded, "stopped": stopped, "seconds": seconds]
        }
    }
}
