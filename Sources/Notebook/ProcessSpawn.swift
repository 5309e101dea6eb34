import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program started in its own process group (so the whole group can be killed), stdin from
/// /dev/null, stdout and stderr on pipes, and optionally a third pipe as its fd 3 (the record
/// channel). The lesson runner and the grader's sandbox both start programs this way.
public struct SpawnedProcess {
    public let pid: pid_t
    /// Read ends of the pipes; the caller closes them.
    public let stdout: Int32, stderr: Int32, records: Int32?

    /// - Parameters:
    ///   - searchPath: look `command[0]` up on PATH (posix_spawnp) rather than take it as a path.
    ///   - nonBlockingReads: make the read ends non-blocking, for callers that drain in a loop.
    public static func start(_ command: [String], environment: [String: String], recordChannel: Bool,
                             searchPath: Bool = false, nonBlockingReads: Bool = false) throws -> SpawnedProcess {
        let name = command[0]
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else {
                throw NotebookError(file: name, line: nil, "pipe() failed: \(String(cString: strerror(errno)))")
            }
            // Keep the ends well away from 0...3 and closed across exec unless dup2'd.
            let r = fcntl(fds[0], F_DUPFD_CLOEXEC, 10), w = fcntl(fds[1], F_DUPFD_CLOEXEC, 10)
            close(fds[0]); close(fds[1])
            if nonBlockingReads { _ = fcntl(r, F_SETFL, fcntl(r, F_GETFL) | O_NONBLOCK) }
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
        // Nothing else the host holds open (a descriptor its own parent left without close-on-exec:
        // a host folder, a socket) may reach the program, which could walk or use it.
        Self.addCloseFrom(&actions, rec == nil ? 3 : 4)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = searchPath
            ? posix_spawnp(&pid, name, &actions, &attributes, argv, envp)
            : posix_spawn(&pid, name, &actions, &attributes, argv, envp)
        close(out.write); close(err.write)
        if let rec { close(rec.write) }
        guard spawned == 0 else {
            close(out.read); close(err.read)
            if let rec { close(rec.read) }
            throw NotebookError(file: name, line: nil, "cannot start \(name): \(String(cString: strerror(spawned)))")
        }
        return SpawnedProcess(pid: pid, stdout: out.read, stderr: err.read, records: rec?.read)
    }

    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np`, looked up at run time (Swift's Glibc
    /// module does not declare it). Without it, every descriptor from `lowest` up that is open in
    /// this process is closed one by one in the child.
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    static let addCloseFromFunction: AddCloseFrom? = {
        #if os(Linux)
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
        #else
        return nil
        #endif
    }()

    static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
        if let add = addCloseFromFunction, add(&actions, lowest) == 0 { return }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd >= lowest {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}
