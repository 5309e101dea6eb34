import Foundation

/// Where the engine library that lesson programs link against lives: the package root and its
/// release build of the `WorkbookKit` product.
///
/// The package root is, in order: the `root` argument, `WORKBOOK_PACKAGE_ROOT`, the nearest
/// folder above the current directory whose Package.swift declares `WorkbookKit`, or the package
/// this library was compiled from. The build folder is `WORKBOOK_ENGINE_BUILD_DIR` or
/// `<root>/.build/release`.
public struct EngineBuild: Sendable {
    public var packageRoot: URL
    public var buildDirectory: URL

    public init(root: String? = nil, buildDirectory: String? = nil) throws {
        let env = ProcessInfo.processInfo.environment
        let fm = FileManager.default
        func isPackageRoot(_ url: URL) -> Bool {
            guard let text = try? String(contentsOf: url.appendingPathComponent("Package.swift"), encoding: .utf8) else { return false }
            return text.contains("WorkbookKit")
        }
        var found: URL?
        if let given = root ?? env["WORKBOOK_PACKAGE_ROOT"] {
            let url = URL(fileURLWithPath: given).standardizedFileURL
            guard isPackageRoot(url) else {
                throw NotebookError(file: given, line: nil, "not the workbook package (no Package.swift declaring WorkbookKit)")
            }
            found = url
        } else {
            var dir = URL(fileURLWithPath: fm.currentDirectoryPath).standardizedFileURL
            while true {
                if isPackageRoot(dir) { found = dir; break }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
            if found == nil {
                let compiled = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                    .deletingLastPathComponent().deletingLastPathComponent()
                if isPackageRoot(compiled) { found = compiled }
            }
        }
        guard let packageRoot = found else {
            throw NotebookError(file: fm.currentDirectoryPath, line: nil,
                                "cannot find the workbook package; run from its folder or set WORKBOOK_PACKAGE_ROOT")
        }
        self.packageRoot = packageRoot
        let build = buildDirectory ?? env["WORKBOOK_ENGINE_BUILD_DIR"]
        self.buildDirectory = build.map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent(".build/release")
        self.buildDirectory = self.buildDirectory.resolvingSymlinksInPath()
    }

    #if os(macOS)
    static let libraryName = "libWorkbookKit.dylib"
    #else
    static let libraryName = "libWorkbookKit.so"
    #endif

    public var library: URL { buildDirectory.appendingPathComponent(Self.libraryName) }
    public var modules: URL { buildDirectory.appendingPathComponent("Modules") }

    /// Whether the library and the `Workbook` module are there.
    public var isBuilt: Bool {
        FileManager.default.fileExists(atPath: library.path)
            && FileManager.default.fileExists(atPath: modules.appendingPathComponent("Workbook.swiftmodule").path)
    }

    /// Runs `swift build -c release --product WorkbookKit` (a no-op when up to date).
    /// `ignoringLock`: for callers running inside `swift test` of this package, which holds the
    /// build folder's lock for the whole run (without touching the release products), so a plain
    /// `swift build` would wait for it forever.
    public func build(ignoringLock: Bool = false) throws {
        let process = ChildProcess(executable: "swift",
                                   arguments: ["build", "-c", "release", "--product", "WorkbookKit",
                                               "--package-path", packageRoot.path] + (ignoringLock ? ["--ignore-lock"] : []))
        let result = try process.run()
        guard result.termination == .exited(0) else {
            let log = String(decoding: result.stderr + result.stdout, as: UTF8.self)
            throw NotebookError(file: packageRoot.appendingPathComponent("Package.swift").path, line: nil,
                                "building the engine (swift build -c release --product WorkbookKit) failed:\n\(log)")
        }
    }

    /// The targets linked into `WorkbookKit` (what a lesson program runs).
    static let libraryTargets = ["Torch", "NN", "Optim", "Checkpoint", "Models", "Vision", "NotebookRuntime", "Recipes",
                                 "Workbook", "CEngineSupport", "CImageCodecs", "Digest", "ProgramRecords"]

    /// Whether a source file of the library (or Package.swift) is newer than the built library, so
    /// that lessons would otherwise run against an older engine than the checkout's.
    public var isStale: Bool {
        let fm = FileManager.default
        guard let built = (try? fm.attributesOfItem(atPath: library.path))?[.modificationDate] as? Date else { return true }
        // Files only: a folder's time changes when anything is added to it, even build litter.
        func newer(_ path: String) -> Bool {
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular else { return false }
            return (attributes[.modificationDate] as? Date).map { $0 > built } ?? false
        }
        if newer(packageRoot.appendingPathComponent("Package.swift").path) { return true }
        for target in Self.libraryTargets {
            let folder = packageRoot.appendingPathComponent("Sources").appendingPathComponent(target)
            guard let files = fm.enumerator(atPath: folder.path) else { continue }
            for case let file as String in files where newer(folder.appendingPathComponent(file).path) { return true }
        }
        return false
    }

    /// Builds when the library is missing or older than its sources (`swift build` itself decides
    /// what to recompile).
    public func ensureBuilt(ignoringLock: Bool = false) throws {
        if !isBuilt || isStale { try build(ignoringLock: ignoringLock) }
    }

    /// Clang module maps the engine's Swift modules import (system libraries and C targets).
    public var moduleMaps: [URL] {
        let fm = FileManager.default
        var maps: [URL] = []
        let sources = packageRoot.appendingPathComponent("Sources")
        for dir in (try? fm.contentsOfDirectory(atPath: sources.path))?.sorted() ?? [] {
            let map = sources.appendingPathComponent(dir).appendingPathComponent("module.modulemap")
            if fm.fileExists(atPath: map.path) { maps.append(map) }
        }
        // System-library targets of the package's dependencies (ZIPFoundation's CZlib) keep their
        // maps in the checkout.
        // The build folder is `<scratch>/release` or `<scratch>/<triple>/release`; its checkouts sit in `<scratch>`.
        let scratch = [buildDirectory.deletingLastPathComponent(), buildDirectory.deletingLastPathComponent().deletingLastPathComponent()]
        let checkouts = scratch.map { $0.appendingPathComponent("checkouts") }.first { fm.fileExists(atPath: $0.path) }
            ?? packageRoot.appendingPathComponent(".build/checkouts")
        for package in (try? fm.contentsOfDirectory(atPath: checkouts.path))?.sorted() ?? [] {
            let dependencySources = checkouts.appendingPathComponent(package).appendingPathComponent("Sources")
            for dir in (try? fm.contentsOfDirectory(atPath: dependencySources.path))?.sorted() ?? [] {
                let map = dependencySources.appendingPathComponent(dir).appendingPathComponent("module.modulemap")
                if fm.fileExists(atPath: map.path) { maps.append(map) }
            }
        }
        for dir in (try? fm.contentsOfDirectory(atPath: buildDirectory.path))?.sorted() ?? [] where dir.hasSuffix(".build") {
            let map = buildDirectory.appendingPathComponent(dir).appendingPathComponent("module.modulemap")
            if fm.fileExists(atPath: map.path) { maps.append(map) }
        }
        return maps
    }

    /// Identifies the engine build for cache keys: the library's size and modification time.
    public var fingerprint: String {
        let attributes = (try? FileManager.default.attributesOfItem(atPath: library.path)) ?? [:]
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(size)-\(String(format: "%.6f", mtime))"
    }

    nonisolated(unsafe) private static var toolchainCache: String?

    /// `swiftc --version`, first line.
    public static func toolchainVersion() -> String {
        if let cached = toolchainCache { return cached }
        let result = try? ChildProcess(executable: "swiftc", arguments: ["--version"]).run()
        let text = result.map { String(decoding: $0.stdout + $0.stderr, as: UTF8.self) } ?? "unknown"
        let version = text.split(separator: "\n").first.map(String.init) ?? "unknown"
        toolchainCache = version
        return version
    }
}
