import ArgumentParser
import Foundation
import Notebook
import Server
import Site

/// `workbook serve`: builds the site, serves it on 127.0.0.1 as a notebook (Edit / Run / Stop on
/// the cells, behind a token printed at start) and rebuilds when lessons, exercises or the theme
/// change; open pages reload themselves after a rebuild.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the course on localhost as a notebook: edit and run cells in the browser.",
        discussion: """
        Open the URL it prints (it holds a secret token, as Jupyter's does): every Swift cell of a \
        lesson and every answer cell of an exercise gets Edit and Run. Run saves the cell into its \
        Markdown file and runs the file, streaming the outputs into the page; for an exercise it also \
        runs the visible checks. --read-only serves the plain site without a token and without Run. \
        --exercises DIR serves a student's handout folder instead of the course.
        """)

    @OptionGroup var site: SiteBuildOptions

    @Option(help: "Port on 127.0.0.1 (0: any free port).")
    var port: UInt16 = 8000

    @Flag(help: "Do not reload open pages after a rebuild.")
    var noReload = false

    @Flag(help: "Serve the plain site: no token needed, no Edit or Run.")
    var readOnly = false

    @Option(name: .customLong("exercises"), help: ArgumentHelp("A student's handout folder to serve and run (its q*.md files) instead of the course.", valueName: "dir"))
    var handout: String?

    func run() throws {
        // Progress lines should show up at once even when the output is piped to a file.
        setvbuf(stdout, nil, _IOLBF, 0)
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let handoutFolder = handout.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL }
        var siteOptions = site
        var handoutCourse: URL?
        if let handoutFolder {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: handoutFolder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--exercises \(handoutFolder.path): no such folder")
            }
            // The site builder reads a course folder: one made of the handout folder alone.
            let course = try HandoutCourse.make(for: handoutFolder)
            handoutCourse = course
            if siteOptions.out == nil { siteOptions.out = course.appendingPathComponent("_site").path }
        }
        // Keep going: while writing, a failing cell should show in the page, not stop the server.
        var (builder, executor) = try siteOptions.makeBuilder(keepGoing: true)
        if let handoutCourse {
            builder.options.root = handoutCourse
            builder.options.renderer.sourceRoot = handoutCourse
            builder.options.mathCache = nil
            // A handout's answer cell is the student's own code: the page shows it once, as the
            // code to work on, with no "Show solution" copy.
            builder.options.renderer.includeSolutions = false
        }
        let engine = try EngineBuild(root: site.packageRoot)
        func rebuild() {
            do {
                let report = try handoutCourse == nil ? builder.build(executor: executor) : builder.build(executor: UnrunExecutor())
                for w in report.warnings { print("warning: \(w)") }
                for f in report.failures { print(f) }
                print(String(format: "built %d pages in %.2f s%@", report.pages, report.seconds,
                             report.failures.isEmpty ? "" : " (with \(report.failures.count) error(s) shown in the pages)"))
            } catch {
                print("error: \(error)")
            }
        }
        rebuild()
        let o = builder.options
        let folders: [NotebookServer.Folder] = handoutFolder.map { [NotebookServer.Folder(url: $0, sitePrefix: "exercises/", kind: .exercise)] }
            ?? [NotebookServer.Folder(url: o.root.appendingPathComponent("lessons"), sitePrefix: "lessons/", kind: .lesson),
                NotebookServer.Folder(url: o.root.appendingPathComponent("exercises"), sitePrefix: "exercises/", kind: .exercise)]
        var configuration = NotebookServer.Configuration(site: o.output, folders: folders, theme: try? Theme(directory: o.theme))
        configuration.readOnly = readOnly
        configuration.liveReload = !noReload
        configuration.port = port
        let work = (handoutCourse ?? o.root).appendingPathComponent(".workbook/serve")
        let server = NotebookServer(configuration: configuration, backend: LiveBackend(engine: engine, workDirectory: work))
        try server.start()
        // Ctrl-C or a kill: stop a running program (it runs in its own process group) before leaving.
        var stopSources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                server.stop()
                if let handoutCourse { try? FileManager.default.removeItem(at: handoutCourse) }
                print("\nstopped")
                Foundation.exit(0)
            }
            source.resume()
            stopSources.append(source)
        }
        print("serving \(o.output.path) (Ctrl-C to stop)")
        if readOnly {
            print("read-only site at \(server.url)")
        } else {
            print("notebook at \(server.url)")
            print("  open this URL: its token lets your browser run code on this machine; keep it to yourself")
        }
        var watcher = ChangeWatcher(folders: handoutFolder.map { [$0, o.theme] }
            ?? [o.root.appendingPathComponent("lessons"), o.root.appendingPathComponent("exercises"), o.theme])
        var pending = false
        while true {
            Thread.sleep(forTimeInterval: 1)
            if watcher.changed() { pending = true }
            // A run saves its file: rebuild once it is over (a successful run's outputs are cached
            // by then), not while the program still uses the CPU.
            if pending && !server.isRunning {
                pending = false
                print("change detected, rebuilding…")
                rebuild()
                server.siteRebuilt()
            }
        }
    }
}

/// The course folder `workbook serve --exercises DIR` builds its site from: `exercises` links to the
/// handout folder, `lessons` is empty. It lives in the system's temporary folder.
enum HandoutCourse {
    static func make(for handout: URL) throws -> URL {
        let fm = FileManager.default
        let course = fm.temporaryDirectory.appendingPathComponent("workbook-serve-\(getpid())")
        try? fm.removeItem(at: course)
        try fm.createDirectory(at: course.appendingPathComponent("lessons"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: course.appendingPathComponent("exercises"), withDestinationURL: handout)
        return course
    }
}
