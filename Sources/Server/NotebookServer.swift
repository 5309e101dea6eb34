import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Logging
import Notebook
import Site

/// `workbook serve`: the built site on 127.0.0.1, live reload, and the notebook (edit, run and stop
/// the cells of lessons and exercises from the page) on Hummingbird 2.
///
/// Routes (all behind `ServerGate`):
///
///     GET  /…                    the site's files; HTML pages get the notebook's script injected
///     GET  /__workbook/events    server-sent events: `reload` after a rebuild, `run` events
///     POST /__workbook/run       {file, cell, code, expected?}: save the cell, run its file
///     POST /__workbook/stop      {}: stop the current run
public final class NotebookServer: @unchecked Sendable {
    /// A folder of Markdown pages the page may run, and where its pages live in the site.
    public struct Folder: Sendable {
        public var url: URL
        /// `lessons/` or `exercises/`: the pages' folder in the site and the files' prefix in requests.
        public var sitePrefix: String
        public var kind: NotebookFileKind
        public init(url: URL, sitePrefix: String, kind: NotebookFileKind) {
            self.url = url.standardizedFileURL
            self.sitePrefix = sitePrefix
            self.kind = kind
        }
    }

    public struct Configuration: Sendable {
        public var site: URL
        public var folders: [Folder]
        /// Renders streamed outputs as the static pages show them (nil: plain text only).
        public var theme: Theme?
        /// No token, no running: the plain site.
        public var readOnly = false
        public var liveReload = true
        public var port: UInt16 = 8000
        /// nil: a new random one.
        public var token: String?

        public init(site: URL, folders: [Folder], theme: Theme?) {
            self.site = site
            self.folders = folders
            self.theme = theme
        }
    }

    public let configuration: Configuration
    public let token: String?
    private let backend: any NotebookBackend
    private let files: SiteFiles
    private let hub = EventHub()
    private let runs: RunQueue
    private let lock = NSLock()
    private var _generation = 0
    private var task: Task<Void, Never>?
    private var serviceGroup: ServiceGroup?
    public private(set) var port: UInt16 = 0

    public init(configuration: Configuration, backend: any NotebookBackend) {
        self.configuration = configuration
        self.backend = backend
        token = configuration.readOnly ? nil : (configuration.token ?? ServerGate.makeToken())
        files = SiteFiles(root: configuration.site)
        let fragments = configuration.theme.map {
            OutputFragments(theme: $0, assets: AssetStore(root: configuration.site.standardizedFileURL), root: "/")
        }
        runs = RunQueue(backend: backend, hub: hub, fragments: fragments)
    }

    /// The URL to open: with the token, unless read-only.
    public var url: String {
        "http://127.0.0.1:\(port)/" + (token.map { "?token=\($0)" } ?? "")
    }

    /// Bumped after each rebuild; open pages reload.
    public var generation: Int {
        lock.lock(); defer { lock.unlock() }; return _generation
    }

    /// A run is going on (or waiting for the one before to stop).
    public var isRunning: Bool { runs.isRunning }

    /// Tells open pages that the site was rebuilt.
    public func siteRebuilt() {
        lock.lock(); _generation += 1; let g = _generation; lock.unlock()
        hub.send(event: "reload", json: ["generation": g])
    }

    /// Listens on 127.0.0.1:`configuration.port` (0: a free port, see `port`) and serves in the background.
    public func start() throws {
        final class Outcome: @unchecked Sendable {
            let ready = DispatchSemaphore(value: 0)
            var port: Int?
            var error: Error?
        }
        let outcome = Outcome()
        var logger = Logger(label: "workbook-serve")
        logger.logLevel = .critical
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { [self] request, _ in await self.respond(to: request) },
            configuration: .init(address: .hostname("127.0.0.1", port: Int(configuration.port)), serverName: nil),
            onServerRunning: { channel in
                outcome.port = channel.localAddress?.port
                outcome.ready.signal()
            },
            logger: logger)
        // Run as a service so `stop()` can end it gracefully: cancelling the task under an open
        // connection traps in NIO ("Deinited NIOAsyncWriter without calling finish()").
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        serviceGroup = group
        task = Task {
            do { try await group.run() } catch {
                outcome.error = error
                outcome.ready.signal()
            }
        }
        outcome.ready.wait()
        if let error = outcome.error {
            throw SiteError("serve: cannot listen on 127.0.0.1:\(configuration.port): \(error) (try --port)")
        }
        port = UInt16(outcome.port ?? Int(configuration.port))
        let hub = self.hub
        // A comment line now and then keeps idle event streams open through proxies and timeouts.
        Thread.detachNewThread {
            while !hub.isClosed {
                Thread.sleep(forTimeInterval: 15)
                hub.send(raw: ": keep-alive\n\n")
            }
        }
    }

    /// Stops the running program, ends the event streams, then shuts the server down gracefully
    /// (waiting up to 5 s for open connections) and returns when it has stopped.
    public func stop() {
        runs.stopCurrent()
        hub.close()
        guard let task, let group = serviceGroup else { return }
        self.task = nil
        serviceGroup = nil
        let stopped = DispatchSemaphore(value: 0)
        Task.detached {
            await group.triggerGracefulShutdown()
            await task.value
            stopped.signal()
        }
        if stopped.wait(timeout: .now() + 5) == .timedOut { task.cancel() }
    }

    /// Blocks until the server stops (Ctrl-C ends the process).
    public func wait() async { await task?.value }

    // MARK: Requests

    func respond(to request: Request) async -> Response {
        var request = request
        let target = request.head.path ?? "/"
        let path = ServerGate.split(target).path
        let isRun = path == "/__workbook/run" || path == "/__workbook/stop"
        let gate = ServerGate(token: token, port: Int(port))
        let decision = gate.decide(method: request.method.rawValue, target: target,
                                   host: request.head.authority,
                                   origin: request.headers[.origin], cookie: request.headers[.cookie],
                                   contentType: request.headers[.contentType],
                                   hasRequestHeader: request.headers[HTTPField.Name(ServerGate.requestHeader)!] != nil,
                                   changesState: isRun)
        switch decision {
        case .deny(let status, let message):
            return Self.text(status, message)
        case .grant(let cookie, let location):
            var headers = HTTPFields()
            headers[.setCookie] = cookie
            headers[.location] = location
            headers[.cacheControl] = "no-store"
            return Response(status: .seeOther, headers: headers)
        case .allow:
            break
        }
        if isRun {
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: 4 << 20) } catch {
                return Self.json(413, ["error": "the request body is too large (at most 4 MiB)"])
            }
            return path == "/__workbook/run" ? run(String(buffer: body)) : stopRun()
        }
        guard request.method == .get || request.method == .head else {
            var response = Self.text(405, "405 Method Not Allowed")
            response.headers[.allow] = "GET, HEAD"
            return response
        }
        if path == "/__workbook/events" { return events() }
        switch files.lookup(path) {
        case .notFound:
            return Self.text(404, "404 Not Found")
        case .redirect(let location):
            var headers = HTTPFields()
            headers[.location] = location
            return Response(status: .movedPermanently, headers: headers)
        case .file(let url):
            guard var data = FileManager.default.contents(atPath: url.path) else { return Self.text(404, "404 Not Found") }
            let type = SiteFiles.mimeType(url.pathExtension)
            if type.hasPrefix("text/html") { data = inject(into: data, page: url) }
            var headers = HTTPFields()
            headers[.contentType] = type
            headers[.cacheControl] = "no-cache"
            headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
            headers[.contentLength] = "\(data.count)"
            if request.method == .head { return Response(status: .ok, headers: headers) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    func events() -> Response {
        let stream = hub.subscribe()
        let hello = "retry: 1000\nevent: hello\ndata: {\"generation\":\(generation)}\n\n"
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: hello))
            for await message in stream {
                try await writer.write(ByteBuffer(string: message))
            }
            try await writer.finish(nil)
        })
    }

    // MARK: Running

    /// The file a request names, if it is one of the course's pages (`lessons/x.md`, `exercises/y.md`).
    public func runnableFile(_ name: String) -> (url: URL, folder: Folder)? {
        for folder in configuration.folders where name.hasPrefix(folder.sitePrefix) {
            let rest = String(name.dropFirst(folder.sitePrefix.count))
            guard rest.hasSuffix(".md"), !rest.hasPrefix("."), !rest.contains("/"), !rest.contains("\\"),
                  !rest.contains("\0"), rest != CourseFiles.intro || folder.kind == .exercise,
                  !CourseFiles.documentation.contains(rest) else { return nil }
            let url = folder.url.appendingPathComponent(rest)
            let resolved = url.resolvingSymlinksInPath().path
            guard resolved.hasPrefix(folder.url.resolvingSymlinksInPath().path + "/"),
                  FileManager.default.fileExists(atPath: resolved) else { return nil }
            return (url, folder)
        }
        return nil
    }

    func run(_ body: String) -> Response {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let file = object["file"] as? String, let cell = object["cell"] as? Int, let code = object["code"] as? String else {
            return Self.json(400, ["error": "a run request is JSON {\"file\": \"lessons/x.md\", \"cell\": 0, \"code\": \"…\"}"])
        }
        guard let found = runnableFile(file) else {
            let allowed = configuration.folders.map { $0.sitePrefix + "*.md" }.joined(separator: ", ")
            return Self.json(403, ["error": "refused: '\(file)' is not a lesson or exercise of this course (only \(allowed) can be run)"])
        }
        do {
            let (id, saved) = try runs.start(file: file, url: found.url, kind: found.folder.kind, cell: cell, code: code,
                                    expected: object["expected"] as? String)
            return Self.json(200, ["run": id, "code": saved])
        } catch {
            return Self.json(400, ["error": "\(error)"])
        }
    }

    func stopRun() -> Response {
        Self.json(200, ["stopped": runs.stopCurrent()])
    }

    // MARK: Pages

    /// The Markdown file behind a page of the site, if it is one the notebook can run.
    func source(ofPage page: URL) -> (file: String, url: URL, folder: Folder)? {
        let relative = page.standardizedFileURL.path.dropFirst(files.root.path.count + 1)
        for folder in configuration.folders where relative.hasPrefix(folder.sitePrefix) && relative.hasSuffix(".html") {
            let slug = relative.dropFirst(folder.sitePrefix.count).dropLast(".html".count)
            guard let names = try? CourseFiles.pages(in: folder.url) else { continue }
            for name in names where Course.slug(String(name.dropLast(3))) == slug {
                let file = folder.sitePrefix + name
                if let found = runnableFile(file) { return (file, found.url, folder) }
            }
        }
        return nil
    }

    /// The notebook's script and its settings, added to a page as it is served (the files on disk
    /// stay the plain site).
    func inject(into html: Data, page: URL) -> Data {
        var settings: [String: Any] = ["mode": token == nil ? "read-only" : "notebook",
                                       "reload": configuration.liveReload, "generation": generation]
        if token != nil, let found = source(ofPage: page), let cells = Self.editableCells(found.url, kind: found.folder.kind) {
            settings["file"] = found.file
            settings["kind"] = found.folder.kind.rawValue
            settings["cells"] = cells
        }
        var json = String(decoding: (try? JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
        // Inside <script>, "</" could end the element early.
        json = json.replacingOccurrences(of: "</", with: "<\\/")
        let tags = "<link rel=\"stylesheet\" href=\"/assets/notebook.css\">\n<script id=\"workbook-serve\" type=\"application/json\">\(json)</script>\n<script defer src=\"/assets/notebook.js\"></script>\n"
        var text = String(decoding: html, as: UTF8.self)
        if let r = text.range(of: "</body>", options: .backwards) { text.insert(contentsOf: tags, at: r.lowerBound) } else { text += tags }
        return Data(text.utf8)
    }

    /// The cells of the page that run: every Swift cell of a lesson, the given and answer cells of an
    /// exercise (checks show no outputs). `editable`: every lesson cell, an exercise's answer cells.
    static func editableCells(_ url: URL, kind: NotebookFileKind) -> [[String: Any]]? {
        let configuration = kind == .exercise ? Exercise.parserConfiguration : LessonParser.Configuration()
        guard let lesson = try? LessonParser(configuration: configuration).load(path: url.path) else { return nil }
        var roles: [Exercise.Role]?
        if kind == .exercise {
            guard let exercise = (try? Exercise(lesson: lesson)) ?? (try? Exercise(lesson: lesson, handout: true)) else { return nil }
            roles = exercise.roles
        }
        // What a save accepts (CellEditor's rule), so the page never offers an edit it would refuse.
        let editable = Set((try? CellEditor.editableCells(in: lesson)) ?? [])
        return lesson.cells.compactMap { cell in
            let role = roles.map { cell.index < $0.count ? $0[cell.index] : .hiddenCheck }
            if let role, role != .answer && role != .given { return nil }
            return ["index": cell.index, "id": cell.id, "code": cell.source, "line": cell.line,
                    "editable": editable.contains(cell.index)]
        }
    }

    static func text(_ status: Int, _ message: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    static func json(_ status: Int, _ object: [String: Any]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
