import ArgumentParser
import Foundation
import Site

/// `workbook serve`: builds the site, serves it on 127.0.0.1 and rebuilds when lessons,
/// exercises or the theme change; open pages reload themselves after a rebuild.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Build the site, serve it on localhost and rebuild on changes.")

    @OptionGroup var site: SiteBuildOptions

    @Option(help: "Port on 127.0.0.1.")
    var port: UInt16 = 8000

    @Flag(help: "Do not add the auto-reload script to served pages.")
    var noReload = false

    func run() throws {
        // Progress lines should show up at once even when the output is piped to a file.
        setvbuf(stdout, nil, _IOLBF, 0)
        // Keep going: while writing, a failing cell should show in the page, not stop the server.
        let (builder, executor) = try site.makeBuilder(keepGoing: true)
        func rebuild() {
            do {
                let report = try builder.build(executor: executor)
                for w in report.warnings { print("warning: \(w)") }
                for f in report.failures { print(f) }
                print(String(format: "built %d pages in %.2f s%@", report.pages, report.seconds,
                             report.failures.isEmpty ? "" : " (with \(report.failures.count) error(s) shown in the pages)"))
            } catch {
                print("error: \(error)")
            }
        }
        rebuild()
        let server = StaticServer(root: builder.options.output, liveReload: !noReload)
        try server.start(port: port)
        print("serving \(builder.options.output.path) at http://127.0.0.1:\(server.port)/ (Ctrl-C to stop)")
        let o = builder.options
        var watcher = ChangeWatcher(folders: [o.root.appendingPathComponent("lessons"),
                                              o.root.appendingPathComponent("exercises"), o.theme])
        while true {
            Thread.sleep(forTimeInterval: 1)
            if watcher.changed() {
                print("change detected, rebuilding…")
                rebuild()
                server.generation += 1
            }
        }
    }
}
