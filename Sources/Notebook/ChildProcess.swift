import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a program in its own process group with stdout, stderr and an optional record pipe
/// (fd 3) captured, polling them together so none fills up, and lets the caller kill the whole
/// group (the program and any children it forked) from a periodic check.
public struct ChildProcess {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    /// Pass a third pipe as fd 3 (the notebook record channel).
    public var recordChannel: Bool

    public init(executable: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                recordChannel: Bool = false) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.recordChannel = recordChannel
    }

    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed by the caller's `check` (a timeout).
        case killed
    }

    public struct Result: Sendable {
        public var stdout: Data
        public var stderr: Data
        public var termination: Termination
    }

    /// Launches and waits. `onRecordLine` gets each line written to fd 3 as it arrives; `check`
    /// runs at least every 100 ms and returns true to kill the process group.
    public func run(onRecordLine: (Data) -> Void = { _ in }, check: () -> Bool = { false }) throws -> Result {
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw NotebookError(file: executable, line: nil, "pipe() failed: \(String(cString: strerror(errno)))") }
            // Keep the ends well away from 0...3 and closed across exec unless dup2'd.
            let r = fcntl(fds[0], F_DUPFD_CLOEXEC, 10), w = fcntl(fds[1], F_DUPFD_CLOEXEC, 10)
            close(fds[0]); close(fds[1])
            return (r, w)
        }
        let out = try makePipe(), err = try makePipe()
        let rec = recordChannel ? try makePipe() : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        if let rec { posix_spawn_file_actions_adddup2(&actions, rec.write, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        close(out.write); close(err.write)
        if let rec { close(rec.write) }
        guard spawned == 0 else {
            close(out.read); close(err.read)
            if let rec { close(rec.read) }
            throw NotebookError(file: executable, line: nil, "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }

        var stdoutData = Data(), stderrData = Data(), recordData = Data()
        var open: [Int32: Bool] = [out.read: true, err.read: true]
        if let rec { open[rec.read] = true }
        var killed = false
        var exitStatus: Int32? = nil
        var exitedAt: Date? = nil
        var buffer = [UInt8](repeating: 0, count: 65536)

        while open.values.contains(true) {
            let fds = open.filter(\.value).map(\.key)
            var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&polls, nfds_t(polls.count), 100)
            if n > 0 {
                for p in polls where p.revents != 0 {
                    let count = read(p.fd, &buffer, buffer.count)
                    if count <= 0 {
                        if count < 0 && errno == EINTR { continue }
                        open[p.fd] = false
                        continue
                    }
                    let chunk = Data(buffer[0..<count])
                    if p.fd == out.read { stdoutData.append(chunk) }
                    else if p.fd == err.read { stderrData.append(chunk) }
                    else {
                        recordData.append(chunk)
                        while let newline = recordData.firstIndex(of: UInt8(ascii: "\n")) {
                            onRecordLine(recordData[recordData.startIndex..<newline])
                            recordData.removeSubrange(recordData.startIndex...newline)
                        }
                    }
                }
            }
            if exitStatus == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { exitStatus = status; exitedAt = Date() }
            }
            if !killed && check() {
                kill(-pid, SIGKILL)
                killed = true
            }
            // A forked grandchild could hold the pipes open after the program ended.
            if let exitedAt, Date().timeIntervalSince(exitedAt) > 2 {
                kill(-pid, SIGKILL)
                break
            }
        }
        open.keys.forEach { close($0) }
        if exitStatus == nil {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exitStatus = status
        }
        let status = exitStatus!
        let termination: Termination
        if killed { termination = .killed }
        else if status & 0x7f != 0 { termination = .signalled(status & 0x7f) }
        else { termination = .exited((status >> 8) & 0xff) }
        return Result(stdout: stdoutData, stderr: stderrData, termination: termination)
    }
}
