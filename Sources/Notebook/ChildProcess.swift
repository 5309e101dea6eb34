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
        let process = try SpawnedProcess.start([executable] + arguments, environment: environment,
                                               recordChannel: recordChannel, searchPath: true)
        let pid = process.pid
        let out = process.stdout, err = process.stderr, rec = process.records

        var stdoutData = Data(), stderrData = Data(), recordData = Data()
        var open: [Int32: Bool] = [out: true, err: true]
        if let rec { open[rec] = true }
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
                    if p.fd == out { stdoutData.append(chunk) }
                    else if p.fd == err { stderrData.append(chunk) }
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
