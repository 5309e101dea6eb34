import Foundation
import ProgramRecords
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stage 4's one process host: every program the tool starts (a lesson, a student's exercise, a
/// checker, swiftc) runs through `ProgramHost.run`, in its own process group, with stdout, stderr
/// and an optional record channel (fd 3) drained together so none fills up. What differs between
/// a lesson on the reader's machine and a student's submission is the `HostPolicy`.
///
/// The spawning is `SpawnedProcess` (posix_spawn) rather than swift-subprocess: that package's API
/// is async-only and owns the standard streams, while the host needs a synchronous poll over three
/// pipes (one of them fd 3, added through the spawn file actions), per-stream caps, and a kill of the
/// whole process group from a periodic check.
public enum ProgramHost {
    /// What the host reads from fd 3.
    public enum Channel: Sendable {
        case none
        /// `Record`s of a lesson or exercise program.
        case records
        /// `Verdict`s of a checker program.
        case verdicts
    }

    public struct Launch {
        /// A path, or a name looked up on PATH.
        public var executable: String
        public var arguments: [String]
        /// The working directory (nil: the host's).
        public var directory: URL?
        /// The whole environment of the program.
        public var environment: [String: String]
        public var channel: Channel

        public init(executable: String, arguments: [String] = [], directory: URL? = nil,
                    environment: [String: String] = ProcessInfo.processInfo.environment, channel: Channel = .none) {
            self.executable = executable
            self.arguments = arguments
            self.directory = directory
            self.environment = environment
            self.channel = channel
        }
    }

    /// How the program ended.
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed at the wall-clock limit.
        case timedOut
        /// Killed because the caller's `shouldStop` said so.
        case stopped
    }

    public struct Outcome: Sendable {
        public var ending: Ending
        public var stdout: Data
        public var stderr: Data
        /// Bytes read past `outputCap` (stdout and stderr together) and dropped.
        public var droppedOutputBytes: Int
        public var records: [Record]
        public var verdicts: [Verdict]
        public var seconds: Double
        /// The sandbox's `outputs` by name, read after the program ended (never through a link,
        /// never a special file, at most `SandboxLimits.fileBytes`).
        public var outputFiles: [String: Result<Data, UntrustedFile.Problem>] = [:]
    }

    /// Limits the host enforces itself (the sandbox adds kernel limits on top).
    public struct Bounds: Sendable {
        /// Bytes of stdout and of stderr kept each (nil: all).
        public var outputCap: Int?
        /// Wall-clock seconds before the process group is killed (nil: none).
        public var wallSeconds: Double?
        /// Longest record line read; longer ones are dropped (a lesson's images need large ones).
        public var recordLineBytes: Int
        /// Records (or verdicts) kept, the latest ones (nil: all): an untrusted program could
        /// otherwise grow the host's memory without bound through fd 3.
        public var recordsKept: Int?
        public init(outputCap: Int? = nil, wallSeconds: Double? = nil,
                    recordLineBytes: Int = RecordChannel.maximumLineBytes, recordsKept: Int? = nil) {
            self.outputCap = outputCap
            self.wallSeconds = wallSeconds
            self.recordLineBytes = recordLineBytes
            self.recordsKept = recordsKept
        }
    }

    /// Where a program runs.
    public enum Policy: Sendable {
        /// A lesson on the reader's own machine, or a trusted tool: the launch as given.
        case local
        /// An untrusted program (a student's submission, a student's cell): the sandbox's limits,
        /// and its isolation where the machine allows it. Every process it started dies with it.
        case sandboxed(Sandbox)
    }

    /// One of the program's standard streams.
    public enum Stream: Sendable { case stdout, stderr }

    /// Runs `launch` under `policy` (see `run(_:bounds:onRecord:onOutput:shouldStop:)`).
    public static func run(_ launch: Launch, policy: Policy,
                           onRecord: (Record, Double) -> Void = { _, _ in },
                           onOutput: (Stream, Data) -> Void = { _, _ in },
                           shouldStop: () -> Bool = { false }) throws -> Outcome {
        switch policy {
        case .local:
            return try run(launch, onRecord: onRecord, onOutput: onOutput, shouldStop: shouldStop)
        case .sandboxed(let sandbox):
            return try sandbox.run(launch, onRecord: onRecord, onOutput: onOutput, shouldStop: shouldStop)
        }
    }

    /// Starts `launch` and waits for it. `onRecord` gets each record with the seconds since the
    /// start as it arrives; `onOutput` each piece of stdout or stderr as the pipe delivers it (what
    /// is kept under `outputCap`); `shouldStop` runs at least every 100 ms and returns true to kill
    /// the process group.
    public static func run(_ launch: Launch, bounds: Bounds = Bounds(),
                           onRecord: (Record, Double) -> Void = { _, _ in },
                           onOutput: (Stream, Data) -> Void = { _, _ in },
                           shouldStop: () -> Bool = { false }) throws -> Outcome {
        let start = Date()
        var command = [launch.executable] + launch.arguments
        if let directory = launch.directory { command = ["/usr/bin/env", "-C", directory.path, "--"] + command }
        let process = try SpawnedProcess.start(command, environment: launch.environment,
                                               recordChannel: launch.channel != .none, searchPath: true,
                                               nonBlockingReads: true)
        let pid = process.pid
        let out = process.stdout, err = process.stderr, rec = process.records
        var kept: [Int32: Data] = [out: Data(), err: Data()]
        var dropped = 0
        var lineBuffer = Data()
        var records: [Record] = []
        var verdicts: [Verdict] = []
        var open: Set<Int32> = [out, err]
        if let rec { open.insert(rec) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var status: Int32? = nil
        var exitedAt: Date?
        var ending: Ending?

        func takeLines() {
            while let newline = lineBuffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(lineBuffer[lineBuffer.startIndex..<newline])
                lineBuffer.removeSubrange(lineBuffer.startIndex...newline)
                if line.count > bounds.recordLineBytes { continue }
                switch launch.channel {
                case .records:
                    if let record = RecordChannel.decode(Record.self, line: line) {
                        records.append(record)
                        onRecord(record, Date().timeIntervalSince(start))
                    }
                case .verdicts:
                    if let verdict = RecordChannel.decode(Verdict.self, line: line) { verdicts.append(verdict) }
                case .none:
                    break
                }
            }
            // A line without end: drop it rather than grow without bound.
            if lineBuffer.count > bounds.recordLineBytes { lineBuffer.removeAll() }
            // Past the cap, keep the latest half (how a program ended is in its last records).
            if let kept = bounds.recordsKept {
                if records.count > kept { records.removeFirst(records.count - kept / 2) }
                if verdicts.count > kept { verdicts.removeFirst(verdicts.count - kept / 2) }
            }
        }

        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&polls, nfds_t(polls.count), 100) > 0 {
                for p in polls where p.revents != 0 {
                    // Drain what is there now, up to 1 MiB per wake-up so the clock is checked.
                    var budget = 1 << 20
                    while budget > 0 {
                        let n = read(p.fd, &buffer, buffer.count)
                        if n < 0 && errno == EINTR { continue }
                        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                        if n <= 0 { open.remove(p.fd); break }
                        budget -= n
                        if p.fd == rec {
                            lineBuffer.append(contentsOf: buffer[0..<n])
                            takeLines()
                        } else {
                            var keep = n
                            if let cap = bounds.outputCap {
                                let room = cap - kept[p.fd]!.count
                                keep = max(0, min(n, room))
                                dropped += n - keep
                            }
                            if keep > 0 {
                                kept[p.fd]!.append(contentsOf: buffer[0..<keep])
                                onOutput(p.fd == out ? .stdout : .stderr, Data(buffer[0..<keep]))
                            }
                        }
                    }
                }
            }
            if status == nil {
                var s: Int32 = 0
                if waitpid(pid, &s, WNOHANG) == pid { status = s; exitedAt = Date() }
            }
            if ending == nil && status == nil {
                if let wall = bounds.wallSeconds, Date().timeIntervalSince(start) > wall {
                    kill(-pid, SIGKILL)
                    ending = .timedOut
                } else if shouldStop() {
                    kill(-pid, SIGKILL)
                    ending = .stopped
                }
            }
            // A forked grandchild may hold the pipes open after the program ended.
            if let exitedAt, Date().timeIntervalSince(exitedAt) > 1 { kill(-pid, SIGKILL); break }
            if ending != nil, status == nil, Date().timeIntervalSince(start) > (bounds.wallSeconds ?? 0) + 3 { break }
        }
        close(out); close(err)
        if let rec { close(rec) }
        if status == nil {
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
            status = s
        }
        let s = status!
        if ending == nil {
            ending = s & 0x7f != 0 ? .signalled(s & 0x7f) : .exited((s >> 8) & 0xff)
        }
        return Outcome(ending: ending!, stdout: kept[out]!, stderr: kept[err]!, droppedOutputBytes: dropped,
                       records: records, verdicts: verdicts, seconds: Date().timeIntervalSince(start))
    }
}
