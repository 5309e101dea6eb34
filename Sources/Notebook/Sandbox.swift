import Foundation
import ProgramRecords
#if canImport(Glibc)
import Glibc
#endif

/// Limits for one untrusted process.
public struct SandboxLimits: Sendable, Hashable {
    /// Wall-clock seconds before the process group (and, when isolated, the whole sandbox) is killed.
    public var wallSeconds: Double = 60
    /// RLIMIT_CPU seconds.
    public var cpuSeconds: Int = 60
    /// RLIMIT_AS bytes. Generous: OpenBLAS and Swift reserve address space for thread stacks.
    public var memoryBytes: Int = 4 << 30
    /// Bytes of stdout and of stderr kept each; the rest is read and dropped.
    public var outputBytes: Int = 64 << 10
    /// RLIMIT_FSIZE: no file the process writes (the answers file included) can grow past this.
    public var fileBytes: Int = 2 << 20
    /// Processes the program may run at once (RLIMIT_NPROC over its own uid's processes).
    public var processes: Int = 256
    /// Longest record line on fd 3 the host reads, and how many records it keeps (the latest).
    public var recordLineBytes: Int = 64 << 10
    public var recordsKept: Int = 100_000
    /// Size of the isolated program's writable working folder (a tmpfs that vanishes with it).
    public var scratchBytes: Int = 64 << 20
    /// Size of each of its private /tmp and /dev/shm.
    public var temporaryBytes: Int = 16 << 20
    public init() {}
}

/// Runs untrusted programs (student submissions) with limits and, where the machine allows it,
/// isolated by bubblewrap (`bwrap`): an empty root holding read-only binds of only the system
/// libraries (with /etc/alternatives and the loader's cache), the toolchain's runtime, and copies
/// of the engine's libraries, the program and its inputs (see `Stage`), plus the dataset folders;
/// its working folder (`/scratch`), /tmp and /dev/shm are small tmpfs mounts that vanish with it;
/// its own user, pid, network (loopback only), ipc and uts namespaces; no new user namespaces
/// inside; a new session; no inherited descriptor (`SpawnedProcess`); killed with its host process.
/// When the host is root the sandbox runs as a leased uid of its own (`UIDLease`); otherwise as
/// the host's user through an unprivileged user namespace. Where neither works (no bwrap, user
/// namespaces disabled) only the resource limits apply (`prlimit`); `isolated` tells which.
///
/// What the program may hand back are the `outputs`: single host files bound read-write into its
/// working folder (a bind mount cannot be renamed, unlinked or linked over), read after it ended
/// with `UntrustedFile` (no link followed, regular files only, capped) into `Outcome.outputFiles`.
public struct Sandbox: Sendable {
    /// A file the program writes and the host reads back: `name` in its working folder, its path
    /// given to the program in the environment variable `variable`.
    public struct Output: Sendable, Hashable {
        public var name: String
        public var variable: String
        public init(name: String, variable: String) {
            self.name = name
            self.variable = variable
        }
    }

    /// A host file bound read-only at `relativePath` in the program's working folder.
    public struct Input: Sendable, Hashable {
        public var host: URL
        public var relativePath: String
        public init(host: URL, relativePath: String) {
            self.host = host
            self.relativePath = relativePath
        }
    }

    public var limits: SandboxLimits
    /// Host folders that must never be visible inside (exercises with hidden checks, other
    /// submissions, gradebooks, checker builds): a bind from inside one of them is refused.
    public var hidden: [String]
    /// The uid the program would like to run as when isolated as root (the host lends it the first
    /// free one from there: see `UIDLease`).
    public var uid: UInt32?
    /// Isolate where the machine allows it; false: resource limits only, for trusted programs
    /// such as checkers (and the student's own `workbook test`, where isolation is unavailable).
    public var isolates: Bool
    /// Shared libraries the program links against besides the system's and the toolchain's (the
    /// engine's): bound read-only into one folder on the loader's path.
    public var libraries: [URL]
    /// Files bound read-only into the working folder (the exercise's declared inputs).
    public var inputs: [Input]
    /// Files the program writes and the host keeps.
    public var outputs: [Output]
    /// Host folders bound read-only at their own path.
    public var sharedFolders: [String]

    /// Folders every isolated program may read: Debian's datasets (Fashion-MNIST's default root).
    public static let defaultSharedFolders = ["/usr/share/datasets"]
    /// The working folder inside, and where the program and the libraries are bound.
    public static let scratchInside = "/scratch"
    static let binaryInside = "/workbook/bin"
    static let librariesInside = "/workbook/lib"

    public init(limits: SandboxLimits = SandboxLimits(), hidden: [String] = [], uid: UInt32? = nil, isolates: Bool = true,
                libraries: [URL] = [], inputs: [Input] = [], outputs: [Output] = [],
                sharedFolders: [String] = Sandbox.defaultSharedFolders) {
        self.limits = limits
        self.hidden = hidden
        self.uid = uid
        self.isolates = isolates
        self.libraries = libraries
        self.inputs = inputs
        self.outputs = outputs
        self.sharedFolders = sharedFolders
    }

    static let bwrap = "/usr/bin/bwrap"
    static let setpriv = "/usr/bin/setpriv"
    static let prlimit = "/usr/bin/prlimit"
    static let prlimitAvailable = FileManager.default.isExecutableFile(atPath: prlimit)
    static var isRoot: Bool { getuid() == 0 }

    /// Tests set this to `unavailable` to see how the tool behaves on a machine without isolation.
    public static let probeOverrideVariable = "WORKBOOK_SANDBOX_PROBE"

    /// Why untrusted programs cannot be isolated here, or nil when they can. Found by starting one
    /// sandbox (bwrap with every option a program gets, as a leased uid when root), once.
    public static let isolationProblem: String? = {
        #if os(Linux)
        if ProcessInfo.processInfo.environment[probeOverrideVariable] == "unavailable" {
            return "isolation disabled by \(probeOverrideVariable)=unavailable"
        }
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: bwrap) else {
            return "bubblewrap is not installed (\(bwrap)); install it with `sudo apt-get install bubblewrap`"
        }
        if isRoot {
            for tool in [setpriv, prlimit] where !fm.isExecutableFile(atPath: tool) {
                return "\(tool) is missing (Debian's util-linux provides it)"
            }
        }
        return probe()
        #else
        return "isolation needs Linux (bubblewrap and namespaces)"
        #endif
    }()

    public static var isolationAvailable: Bool { isolationProblem == nil }

    /// How to make isolation work, for the messages that refuse to grade without it.
    public static let enablingAdvice = """
        Student programs are isolated with bubblewrap, which needs unprivileged user namespaces (or \
        grading as root). Install it (`sudo apt-get install bubblewrap`) and enable user namespaces: \
        `sudo sysctl kernel.unprivileged_userns_clone=1` (Debian kernels) and \
        `sudo sysctl user.max_user_namespaces=10000` (and, on Ubuntu 24.04 and later, \
        `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`); in a container, allow them \
        (e.g. Docker's --security-opt seccomp=unconfined) or run the grader as root inside it
        """

    /// Starts `/usr/bin/true` in a full sandbox.
    static func probe() -> String? {
        let truth = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/bin/true") ? "/usr/bin/true" : "/bin/true")
        var sandbox = Sandbox(limits: SandboxLimits(), uid: UIDLease.range.upperBound, sharedFolders: [])
        sandbox.limits.wallSeconds = 20
        var lease: UIDLease?
        do {
            if isRoot { lease = try UIDLease.acquire(preferring: UIDLease.range.upperBound); sandbox.uid = lease!.uid }
            defer { lease?.release() }
            let stage = try Stage(sandbox: sandbox)
            defer { stage.remove() }
            let (launch, _) = try sandbox.isolatedLaunch(ProgramHost.Launch(executable: truth.path, environment: [:]), stage: stage)
            let started = Date()
            let result = try ChildProcess(executable: launch.executable, arguments: launch.arguments,
                                          environment: launch.environment).run(check: { Date().timeIntervalSince(started) > 20 })
            if result.termination == .exited(0) { return nil }
            let why = String(decoding: result.stderr.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return "bubblewrap cannot start a sandbox here (\(why.isEmpty ? "\(result.termination)" : why))"
        } catch {
            return "bubblewrap cannot start a sandbox here (\(error))"
        }
    }

    /// Whether this sandbox isolates its program (asked for, and possible here).
    public var isolated: Bool { isolates && Self.isolationAvailable }

    /// The environment every sandboxed program gets besides the launch's own.
    func baseEnvironment(_ launch: ProgramHost.Launch, home: String) -> [String: String] {
        var env = launch.environment
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["LANG"] = "C.UTF-8"
        env["SWIFT_BACKTRACE"] = "enable=no"
        if isolates {
            env["HOME"] = home
            env["TMPDIR"] = home
        }
        return env
    }

    var bounds: ProgramHost.Bounds {
        ProgramHost.Bounds(outputCap: limits.outputBytes, wallSeconds: limits.wallSeconds,
                           recordLineBytes: limits.recordLineBytes, recordsKept: limits.recordsKept)
    }

    func limitArguments(processes: Int?) -> [String] {
        var args = ["--cpu=\(limits.cpuSeconds)", "--as=\(limits.memoryBytes)", "--fsize=\(limits.fileBytes)", "--core=0"]
        if let processes { args += ["--nofile=256", "--nproc=\(processes)"] }
        return args
    }

    /// The launch without isolation: resource limits only, in the launch's own directory, where
    /// the inputs are copied and the outputs are plain files.
    func limitedLaunch(_ launch: ProgramHost.Launch) throws -> ProgramHost.Launch {
        let directory = launch.directory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        var wrapped = launch
        wrapped.environment = baseEnvironment(launch, home: directory.path)
        let fm = FileManager.default
        for input in inputs {
            let target = directory.appendingPathComponent(input.relativePath).standardizedFileURL
            guard target.path != input.host.standardizedFileURL.path else { continue }
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? fm.removeItem(at: target)
            try fm.copyItem(at: input.host, to: target)
        }
        for output in outputs {
            let file = directory.appendingPathComponent(output.name)
            try? FileManager.default.removeItem(at: file)
            try Data().write(to: file)
            wrapped.environment[output.variable] = file.path
        }
        if Self.prlimitAvailable {
            wrapped.executable = Self.prlimit
            wrapped.arguments = limitArguments(processes: nil) + ["--", launch.executable] + launch.arguments
        }
        wrapped.directory = directory
        return wrapped
    }

    /// The bwrap command line that runs `launch` isolated, with `stage` holding what it binds.
    func isolatedLaunch(_ launch: ProgramHost.Launch, stage: Stage) throws -> (ProgramHost.Launch, [String]) {
        let fm = FileManager.default
        var args = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                    "--cap-drop", "ALL", "--hostname", "sandbox"]
        // System libraries and the loader, laid out as on the host (/lib is usually a link into /usr).
        for path in ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/lib32", "/usr/lib32"] {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFLNK {
                guard let target = try? fm.destinationOfSymbolicLink(atPath: path) else { continue }
                args += ["--symlink", target, path]
            } else {
                args += ["--ro-bind", path, path]
            }
        }
        // Debian's alternatives (libopenblas.so.0 is a link through /etc/alternatives) and the
        // loader's cache: links and library paths only, nothing else of /etc.
        for path in ["/etc/alternatives", "/etc/ld.so.cache"] where fm.fileExists(atPath: path) {
            args += ["--ro-bind", path, path]
        }
        var loaderPath: [String] = []
        if let runtime = Self.toolchainRuntime {
            args += ["--ro-bind", try stage.shared(runtime, onlyIfUnreachable: true), runtime]
            loaderPath.append(runtime)
        }
        for library in libraries {
            args += ["--ro-bind", try stage.shared(library.path, onlyIfUnreachable: false), "\(Self.librariesInside)/\(library.lastPathComponent)"]
        }
        if !libraries.isEmpty { loaderPath.insert(Self.librariesInside, at: 0) }
        for folder in sharedFolders where fm.fileExists(atPath: folder) {
            try refuseHidden(folder)
            args += ["--ro-bind", try stage.shared(folder, onlyIfUnreachable: true), folder]
        }
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--size", String(limits.temporaryBytes), "--tmpfs", "/dev/shm",
                 "--size", String(limits.temporaryBytes), "--tmpfs", "/tmp",
                 "--size", String(limits.scratchBytes), "--perms", "0700", "--tmpfs", Self.scratchInside]
        for input in inputs {
            try refuseHidden(input.host.path)
            let relative = input.relativePath.split(separator: "/").filter { $0 != ".." && $0 != "." }.joined(separator: "/")
            args += ["--ro-bind", try stage.copy(input.host), "\(Self.scratchInside)/\(relative)"]
        }
        var env = baseEnvironment(launch, home: Self.scratchInside)
        for output in outputs {
            args += ["--bind", try stage.output(output.name), "\(Self.scratchInside)/\(output.name)"]
            env[output.variable] = "\(Self.scratchInside)/\(output.name)"
        }
        let executable = URL(fileURLWithPath: launch.executable)
        let inside = "\(Self.binaryInside)/\(executable.lastPathComponent)"
        args += ["--ro-bind", try stage.copy(executable), inside]
        // Nothing outside the tmpfs mounts is writable: the root and /dev are bwrap's own tmpfs.
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", Self.scratchInside]
        if !loaderPath.isEmpty { env["LD_LIBRARY_PATH"] = loaderPath.joined(separator: ":") }
        var command = [Self.prlimit] + limitArguments(processes: stage.processLimit(limits.processes)) + ["--", Self.bwrap] + args
        command += ["--", inside] + launch.arguments
        if let uid = stage.uid {
            command = [Self.setpriv, "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--no-new-privs", "--"] + command
        }
        var wrapped = launch
        wrapped.executable = command[0]
        wrapped.arguments = Array(command.dropFirst())
        wrapped.environment = env
        // Somewhere every uid can stand while bwrap starts (the host's own folder may be private).
        wrapped.directory = URL(fileURLWithPath: "/")
        return (wrapped, args)
    }

    func refuseHidden(_ path: String) throws {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for folder in hidden {
            let f = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
            if resolved == f || resolved.hasPrefix(f + "/") {
                throw NotebookError(file: path, line: nil, "the sandbox does not bind a file inside the hidden folder \(folder)")
            }
        }
    }

    /// The toolchain's runtime libraries (`…/usr/lib/swift/linux`), found from `swiftc` on PATH.
    static let toolchainRuntime: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("swiftc")
            guard FileManager.default.isExecutableFile(atPath: candidate.path) else { continue }
            let usr = candidate.resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
            let runtime = usr.appendingPathComponent("lib/swift/linux").path
            if FileManager.default.fileExists(atPath: runtime) { return runtime }
        }
        return nil
    }()

    /// Runs `launch` in this sandbox (see `ProgramHost.run(_:policy:)`).
    func run(_ launch: ProgramHost.Launch, onRecord: (Record, Double) -> Void, onOutput: (ProgramHost.Stream, Data) -> Void = { _, _ in },
             shouldStop: () -> Bool) throws -> ProgramHost.Outcome {
        guard isolated else {
            let wrapped = try limitedLaunch(launch)
            var outcome = try ProgramHost.run(wrapped, bounds: bounds, onRecord: onRecord, onOutput: onOutput, shouldStop: shouldStop)
            for output in outputs {
                outcome.outputFiles[output.name] = UntrustedFile.read(wrapped.directory!.appendingPathComponent(output.name), limit: limits.fileBytes)
            }
            return outcome
        }
        // The sandbox's uid is a preference: the program runs under one no other running program holds.
        var sandbox = self
        var lease: UIDLease?
        if Self.isRoot {
            lease = try UIDLease.acquire(preferring: uid ?? UIDLease.range.lowerBound)
            sandbox.uid = lease!.uid
        }
        defer {
            if let lease {
                // The pid namespace died with the sandbox; this catches anything that slipped out.
                Self.killAll(uid: lease.uid)
                lease.release()
            }
        }
        let stage = try Stage(sandbox: sandbox)
        defer { stage.remove() }
        let (wrapped, _) = try sandbox.isolatedLaunch(launch, stage: stage)
        var outcome = try ProgramHost.run(wrapped, bounds: bounds, onRecord: onRecord, onOutput: onOutput, shouldStop: shouldStop)
        // bwrap exits with 128 + the signal that ended its program (SIGXCPU, SIGXFSZ, SIGKILL…).
        if case .exited(let code) = outcome.ending, code > 128, code < 128 + 65 { outcome.ending = .signalled(code - 128) }
        for output in outputs {
            outcome.outputFiles[output.name] = UntrustedFile.read(stage.outputFile(output.name), limit: limits.fileBytes)
        }
        return outcome
    }

    /// Kills every process of `uid` (escaped, double-forked children included).
    static func killAll(uid: UInt32) {
        _ = try? ChildProcess(executable: setpriv,
                              arguments: ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", "/bin/kill", "-9", "-1"]).run()
    }
}

extension Sandbox {
    /// The host side of one isolated run: a folder holding the output files (owned by the run's
    /// uid when root) and copies of the program, its inputs and its libraries. Copies, because
    /// bwrap resolves every bind source as the user it runs as (a checkout under /root is out of
    /// a leased uid's reach), and because a bind's source path shows in the program's
    /// /proc/self/mountinfo (the checkout's paths must not). Removed after the run: nothing the
    /// program wrote survives but what the host read back.
    final class Stage {
        let folder: URL
        /// Where the stages and the shared copies live.
        let base: URL
        let uid: UInt32?
        private var copies = 0

        /// Where stages live when root: a folder every leased uid can traverse but not list.
        static let rootFolder = "/run/workbook-sandbox"

        /// Where they live otherwise: the user's runtime folder (a tmpfs that allows executables,
        /// where /tmp may be mounted noexec), else the temporary folder.
        static let userFolder: URL = {
            if let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !runtime.isEmpty,
               access(runtime, W_OK | X_OK) == 0 {
                return URL(fileURLWithPath: runtime).appendingPathComponent("workbook-sandbox")
            }
            return FileManager.default.temporaryDirectory.appendingPathComponent("workbook-sandbox-\(getuid())")
        }()

        init(sandbox: Sandbox) throws {
            uid = Sandbox.isRoot ? sandbox.uid : nil
            base = uid != nil ? URL(fileURLWithPath: Self.rootFolder) : Self.userFolder
            mkdir(base.path, uid != nil ? 0o711 : 0o700)
            if uid != nil { chmod(base.path, 0o711) }
            Self.sweepOnce(base)
            let name = UUID().uuidString
            folder = base.appendingPathComponent(name)
            // Held while the stage exists; a stage whose lock nobody holds is a dead grader's.
            lock = open(base.appendingPathComponent(name + ".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if lock >= 0 { flock(lock, LOCK_EX) }
            guard mkdir(folder.path, 0o711) == 0 else {
                if lock >= 0 { unlink(folder.path + ".lock"); close(lock) }
                throw NotebookError(file: folder.path, line: nil, "cannot make the sandbox's folder: \(String(cString: strerror(errno)))")
            }
            chmod(folder.path, 0o711)
        }

        private let lock: Int32
        private static let sweepLock = NSLock()
        nonisolated(unsafe) private static var swept: Set<String> = []

        /// Removes, once per process, the stages of graders that died mid-run (their locks are free).
        static func sweepOnce(_ base: URL) {
            sweepLock.lock()
            defer { sweepLock.unlock() }
            guard swept.insert(base.path).inserted else { return }
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? [] where entry.hasSuffix(".lock") {
                let lockPath = base.appendingPathComponent(entry).path
                let fd = open(lockPath, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { continue }
                if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                    try? FileManager.default.removeItem(at: base.appendingPathComponent(String(entry.dropLast(5))))
                    unlink(lockPath)
                }
                close(fd)
            }
        }

        /// An empty file for `name`, writable by the run.
        func outputFile(_ name: String) -> URL {
            folder.appendingPathComponent("out-" + name.replacingOccurrences(of: "/", with: "_"))
        }

        func output(_ name: String) throws -> String {
            let file = outputFile(name)
            let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw NotebookError(file: file.path, line: nil, "cannot create: \(String(cString: strerror(errno)))") }
            if let uid { fchown(fd, uid, uid) }
            close(fd)
            return file.path
        }

        /// A copy of the file `url` in this stage. The checkout's paths never appear in a bind's
        /// source, which the program can read in /proc/self/mountinfo.
        func copy(_ url: URL) throws -> String {
            copies += 1
            let target = folder.appendingPathComponent("in-\(copies)-\(url.lastPathComponent)")
            do {
                try FileManager.default.copyItem(at: url, to: target)
            } catch {
                throw NotebookError(file: url.path, line: nil, "cannot copy into the sandbox's folder: \(error.localizedDescription)")
            }
            chmod(target.path, 0o755)
            return target.path
        }

        /// The file in a shared copy's folder naming the path it copies.
        static let sourceRecord = ".source"

        /// A copy of `path` kept (by path, size and modification time) beside the stages for the
        /// next runs, replacing older copies of the same path (an engine rebuilt); or, with
        /// `onlyIfUnreachable`, `path` itself when the run's user can reach it (system folders).
        func shared(_ path: String, onlyIfUnreachable: Bool) throws -> String {
            if onlyIfUnreachable && (uid == nil || Self.isReachable(path)) { return path }
            let fm = FileManager.default
            let attributes = (try? fm.attributesOfItem(atPath: path)) ?? [:]
            var place = SHA256(), version = SHA256()
            place.update(path)
            version.update("\(attributes[.size] ?? "")\n\(attributes[.modificationDate] ?? "")\n")
            let prefix = "shared-\(place.finalize().prefix(12))-"
            let cached = base.appendingPathComponent(prefix + version.finalize().prefix(12))
            let copy = cached.appendingPathComponent(URL(fileURLWithPath: path).lastPathComponent)
            if fm.fileExists(atPath: copy.path) { return copy.path }
            let temporary = base.appendingPathComponent(".shared-\(UUID().uuidString)")
            try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
            try fm.copyItem(at: URL(fileURLWithPath: path), to: temporary.appendingPathComponent(copy.lastPathComponent))
            try Data(path.utf8).write(to: temporary.appendingPathComponent(Self.sourceRecord))
            // Readable by every leased uid: folders searchable, files readable.
            chmod(temporary.path, 0o755)
            for item in fm.enumerator(atPath: temporary.path)?.allObjects as? [String] ?? [] {
                let itemPath = temporary.appendingPathComponent(item).path
                var info = stat()
                guard lstat(itemPath, &info) == 0, (info.st_mode & S_IFMT) != S_IFLNK else { continue }
                chmod(itemPath, (info.st_mode & 0o7777) | ((info.st_mode & S_IFMT) == S_IFDIR ? 0o555 : 0o444))
            }
            if try AtomicRename.renameNoReplace(temporary, to: cached) {
                // Older copies of this path (an engine rebuilt), and copies of paths that are gone
                // (a checkout removed): nothing will bind them again, and the base may be in RAM.
                for old in (try? fm.contentsOfDirectory(atPath: base.path)) ?? []
                where old.hasPrefix("shared-") && old != cached.lastPathComponent {
                    let folder = base.appendingPathComponent(old)
                    let source = (try? String(contentsOf: folder.appendingPathComponent(Self.sourceRecord), encoding: .utf8)) ?? ""
                    if old.hasPrefix(prefix) || (!source.isEmpty && !fm.fileExists(atPath: source)) {
                        try? fm.removeItem(at: folder)
                    }
                }
            } else {
                try? fm.removeItem(at: temporary)
            }
            return copy.path
        }

        /// Whether any user can reach and read `path`: every folder above it searchable by others,
        /// the item itself readable (and a folder searchable).
        static func isReachable(_ path: String) -> Bool {
            var prefix = ""
            let components = URL(fileURLWithPath: path).standardizedFileURL.pathComponents.dropFirst()
            for (index, component) in components.enumerated() {
                prefix += "/" + component
                var info = stat()
                guard stat(prefix, &info) == 0 else { return false }
                let isLast = index == components.count - 1
                let mode = info.st_mode
                if isLast {
                    if mode & S_IROTH == 0 { return false }
                    if (mode & S_IFMT) == S_IFDIR && mode & S_IXOTH == 0 { return false }
                } else if mode & S_IXOTH == 0 {
                    return false
                }
            }
            return true
        }

        /// RLIMIT_NPROC counts every process of the real uid: the leased uid runs nothing else,
        /// while the host's own user may already run many.
        func processLimit(_ allowed: Int) -> Int {
            if uid != nil { return allowed }
            let me = getuid()
            var count = 0
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where name.first?.isNumber == true {
                var info = stat()
                if stat("/proc/\(name)", &info) == 0 && info.st_uid == me { count += 1 }
            }
            return count + allowed
        }

        func remove() {
            try? FileManager.default.removeItem(at: folder)
            unlink(folder.path + ".lock")
            if lock >= 0 { close(lock) }
        }
    }
}

/// A uid lent to one sandboxed program for as long as it runs. Every process of a sandbox's uid is
/// killed when its program ends, so two programs running at once, in this process or in another
/// grader on the machine (a second grading run, a parallel test), must never share one: each uid is
/// held by an exclusive `flock` on a file under `/run`, which the kernel drops if the holder dies.
/// Uids that belong to an account (in the passwd database) are never lent.
struct UIDLease {
    let uid: UInt32
    private let fd: Int32

    static let directory = "/run/workbook-sandbox-uids"
    static let range: ClosedRange<UInt32> = 61000...79999

    /// The first free uid at or after `preferred` (wrapping around the range).
    static func acquire(preferring preferred: UInt32) throws -> UIDLease {
        mkdir(directory, 0o700)
        let count = UInt32(range.count)
        let start = range.contains(preferred) ? preferred - range.lowerBound : 0
        for step in 0..<count {
            let uid = range.lowerBound + (start + step) % count
            if isAccount(uid) { continue }
            let fd = open("\(directory)/\(uid)", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if fd < 0 { break }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return UIDLease(uid: uid, fd: fd) }
            close(fd)
        }
        throw NotebookError(file: directory, line: nil, "no free sandbox uid in \(range.lowerBound)...\(range.upperBound): \(String(cString: strerror(errno)))")
    }

    /// Whether `uid` is in the passwd database (`getpwuid_r`: leases are taken from several threads).
    static func isAccount(_ uid: UInt32) -> Bool {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        return getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0 && result != nil
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
