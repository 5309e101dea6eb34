import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Limits for one untrusted process.
public struct SandboxLimits: Sendable, Hashable {
    /// Wall-clock seconds before the process group (and, when isolated, every process of its uid)
    /// is killed.
    public var wallSeconds: Double = 60
    /// RLIMIT_CPU seconds.
    public var cpuSeconds: Int = 60
    /// RLIMIT_AS bytes. Generous: OpenBLAS and Swift reserve address space for thread stacks.
    public var memoryBytes: Int = 4 << 30
    /// Bytes of stdout and of stderr kept each; the rest is read and dropped.
    public var outputBytes: Int = 64 << 10
    /// RLIMIT_FSIZE: no file the process writes (the answers file included) can grow past this.
    public var fileBytes: Int = 2 << 20
    /// RLIMIT_NPROC for the process's own uid (isolated mode only: it counts per user).
    public var processes: Int = 256
    /// Longest record line on fd 3 the host reads, and how many records it keeps (the latest).
    public var recordLineBytes: Int = 64 << 10
    public var recordsKept: Int = 100_000
    public init() {}
}

/// Runs untrusted programs (student submissions) with limits, and, when the grader runs as
/// root on Linux, isolated: its own network namespace (no network), its own mount namespace in
/// which the given `hidden` folders are covered by empty, unreadable tmpfs mounts, and its own
/// uid (no access to the grader's private files or to other students' scratch folders; killed
/// as a whole, including double-forked children, by signalling every process of that uid).
/// Without root, only the resource limits apply (`prlimit`); `isolated` tells which.
public struct Sandbox: Sendable {
    public var limits: SandboxLimits
    /// Folders the program must not see (exercises with hidden checks, other submissions,
    /// gradebooks, checker builds).
    public var hidden: [String]
    /// The uid the program would like to run as when isolated (the host lends it the first free one
    /// from there: see `UIDLease`). Nil: no isolation.
    public var uid: UInt32?
    /// Isolate (namespaces, own uid) where the machine allows it; false: resource limits only,
    /// for trusted programs such as checkers.
    public var isolates: Bool
    public init(limits: SandboxLimits = SandboxLimits(), hidden: [String] = [], uid: UInt32? = nil, isolates: Bool = true) {
        self.limits = limits
        self.hidden = hidden
        self.uid = uid
        self.isolates = isolates
    }

    public static let isolationAvailable: Bool = {
        #if os(Linux)
        let fm = FileManager.default
        return getuid() == 0 && fm.isExecutableFile(atPath: "/usr/bin/unshare")
            && fm.isExecutableFile(atPath: "/usr/bin/setpriv") && fm.isExecutableFile(atPath: "/usr/bin/prlimit")
            && probe()
        #else
        return false
        #endif
    }()

    static let prlimitAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")

    /// Whether namespaces work here (a container may forbid them).
    static func probe() -> Bool {
        guard let r = try? ChildProcess(executable: "/usr/bin/unshare", arguments: ["--mount", "--net", "--", "/bin/true"]).run()
        else { return false }
        return r.termination == .exited(0)
    }

    public var isolated: Bool { isolates && uid != nil && Self.isolationAvailable }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The launch that runs `launch` under this sandbox, and the host's bounds. The environment is
    /// exactly the launch's plus PATH, LANG and, for untrusted programs, HOME and TMPDIR (the
    /// directory).
    func wrap(_ launch: ProgramHost.Launch) -> (ProgramHost.Launch, ProgramHost.Bounds) {
        var env = launch.environment
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["LANG"] = "C.UTF-8"
        env["SWIFT_BACKTRACE"] = "enable=no"
        let directory = launch.directory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        var limitArgs = ["--cpu=\(limits.cpuSeconds)", "--as=\(limits.memoryBytes)", "--fsize=\(limits.fileBytes)", "--core=0"]
        // An untrusted program's home and temporary folder are its scratch folder.
        if isolates {
            env["HOME"] = directory.path
            env["TMPDIR"] = directory.path
        }
        var wrapped = launch
        wrapped.environment = env
        if isolated, let uid {
            limitArgs.append("--nofile=256")
            chownTree(directory, uid: uid)
            var script = "set -e\n"
            for folder in hidden where FileManager.default.fileExists(atPath: folder) {
                script += "mount -t tmpfs -o size=4k,mode=000 none \(Self.quote(folder))\n"
            }
            script += "cd \(Self.quote(directory.path))\n"
            script += "exec /usr/bin/setpriv --reuid=\(uid) --regid=\(uid) --clear-groups --no-new-privs -- "
            script += "/usr/bin/prlimit \(limitArgs.joined(separator: " ")) --nproc=\(limits.processes) -- "
            script += ([launch.executable] + launch.arguments).map(Self.quote).joined(separator: " ")
            wrapped.executable = "/usr/bin/unshare"
            wrapped.arguments = ["--mount", "--net", "--", "/bin/sh", "-c", script]
            wrapped.directory = nil
        } else if Self.prlimitAvailable {
            wrapped.executable = "/usr/bin/prlimit"
            wrapped.arguments = limitArgs + ["--", launch.executable] + launch.arguments
            wrapped.directory = directory
        }
        return (wrapped, ProgramHost.Bounds(outputCap: limits.outputBytes, wallSeconds: limits.wallSeconds,
                                            recordLineBytes: limits.recordLineBytes, recordsKept: limits.recordsKept))
    }

    /// Kills every process of `uid` (escaped, double-forked children included).
    static func killAll(uid: UInt32) {
        _ = try? ChildProcess(executable: "/usr/bin/setpriv",
                              arguments: ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", "/bin/kill", "-9", "-1"]).run()
    }

    func chownTree(_ directory: URL, uid: UInt32) {
        chmod(directory.path, 0o700)
        chown(directory.path, uid, uid)
        let items = (try? FileManager.default.subpathsOfDirectory(atPath: directory.path)) ?? []
        for item in items {
            lchown(directory.appendingPathComponent(item).path, uid, uid)
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
