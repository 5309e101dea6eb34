import Foundation
import Notebook
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
    public init() {}
}

/// How a sandboxed process ended.
public struct SandboxResult: @unchecked Sendable {
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
    }
    public var ending: Ending
    public var stdout: String
    public var stderr: String
    /// Bytes dropped beyond `outputBytes` (stdout + stderr).
    public var droppedOutputBytes: Int
    /// Record lines from fd 3 (when requested), only those shorter than 64 KiB.
    public var records: [[String: Any]]
    public var seconds: Double
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
    public init(limits: SandboxLimits = SandboxLimits(), hidden: [String] = []) {
        self.limits = limits
        self.hidden = hidden
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

    public var isolated: Bool { Self.isolationAvailable }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Runs `executable` in `directory`, as `uid` when isolated. The environment is exactly
    /// `environment` plus PATH, HOME (the directory), LANG and TMPDIR.
    public func run(executable: String, arguments: [String] = [], directory: URL, environment: [String: String],
                    uid: UInt32, recordChannel: Bool = false) throws -> SandboxResult {
        var env = environment
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["HOME"] = directory.path
        env["TMPDIR"] = directory.path
        env["LANG"] = "C.UTF-8"
        env["SWIFT_BACKTRACE"] = "enable=no"
        let limitArgs = ["--cpu=\(limits.cpuSeconds)", "--as=\(limits.memoryBytes)", "--fsize=\(limits.fileBytes)",
                         "--core=0", "--nofile=256"]
        var command: [String]
        if isolated {
            chownTree(directory, uid: uid)
            var script = "set -e\n"
            for folder in hidden where FileManager.default.fileExists(atPath: folder) {
                script += "mount -t tmpfs -o size=4k,mode=000 none \(Self.quote(folder))\n"
            }
            script += "cd \(Self.quote(directory.path))\n"
            script += "exec /usr/bin/setpriv --reuid=\(uid) --regid=\(uid) --clear-groups --no-new-privs -- "
            script += "/usr/bin/prlimit \(limitArgs.joined(separator: " ")) --nproc=\(limits.processes) -- "
            script += ([executable] + arguments).map(Self.quote).joined(separator: " ")
            command = ["/usr/bin/unshare", "--mount", "--net", "--", "/bin/sh", "-c", script]
        } else if Self.prlimitAvailable {
            command = ["/usr/bin/prlimit"] + limitArgs + ["--", executable] + arguments
        } else {
            command = [executable] + arguments
        }
        if !isolated { command = ["/usr/bin/env", "-C", directory.path, "--"] + command }
        let result = try spawn(command, directory: directory, environment: env, recordChannel: recordChannel)
        if isolated { Self.killAll(uid: uid) }
        return result
    }

    /// Runs a trusted program (a checker) with the resource limits only, as the grader's own user.
    public func runUnisolated(executable: String, arguments: [String] = [], directory: URL,
                              environment: [String: String], recordChannel: Bool = false) throws -> SandboxResult {
        var env = environment
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["LANG"] = "C.UTF-8"
        env["SWIFT_BACKTRACE"] = "enable=no"
        let limitArgs = ["--cpu=\(limits.cpuSeconds)", "--as=\(limits.memoryBytes)", "--fsize=\(limits.fileBytes)", "--core=0"]
        let command = ["/usr/bin/env", "-C", directory.path, "--"]
            + (Self.prlimitAvailable ? ["/usr/bin/prlimit"] + limitArgs + ["--", executable] + arguments : [executable] + arguments)
        return try spawn(command, directory: directory, environment: env, recordChannel: recordChannel)
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

    func spawn(_ command: [String], directory: URL, environment: [String: String],
               recordChannel: Bool) throws -> SandboxResult {
        let start = Date()
        let process = try SpawnedProcess.start(command, environment: environment, recordChannel: recordChannel,
                                               nonBlockingReads: true)
        let pid = process.pid
        let out = process.stdout, err = process.stderr, rec = process.records

        var kept: [Int32: Data] = [out: Data(), err: Data()]
        var dropped = 0
        var recordBuffer = Data()
        var records: [[String: Any]] = []
        var open: Set<Int32> = [out, err]
        if let rec { open.insert(rec) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var status: Int32? = nil
        var exitedAt: Date?
        var timedOut = false
        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&polls, nfds_t(polls.count), 100) > 0 {
                for p in polls where p.revents != 0 {
                    // Drain what is there now, up to 1 MiB per wake-up so the clock is checked.
                    var budget = 1 << 20
                    while budget > 0 {
                        let n = read(p.fd, &buffer, buffer.count)
                        if n < 0 && (errno == EINTR) { continue }
                        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                        if n <= 0 { open.remove(p.fd); break }
                        budget -= n
                        if p.fd == rec {
                            recordBuffer.append(contentsOf: buffer[0..<n])
                            while let nl = recordBuffer.firstIndex(of: UInt8(ascii: "\n")) {
                                let line = recordBuffer[recordBuffer.startIndex..<nl]
                                if line.count < 65536,
                                   let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] {
                                    records.append(object)
                                    if records.count > 100_000 { records.removeFirst(50_000) }
                                }
                                recordBuffer.removeSubrange(recordBuffer.startIndex...nl)
                            }
                            if recordBuffer.count > 1 << 20 { recordBuffer.removeAll() }
                        } else {
                            let room = limits.outputBytes - kept[p.fd]!.count
                            if room > 0 { kept[p.fd]!.append(contentsOf: buffer[0..<min(n, room)]) }
                            dropped += max(0, n - max(room, 0))
                        }
                    }
                }
            }
            if status == nil {
                var s: Int32 = 0
                if waitpid(pid, &s, WNOHANG) == pid { status = s; exitedAt = Date() }
            }
            if !timedOut && status == nil && Date().timeIntervalSince(start) > limits.wallSeconds {
                kill(-pid, SIGKILL)
                timedOut = true
            }
            // A forked grandchild may hold the pipes open after the program ended.
            if let exitedAt, Date().timeIntervalSince(exitedAt) > 1 { kill(-pid, SIGKILL); break }
            if timedOut && Date().timeIntervalSince(start) > limits.wallSeconds + 3 { break }
        }
        close(out); close(err)
        if let rec { close(rec) }
        if status == nil {
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
            status = s
        }
        let s = status!
        let ending: SandboxResult.Ending
        if timedOut { ending = .timedOut }
        else if s & 0x7f != 0 { ending = .signalled(s & 0x7f) }
        else { ending = .exited((s >> 8) & 0xff) }
        return SandboxResult(ending: ending, stdout: String(decoding: kept[out]!, as: UTF8.self),
                             stderr: String(decoding: kept[err]!, as: UTF8.self), droppedOutputBytes: dropped,
                             records: records, seconds: Date().timeIntervalSince(start))
    }
}
