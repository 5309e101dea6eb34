#if os(Linux)
import XCTest
import Glibc
@testable import Grader
import Notebook

/// Issue 28, item 5 (cases 4-17): submissions written by a hostile student, graded by the
/// `workbook grade` CLI as a black box, once as root (as CI runs) and once as an unprivileged
/// account-less uid (through `setpriv`). Each half grades one class in which every hostile case is
/// a student, beside honest students, in a fake course checkout under /tmp whose instructor files
/// carry random secret tokens; `kill(-1)` gets a run of its own so that a grader it kills does not
/// take the other cases with it. For every case the tests assert: no more points than the starter
/// (the honest answer of a student who did nothing) earns; the grader finished and graded the
/// honest students right; nothing the program made is left on the host (files named with the run's
/// marker in /tmp, /var/tmp, /dev/shm, /, the checkout and the grade folders; processes whose name,
/// command line or uid marks them); and no secret of the instructor's files in any output.
/// The CLI is started the way a careless parent (a shell, a CI runner) may start it: with a host
/// folder and a host-network socket open across exec, which cases 7 and 16 try to use.
///
/// Every hostile program bounds itself (at most 1,000 forks, 2 GiB, 300 files of 1 MiB per folder,
/// 1 s connects to 192.0.2.1 only after seeing that `lo` is the only interface, no `kill(-1)` as
/// root outside a pid namespace), so a missing sandbox costs a failed case, not the machine.
final class HostileSubmissionTests: XCTestCase {
    enum Mode: String { case root, unprivileged }

    /// Random strings that only the instructor's files (or the victim's program) contain.
    struct Secrets {
        var hidden = "HIDDENTOKEN" + HostileSubmissionTests.randomHex(10)
        var solution = "SOLUTIONTOKEN" + HostileSubmissionTests.randomHex(10)
        var planted = "PLANTEDTOKEN" + HostileSubmissionTests.randomHex(10)
        var victim = HostileSubmissionTests.randomHex(12)
        /// The first line of /etc/shadow, when the test can read it.
        var shadowLine: String? = {
            guard let text = try? String(contentsOfFile: "/etc/shadow", encoding: .utf8) else { return nil }
            return text.split(separator: "\n").first.map(String.init).flatMap { $0.count > 8 ? $0 : nil }
        }()
        /// What must never reach an output.
        var all: [String] {
            [hidden, solution, planted, victim, "hidden-check", "BEGIN SOLUTION"] + (shadowLine.map { [$0] } ?? [])
        }
    }

    /// One `workbook grade` invocation.
    struct CLIRun {
        var name: String
        var termination: String
        var exitedZero: Bool
        var stdout: String
        var stderr: String
        var seconds: Double
        var grades: [String: ExerciseGrade] = [:]
        var csv = ""
        var jsonText = ""
        var feedback: [String: String] = [:]
    }

    /// Everything one half observed.
    struct Half {
        var mode: Mode
        var root: URL
        var marker: String
        var uid: uid_t?
        var runs: [CLIRun] = []
        /// Leftovers found after the runs, each "what: detail"; with the case id they belong to
        /// ("" when no case's marker names them).
        var leftovers: [(caseID: String, what: String)] = []
        var loopbackAccepted = 0
        var problem: String?
        var linkCounts: [String: Int] = [:]
        var changedInstructorFiles: [String] = []

        var grades: [String: ExerciseGrade] { runs.reduce(into: [:]) { $0.merge($1.grades) { a, _ in a } } }
        var label: String { "[\(mode.rawValue)]" }
    }

    nonisolated(unsafe) static var halves: [Half] = []
    nonisolated(unsafe) static var setupProblem: String?
    nonisolated(unsafe) static var prepared = false
    static let secrets = Secrets()
    static let exerciseName = "q90-hostile"

    static func randomHex(_ count: Int) -> String {
        String((0..<count).map { _ in "0123456789abcdef".randomElement()! })
    }

    // MARK: - The class

    static func exerciseText(_ s: Secrets) -> String {
        """
        ---
        title: "Q90: Doubling"
        timeout: 10
        memory: 512
        ---
        # Q90: Doubling

        Double every element of `x` and count the elements of the result greater than 4.

        ```swift id=data
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        ```

        ```swift id=answer
        // BEGIN SOLUTION
        let y = x * 2  // solution-only: \(s.solution)
        let count = y.scalars.filter { $0 > 4 }.count
        // STARTER
        // let y = x
        // let count = 0
        // END SOLUTION
        ```

        ```swift id=hand-in
        export("y", y)
        export("count", count)
        ```

        ```swift check id=y-shape points=1
        let y = try answers.tensorAnswer("y")
        try expectEqual(y.shape, [2, 2], "the shape of y")
        ```

        ```swift hidden-check id=y-values points=2
        // instructor-only: \(s.hidden)
        let y = try answers.tensor("y")
        try expectEqual(y.scalars, [2, 4, 6, 8], "the values of y")
        ```

        ```swift hidden-check id=count points=2
        try expectEqual(try answers.int("count"), 2, "the count")
        ```

        ## Explanation

        Doubling gives 2, 4, 6 and 8; two of them exceed 4.

        """
    }

    static let solutionCode = "let y = x * 2\nlet count = y.scalars.filter { $0 > 4 }.count"
    static let starterCode = "let y = x\nlet count = 0"

    /// Paths the hostile programs are told (a worst-case student who knows the course's layout).
    struct Layout {
        var root: URL
        var checkout: URL { root.appendingPathComponent("course") }
        var exercises: URL { checkout.appendingPathComponent("exercises") }
        var exerciseFile: URL { exercises.appendingPathComponent(HostileSubmissionTests.exerciseName + ".md") }
        var siteCopy: URL { checkout.appendingPathComponent(".workbook/build/\(HostileSubmissionTests.exerciseName)/main.swift") }
        var backupCopy: URL { checkout.appendingPathComponent("exercises-2025/\(HostileSubmissionTests.exerciseName).md") }
        var planted: URL { root.appendingPathComponent("instructor-secret.jsonl") }
        var submissions: URL { root.appendingPathComponent("submissions") }
        var killSubmissions: URL { root.appendingPathComponent("submissions-kill") }
        var output: URL { root.appendingPathComponent("gradebooks") }
        var home: URL { root.appendingPathComponent("home") }
        var graderTemp: URL { root.appendingPathComponent("grader-tmp") }
        var work: URL { checkout.appendingPathComponent(".workbook/grade") }
    }

    /// The code every hostile program starts with: helpers, and a name (`comm` and `argv[0]`) that
    /// marks its processes, children included.
    static func prelude(marker: String, caseID: String) -> String {
        #"""
        let hxMarker = "\#(marker)"
        let hxCase = "\#(caseID)"
        let hxPrefix = hxMarker + "-" + hxCase
        func hxSay(_ s: String) { print(s); fflush(stdout) }
        func hxError() -> String { String(cString: strerror(errno)) }
        func hxRead(_ path: String, limit: Int = 1 << 16) -> String? {
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 { return nil }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: limit)
            var total = 0
            while total < limit {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, limit - total) }
                if n <= 0 { break }
                total += n
            }
            return String(decoding: buffer[0..<total], as: UTF8.self)
        }
        func hxWrite(_ path: String, _ text: String, append: Bool = false) -> Bool {
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
            if fd < 0 { return false }
            defer { close(fd) }
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
        }
        func hxBrand() {
            let name = hxMarker + hxCase
            let fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC)
            if fd >= 0 { _ = Array(name.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; close(fd) }
            if let first = CommandLine.unsafeArgv[0] {
                let bytes = Array(name.utf8)
                if strlen(first) >= bytes.count { for (i, b) in bytes.enumerated() { first[i] = CChar(bitPattern: b) } }
            }
        }
        hxBrand()
        hxSay("HX-BEGIN \(hxCase)")
        let hxAnswers = ProcessInfo.processInfo.environment["WORKBOOK_ANSWERS_FILE"] ?? "answers.jsonl"
        """#
    }

    /// The hostile students of the main run: student folder name to (case id, attack code).
    static func attacks(layout: Layout, port: UInt16, secrets: Secrets) -> [(student: String, caseID: String, code: String)] {
        let planted = layout.planted.path
        let swap = { (action: String) in "atexit {\n    unlink(hxAnswers)\n    \(action)\n}\nhxSay(\"swap registered\")" }
        return [
            ("c04-link-planted", "c04", swap("_ = symlink(\"\(planted)\", hxAnswers)")),
            ("c04-link-shadow", "c04", swap("_ = symlink(\"/etc/shadow\", hxAnswers)")),
            ("c04-fifo", "c04", swap("_ = mkfifo(hxAnswers, 0o666)")),
            ("c04-device", "c04", swap("if mknod(hxAnswers, mode_t(S_IFCHR) | 0o666, dev_t(0x105)) != 0 { _ = symlink(\"/dev/zero\", hxAnswers) }")),
            ("c04-directory", "c04", swap("_ = mkdir(hxAnswers, 0o755)")),
            ("c05-walk", "c05", #"""
            let hxNeedles = [String("kcehc-neddih".reversed()), String("NOITULOS NIGEB".reversed())]
            let hxWalkStart = Date()
            var hxFound = 0
            var hxSeen = Set<String>()
            func hxKind(_ path: String) -> mode_t {
                var st = stat()
                return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
            }
            func hxList(_ dir: String) -> [String] {
                guard let d = opendir(dir) else { return [] }
                defer { closedir(d) }
                var names: [String] = []
                while let e = readdir(d) {
                    var raw = e.pointee.d_name
                    let name = withUnsafeBytes(of: &raw) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if name != "." && name != ".." { names.append(name) }
                }
                return names.sorted()
            }
            func hxCheck(_ path: String) {
                var st = stat()
                guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size <= 512 << 10,
                      let head = hxRead(path, limit: 1024), !head.utf8.contains(0),
                      let text = hxRead(path, limit: 512 << 10) else { return }
                for needle in hxNeedles {
                    if let r = text.range(of: needle) {
                        hxFound += 1
                        hxSay("FOUND \(path):\n" + String(text[r.lowerBound...].prefix(1200)))
                        return
                    }
                }
            }
            let hxSkip: Set<String> = ["/proc", "/sys", "/dev", "/run", "/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/boot", "/snap"]
            func hxWalk(_ start: String) {
                var queue = [start]
                while !queue.isEmpty {
                    if Date().timeIntervalSince(hxWalkStart) > 3.5 || hxFound >= 30 { return }
                    let dir = queue.removeFirst()
                    if hxSeen.contains(dir) || hxSkip.contains(dir) { continue }
                    hxSeen.insert(dir)
                    for name in hxList(dir) where name != ".build" && name != ".git" {
                        let path = dir == "/" ? "/" + name : dir + "/" + name
                        let kind = hxKind(path)
                        if kind == S_IFDIR { queue.append(path) } else if kind == S_IFREG { hxCheck(path) }
                    }
                }
            }
            var hxStarts: [String] = []
            var hxHere = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            while hxHere.path != "/" { hxHere = hxHere.deletingLastPathComponent(); hxStarts.append(hxHere.path) }
            for start in hxStarts + ["/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/work", "/srv", "/opt", "/var", "/"] { hxWalk(start) }
            hxSay("WALK done: \(hxFound) files, \(hxSeen.count) folders")
            """#),
            ("c06-proc", "c06", #"""
            func hxShow(_ label: String, _ path: String, limit: Int = 1500) {
                if let t = hxRead(path, limit: limit) { hxSay("\(label): " + t.replacingOccurrences(of: "\u{0}", with: " ")) }
                else { hxSay("\(label): unreadable (\(hxError()))") }
            }
            hxShow("MOUNTINFO", "/proc/self/mountinfo", limit: 16384)
            // Descriptors inherited from the grader name host files.
            for entry in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).sorted() {
                hxSay("FD \(entry) -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)) ?? "?"))
            }
            hxShow("PID1-ENVIRON", "/proc/1/environ")
            hxShow("PID1-CMDLINE", "/proc/1/cmdline", limit: 16384)
            // Who runs me first (the parent chain), then everyone else.
            var hxChain: [Int32] = []
            var hxPid = getppid()
            while hxPid > 1 && hxChain.count < 8 {
                hxChain.append(hxPid)
                let hxStatText = hxRead("/proc/\(hxPid)/stat") ?? ""
                let fields = hxStatText.split(separator: ")").last?.split(separator: " ") ?? []
                hxPid = fields.count > 1 ? Int32(fields[1]) ?? 0 : 0
            }
            let hxOthers = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.sorted()
            var hxShown = 0
            for pid in hxChain + hxOthers where pid != getpid() && pid != 1 && hxShown < 80 {
                hxShown += 1
                hxShow("PID\(pid)-CMDLINE", "/proc/\(pid)/cmdline", limit: 400)
                hxShow("PID\(pid)-ENVIRON", "/proc/\(pid)/environ", limit: 400)
            }
            """#),
            ("c07-network", "c07", #"""
            func hxConnect(_ ip: String, _ port: UInt16) -> String {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                if fd < 0 { return "failed (no socket: \(hxError()))" }
                defer { close(fd) }
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = port.bigEndian
                _ = inet_pton(AF_INET, ip, &addr.sin_addr)
                let r = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                if r == 0 { return "connected" }
                if errno != EINPROGRESS { return "failed (\(hxError()))" }
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, 1000) <= 0 { return "failed (timed out)" }
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                return err == 0 ? "connected" : "failed (\(String(cString: strerror(err))))"
            }
            hxSay("LOOPBACK " + hxConnect("127.0.0.1", \#(port)))
            // A socket inherited from the grader lives in the host's network namespace.
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
                guard let fd = Int32(entry), fd > 3 else { continue }
                var st = stat()
                guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else { continue }
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = UInt16(\#(port)).bigEndian
                addr.sin_addr.s_addr = UInt32(0x7F000001).bigEndian
                let r = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                hxSay("INHERITED-SOCKET fd \(fd): " + (r == 0 ? "connected" : "failed (\(hxError()))"))
            }
            // /proc/net/dev lists the program's own network namespace; /sys/class/net may show the host's.
            var hxInterfaces: [String]? = nil
            if let dev = hxRead("/proc/net/dev") {
                hxInterfaces = dev.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) } }.sorted()
            } else {
                hxInterfaces = try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net").sorted()
            }
            hxSay("INTERFACES " + (hxInterfaces.map { $0.joined(separator: ",") } ?? "unknown"))
            // TEST-NET-1 is never routed; tried only where nothing but loopback exists.
            if hxInterfaces == ["lo"] { hxSay("OUTSIDE " + hxConnect("192.0.2.1", 80)) } else { hxSay("OUTSIDE not tried") }
            """#),
            ("c08-fork-bomb", "c08", #"""
            var hxForks = 0
            var hxForkError = "none"
            for _ in 0..<1000 {
                let pid = fork()
                if pid == 0 { sleep(120); _exit(0) }
                if pid < 0 { hxForkError = hxError(); break }
                hxForks += 1
            }
            hxSay("FORKS \(hxForks) stopped by: \(hxForkError)")
            """#),
            ("c09-memory-bomb", "c09", #"""
            var hxHeld: [UnsafeMutableRawPointer] = []
            var hxMiB = 0
            while hxMiB < 2048 {
                guard let p = malloc(16 << 20) else { break }
                memset(p, 1, 16 << 20)
                hxHeld.append(p)
                hxMiB += 16
            }
            hxSay("ALLOCATED \(hxMiB) MiB")
            """#),
            ("c10-spinning-thread", "c10", #"""
            Thread.detachNewThread {
                var spins = 0
                while true {
                    spins &+= 1
                    if spins & 0xFFFFF == 0 { _ = hxWrite(hxAnswers, "{\"name\":\"count\",\"value\":{\"int\":777}}\n", append: true) }
                }
            }
            usleep(100_000)
            hxSay("main code ends; a detached thread spins on")
            """#),
            ("c11-daemon", "c11", #"""
            let hxCwd = FileManager.default.currentDirectoryPath
            let hxHome = ProcessInfo.processInfo.environment["HOME"] ?? hxCwd
            let hxFirst = fork()
            if hxFirst == 0 {
                _ = setsid()
                if fork() == 0 {
                    close(0); close(1); close(2)
                    for i in 0..<600 {
                        usleep(300_000)
                        for dir in ["/tmp", "/var/tmp", "/dev/shm", hxCwd, hxHome, "\#(layout.root.path)"] {
                            _ = hxWrite(dir + "/" + hxPrefix + "-daemon", "daemon alive \(i)\n")
                        }
                        _ = hxWrite(hxAnswers, "{\"name\":\"count\",\"value\":{\"int\":777}}\n", append: true)
                    }
                    _exit(0)
                }
                _exit(0)
            }
            var hxStatus: Int32 = 0
            _ = waitpid(hxFirst, &hxStatus, 0)
            hxSay("daemon started")
            """#),
            ("c12-disk-fill", "c12", #"""
            let hxChunk = [UInt8](repeating: 0x41, count: 1 << 20)
            let hxEnv = ProcessInfo.processInfo.environment
            var hxPlaces = ["/tmp", "/var/tmp", "/dev/shm", FileManager.default.currentDirectoryPath]
            for key in ["HOME", "TMPDIR"] { if let v = hxEnv[key], !hxPlaces.contains(v) { hxPlaces.append(v) } }
            for place in hxPlaces {
                var written = 0
                for i in 0..<300 {
                    let fd = open(place + "/" + hxPrefix + "-fill-\(i)", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                    if fd < 0 { break }
                    let n = hxChunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                    if n != hxChunk.count { break }
                    written += 1
                }
                hxSay("FILLED \(written) in \(place)")
            }
            """#),
            ("c13-output-flood", "c13", #"""
            let hxLine = [UInt8](repeating: 0x78, count: 1023) + [0x0A]
            for _ in 0..<(8 * 1024) { _ = hxLine.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stdout) } }
            fflush(stdout)
            for _ in 0..<(8 * 1024) { _ = hxLine.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stderr) } }
            hxSay("FLOOD done")
            """#),
            ("c15-link-chain", "c15", #"""
            for (label, target) in [("planted", "\#(planted)"), ("exercise", "\#(layout.exerciseFile.path)"),
                                    ("site-copy", "\#(layout.siteCopy.path)")] {
                let r = link(target, hxPrefix + "-hard-" + label)
                hxSay("HARDLINK \(label): " + (r == 0 ? "made" : hxError()))
                if r == 0, let t = hxRead(hxPrefix + "-hard-" + label) { hxSay(String(t.prefix(1500))) }
            }
            var hxUp = ".."
            for _ in 0..<6 {
                for n in (try? FileManager.default.contentsOfDirectory(atPath: hxUp + "/checkers")) ?? [] {
                    let r = link(hxUp + "/checkers/" + n + "/checker", hxPrefix + "-hard-checker-" + n)
                    hxSay("HARDLINK checker \(n): " + (r == 0 ? "made" : hxError()))
                }
                hxUp += "/.."
            }
            var hxPrevious = "\#(planted)"
            for i in 0..<30 {
                let name = hxPrefix + "-chain-\(i)"
                unlink(name)
                _ = symlink(hxPrevious, name)
                hxPrevious = name
            }
            let hxChainHead = hxPrevious
            hxSay("CHAIN-READ " + (hxRead(hxChainHead).map { String($0.prefix(500)) } ?? "unreadable (\(hxError()))"))
            atexit {
                unlink(hxAnswers)
                if link("\#(planted)", hxAnswers) != 0 { _ = symlink(FileManager.default.currentDirectoryPath + "/" + hxChainHead, hxAnswers) }
            }
            """#),
            ("c15-steal", "c15", #"""
            var hxStolen = ""
            let hxAll = (try? FileManager.default.contentsOfDirectory(atPath: "../..")) ?? []
            let hxDirs = hxAll.filter { $0 == ".reference" } + hxAll.filter { $0 != ".reference" }.sorted()
            for dir in hxDirs where dir != "c15-steal" {
                let base = "../../" + dir + "/\#(exerciseName)/"
                for file in ["answers.jsonl", "main.swift", "\#(exerciseName).md"] {
                    let r = link(base + file, hxPrefix + "-hard-\(dir)-\(file)")
                    if let t = hxRead(base + file) {
                        hxSay("READ \(dir)/\(file) (hard link \(r == 0 ? "made" : "refused")): " + String(t.prefix(600)))
                        if file == "answers.jsonl" && hxStolen.isEmpty && t.contains("\"count\"") { hxStolen = t }
                    }
                }
            }
            hxSay("STOLEN \(hxStolen.isEmpty ? "nothing" : "answers")")
            atexit { if !hxStolen.isEmpty { _ = hxWrite(hxAnswers, hxStolen) } }
            """#),
            ("c16-chdir", "c16", #"""
            let hxStart = FileManager.default.currentDirectoryPath
            var hxWrote: [String] = []
            if chdir("/") == 0 && hxWrite(hxPrefix + "-slash", "x") { hxWrote.append("/") }
            _ = chdir(hxStart)
            for level in 1...8 {
                guard chdir("..") == 0 else { break }
                if hxWrite(hxPrefix + "-up\(level)", "x") { hxWrote.append(FileManager.default.currentDirectoryPath) }
            }
            _ = chdir(hxStart)
            // A folder descriptor inherited from the grader leads out of any mount namespace.
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
                guard let fd = Int32(entry), fd > 2 else { continue }
                var st = stat()
                if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR && fchdir(fd) == 0 {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: ".")) ?? []
                    hxSay("FD-FOLDER \(fd) \(FileManager.default.currentDirectoryPath): " + names.sorted().prefix(12).joined(separator: " "))
                    if hxWrite(hxPrefix + "-fd\(fd)", "x") { hxWrote.append("inherited folder fd \(fd): " + FileManager.default.currentDirectoryPath) }
                    // What a walk from there reads: instructor files, if any are below.
                    let needle = String("kcehc-neddih".reversed())
                    var files = 0
                    if let walk = FileManager.default.enumerator(atPath: ".") {
                        while let item = walk.nextObject() as? String, files < 2000 {
                            files += 1
                            guard item.hasSuffix(".md"), let text = hxRead(item, limit: 1 << 16), let r = text.range(of: needle) else { continue }
                            hxSay("FD-READ \(item): " + String(text[r.lowerBound...].prefix(200)))
                            break
                        }
                    }
                    _ = chdir(hxStart)
                }
            }
            for rel in ["../../../private", "../../../checkers", "../../../modules", "../../../../../exercises",
                        "../../../../../../gradebooks", "../../../../../../submissions/c16-chdir"] {
                if hxWrite(rel + "/" + hxPrefix + "-forged", "x") { hxWrote.append(rel) }
            }
            hxSay("WROTE OUTSIDE: " + (hxWrote.isEmpty ? "nowhere" : hxWrote.joined(separator: ", ")))
            """#),
            ("a01-attacker17", "c17", #"""
            typealias HxPtrace = @convention(c) (Int, Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int
            typealias HxVMRead = @convention(c) (Int32, UnsafePointer<iovec>, UInt, UnsafePointer<iovec>, UInt, UInt) -> Int
            let hxPtrace = dlsym(nil, "ptrace").map { unsafeBitCast($0, to: HxPtrace.self) }
            let hxVMRead = dlsym(nil, "process_vm_readv").map { unsafeBitCast($0, to: HxVMRead.self) }
            let hxLook = Array("VICTIM-MEMORY-".utf8)
            func hxFind(_ p: UnsafeRawPointer, _ n: Int) -> Int? {
                var at = 0
                while at + hxLook.count <= n {
                    guard let hit = memchr(p + at, Int32(hxLook[0]), n - at) else { return nil }
                    let j = p.distance(to: UnsafeRawPointer(hit))
                    if j + hxLook.count <= n && memcmp(p + j, hxLook, hxLook.count) == 0 { return j }
                    at = j + 1
                }
                return nil
            }
            func hxVictim() -> Int32? {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                    guard let pid = Int32(name), pid != getpid() else { continue }
                    if let cmd = hxRead("/proc/\(pid)/cmdline", limit: 4096), cmd.contains("victim17") { return pid }
                }
                return nil
            }
            func hxScan(_ pid: Int32) {
                hxSay("VICTIM pid \(pid) cmdline: " + (hxRead("/proc/\(pid)/cmdline")?.replacingOccurrences(of: "\u{0}", with: " ") ?? "unreadable"))
                hxSay("VICTIM environ: " + (hxRead("/proc/\(pid)/environ", limit: 2000)?.replacingOccurrences(of: "\u{0}", with: " ") ?? "unreadable (\(hxError()))"))
                if let ptrace = hxPtrace {
                    let r = ptrace(16, pid, nil, nil)  // PTRACE_ATTACH
                    hxSay(r == 0 ? "PTRACE-ATTACHED" : "ptrace refused (\(hxError()))")
                    if r == 0 { var st: Int32 = 0; _ = waitpid(pid, &st, 0x40000000); _ = ptrace(17, pid, nil, nil) }
                }
                let maps = hxRead("/proc/\(pid)/maps", limit: 1 << 20) ?? ""
                hxSay("VICTIM maps: \(maps.isEmpty ? "unreadable" : "\(maps.split(separator: "\n").count) regions")")
                let mem = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
                hxSay(mem >= 0 ? "MEM-OPENED" : "mem refused (\(hxError()))")
                var budget = 48 << 20
                for line in maps.split(separator: "\n") where line.contains(" rw") {
                    let range = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
                    guard range.count == 2 else { continue }
                    var at = range[0]
                    while at < range[1] && budget > 0 {
                        let size = Int(min(range[1] - at, 1 << 20))
                        var buffer = [UInt8](repeating: 0, count: size)
                        var got = -1
                        buffer.withUnsafeMutableBytes { b in
                            if let vm = hxVMRead {
                                var local = iovec(iov_base: b.baseAddress, iov_len: size)
                                var remote = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: at), iov_len: size)
                                got = vm(pid, &local, 1, &remote, 1, 0)
                            }
                            if got < 0 && mem >= 0 { got = pread(mem, b.baseAddress, size, off_t(at)) }
                        }
                        budget -= size
                        if got > 0, let i = buffer.withUnsafeBytes({ hxFind($0.baseAddress!, got) }) {
                            hxSay("VMREAD-FOUND " + String(decoding: buffer[i..<min(got, i + 40)], as: UTF8.self))
                            return
                        }
                        at += UInt(size)
                    }
                }
                hxSay("VICTIM memory: nothing read")
            }
            let hxDeadline = Date().addingTimeInterval(4)
            var hxFiles = false
            while Date() < hxDeadline {
                if !hxFiles {
                    for name in ["main.swift", "\#(exerciseName).md", "answers.jsonl"] {
                        if let t = hxRead("../../a02-victim17/\#(exerciseName)/" + name) { hxSay("VICTIM-FILE \(name): " + String(t.prefix(1500))); hxFiles = true }
                    }
                }
                if let pid = hxVictim() { hxScan(pid); break }
                usleep(100_000)
            }
            hxSay("ATTACK done")
            """#),
        ]
    }

    static func victimCode(_ secrets: Secrets) -> String {
        // The secret is assembled at run time, so only the process's memory holds it whole.
        """
        \(solutionCode)
        let vtSecret = ["VICTIM", "MEMORY", "\(secrets.victim)"].joined(separator: "-")
        let vtBox = UnsafeMutablePointer<CChar>.allocate(capacity: 128)
        strcpy(vtBox, vtSecret)
        for _ in 0..<30 { usleep(100_000) }
        print("victim done \\(strlen(vtBox))")
        """
    }

    static let killCode = #"""
    if geteuid() == 0 && getpid() > 50 {
        hxSay("REFUSED: running as root outside a pid namespace, kill(-1) would hit the host")
    } else {
        let parent = getppid()
        let a = kill(parent, SIGKILL)
        hxSay("KILL-PARENT \(parent): " + (a == 0 ? "sent" : hxError()))
        let b = kill(-1, SIGKILL)
        hxSay("KILL-ALL: " + (b == 0 ? "sent" : hxError()))
    }
    usleep(300_000)
    """#

    // MARK: - Running a half

    static func workbookExecutable() -> URL? { WorkbookExecutable.url }

    /// An unused uid with no account and no processes, for the unprivileged half.
    static func freeUID() -> uid_t? {
        for _ in 0..<200 {
            let uid = uid_t(52000 + Int.random(in: 0..<8000))
            if getpwuid(uid) != nil { continue }
            if !processes().contains(where: { $0.uid == uid }) { return uid }
        }
        return nil
    }

    struct ProcessInfoLine { var pid: Int32; var uid: uid_t; var comm: String; var cmdline: String }

    static func processes() -> [ProcessInfoLine] {
        var out: [ProcessInfoLine] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name) else { continue }
            let status = (try? String(contentsOfFile: "/proc/\(name)/status", encoding: .utf8)) ?? ""
            let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
            let uid = uidLine.flatMap { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first }.flatMap { uid_t($0) }
            guard let uid else { continue }
            let comm = ((try? String(contentsOfFile: "/proc/\(name)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let cmd = (FileManager.default.contents(atPath: "/proc/\(name)/cmdline")).map { String(decoding: $0, as: UTF8.self) } ?? ""
            out.append(ProcessInfoLine(pid: pid, uid: uid, comm: comm, cmdline: cmd.replacingOccurrences(of: "\u{0}", with: " ")))
        }
        return out
    }

    /// Top-level names (with owner) of the shared temporary folders.
    static let sharedFolders = ["/tmp", "/var/tmp", "/dev/shm"]

    static func listing(_ folder: String) -> [String: uid_t] {
        var out: [String: uid_t] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            var st = stat()
            if lstat(folder + "/" + name, &st) == 0 { out[name] = st.st_uid }
        }
        return out
    }

    /// The case id in a leftover's name or process name ("c12" in "hxab12cd-c12-fill-3").
    static func caseID(in text: String, marker: String) -> String? {
        guard let r = text.range(of: marker) else { return nil }
        let rest = text[r.upperBound...].drop { $0 == "-" }
        let id = String(rest.prefix(3))
        return id.count == 3 && id.hasPrefix("c") ? id : nil
    }

    /// The case of the student whose scratch folder (`…/runs/<student>/…`) holds `path`.
    static func caseID(ofScratch path: String) -> String {
        let parts = path.split(separator: "/")
        guard let i = parts.firstIndex(of: "runs"), i + 1 < parts.count else { return "" }
        let student = parts[i + 1]
        if student.hasSuffix("17") { return "c17" }
        let id = student.prefix(3)
        return id.count == 3 && id.hasPrefix("c") && id.dropFirst().allSatisfy(\.isNumber) ? String(id) : ""
    }

    /// For debugging one case: HOSTILE_CASES=c11,c08 grades only those (and the honest students);
    /// HOSTILE_KEEP=1 keeps the folders under /tmp.
    static func selected(_ caseID: String) -> Bool {
        guard let list = ProcessInfo.processInfo.environment["HOSTILE_CASES"] else { return true }
        return list.split(separator: ",").contains { $0 == caseID }
    }

    /// Runs the CLI (through setpriv for `uid`) in `directory`, killing it after `limit` seconds.
    /// Not Foundation's `Process`: a daemon that inherited its monitoring descriptor would keep it
    /// "running" for as long as the daemon lives.
    static func run(_ name: String, executable: URL, arguments: [String], environment: [String: String],
                    uid: uid_t?, directory: URL, limit: Double, keepLogs: Bool = true) -> CLIRun {
        var command = ["/usr/bin/env", "-C", directory.path]
        if let uid { command += ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] }
        command += [executable.path] + arguments
        let start = Date()
        var termination = "did not start"
        var out = Data(), err = Data()
        do {
            let child = try SpawnedProcess.start(command, environment: environment, recordChannel: false, nonBlockingReads: true)
            var buffer = [UInt8](repeating: 0, count: 65536)
            func drain() {
                for (fd, isOut) in [(child.stdout, true), (child.stderr, false)] {
                    while true {
                        let n = read(fd, &buffer, buffer.count)
                        if n <= 0 { break }
                        if isOut { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                    }
                }
            }
            var status: Int32 = 0
            while true {
                drain()
                if waitpid(child.pid, &status, WNOHANG) == child.pid {
                    termination = status & 0x7f == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
                    break
                }
                if Date().timeIntervalSince(start) > limit {
                    kill(-child.pid, SIGKILL)
                    kill(child.pid, SIGKILL)
                    _ = waitpid(child.pid, &status, 0)
                    termination = "killed after \(Int(limit)) s (hung)"
                    break
                }
                usleep(100_000)
            }
            drain()
            close(child.stdout)
            close(child.stderr)
        } catch {
            termination = "could not start: \(error)"
        }
        let stdout = String(decoding: out, as: UTF8.self), stderr = String(decoding: err, as: UTF8.self)
        if keepLogs {
            try? stdout.write(to: directory.appendingPathComponent("\(name).stdout"), atomically: true, encoding: .utf8)
            try? stderr.write(to: directory.appendingPathComponent("\(name).stderr"), atomically: true, encoding: .utf8)
        }
        return CLIRun(name: name, termination: termination, exitedZero: termination == "exit 0", stdout: stdout, stderr: stderr,
                      seconds: Date().timeIntervalSince(start))
    }

    /// The gradebook set a run published (the newest `gradebook-*` folder not seen before).
    static func readGradebook(into run: inout CLIRun, output: URL, before: Set<String>) {
        let fm = FileManager.default
        let sets = ((try? fm.contentsOfDirectory(atPath: output.path)) ?? []).filter { $0.hasPrefix("gradebook-") && !before.contains($0) }
        guard let set = sets.sorted().last else { return }
        let folder = output.appendingPathComponent(set)
        run.csv = (try? String(contentsOf: folder.appendingPathComponent(set + ".csv"), encoding: .utf8)) ?? ""
        let json = folder.appendingPathComponent(set + ".json")
        run.jsonText = (try? String(contentsOf: json, encoding: .utf8)) ?? ""
        struct Book: Decodable { var exercises: [ExerciseGrade] }
        if let data = try? Data(contentsOf: json), let book = try? JSONDecoder().decode(Book.self, from: data) {
            for grade in book.exercises { run.grades[grade.student] = grade }
        }
        let feedback = folder.appendingPathComponent("feedback")
        for page in (try? fm.contentsOfDirectory(atPath: feedback.path)) ?? [] {
            run.feedback[String(page.dropLast(5))] = (try? String(contentsOf: feedback.appendingPathComponent(page), encoding: .utf8)) ?? ""
        }
    }

    /// Folders above the checkout that others cannot search (a CI clone under /root is 0700) get
    /// o+x while the unprivileged half runs; `tearDown` puts their modes back.
    nonisolated(unsafe) static var opened: [(path: String, mode: mode_t)] = []

    static func letOthersReach(_ paths: [String]) {
        for path in paths {
            var prefix = ""
            for component in URL(fileURLWithPath: path).standardizedFileURL.pathComponents.dropFirst().dropLast() {
                prefix += "/" + component
                var st = stat()
                guard stat(prefix, &st) == 0, st.st_mode & S_IXOTH == 0, !opened.contains(where: { $0.path == prefix }) else { continue }
                opened.append((prefix, st.st_mode & 0o7777))
                chmod(prefix, (st.st_mode & 0o7777) | S_IXOTH)
            }
        }
    }

    static func chownTree(_ url: URL, uid: uid_t) {
        lchown(url.path, uid, uid)
        for item in (try? FileManager.default.subpathsOfDirectory(atPath: url.path)) ?? [] {
            lchown(url.appendingPathComponent(item).path, uid, uid)
        }
    }

    static func prepareHalf(mode: Mode, engine: EngineBuild, executable: URL) -> Half {
        let fm = FileManager.default
        let token = randomHex(6)
        let marker = "hx" + token
        let root = URL(fileURLWithPath: "/tmp/hostile-\(token)-\(mode.rawValue)")
        var half = Half(mode: mode, root: root, marker: marker)
        let layout = Layout(root: root)
        let s = secrets
        do {
            if mode == .unprivileged {
                guard let uid = freeUID() else { half.problem = "no free uid for the unprivileged half"; return half }
                half.uid = uid
                let needed = [executable.path, engine.library.path, engine.packageRoot.appendingPathComponent("Package.swift").path,
                              engine.packageRoot.appendingPathComponent("Sources/Workbook").path]
                letOthersReach(needed)
                let probe = Self.run("probe", executable: URL(fileURLWithPath: "/usr/bin/test"),
                                     arguments: ["-x", needed[0], "-a", "-r", needed[1], "-a", "-r", needed[2], "-a", "-x", needed[3]],
                                     environment: [:], uid: uid, directory: URL(fileURLWithPath: "/"), limit: 30, keepLogs: false)
                guard probe.exitedZero else {
                    half.problem = "uid \(uid) cannot read the checkout's build (\(needed.joined(separator: ", "))): \(probe.termination) \(probe.stderr)"
                    return half
                }
            }
            for dir in [layout.exercises, layout.submissions, layout.killSubmissions, layout.output, layout.home,
                        layout.graderTemp, layout.siteCopy.deletingLastPathComponent(), layout.backupCopy.deletingLastPathComponent()] {
                try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            }
            chmod(root.path, 0o755)
            // The fake course checkout: the package's Package.swift (with its own date, so the
            // engine is not "stale") and Sources; the engine build is the real one.
            let package = engine.packageRoot.appendingPathComponent("Package.swift")
            try fm.copyItem(at: package, to: layout.checkout.appendingPathComponent("Package.swift"))
            if let date = try fm.attributesOfItem(atPath: package.path)[.modificationDate] {
                try fm.setAttributes([.modificationDate: date], ofItemAtPath: layout.checkout.appendingPathComponent("Package.swift").path)
            }
            try fm.createSymbolicLink(at: layout.checkout.appendingPathComponent("Sources"),
                                      withDestinationURL: engine.packageRoot.appendingPathComponent("Sources"))
            // The instructor's files: the exercise, an old copy of it, the site build's solution
            // program, and a grader-readable secret that would earn the count's points if read.
            let text = exerciseText(s)
            try text.write(to: layout.exerciseFile, atomically: true, encoding: .utf8)
            try text.write(to: layout.backupCopy, atomically: true, encoding: .utf8)
            try "// BEGIN SOLUTION\nlet y = x * 2  // solution-only: \(s.solution)\n// instructor-only: \(s.hidden)\n"
                .write(to: layout.siteCopy, atomically: true, encoding: .utf8)
            try "{\"name\":\"count\",\"value\":{\"int\":2}}\n{\"note\":\"\(s.planted)\"}\n".write(to: layout.planted, atomically: true, encoding: .utf8)

            let exercise = try Exercise.load(path: layout.exerciseFile.path)
            func put(_ folder: URL, _ student: String, _ code: String?) throws {
                let dir = folder.appendingPathComponent(student)
                try fm.createDirectory(at: dir, withIntermediateDirectories: true)
                let body = try code.map { try GradingTests.answer(exercise, ["answer": $0]) } ?? exercise.studentVersion()
                try body.write(to: dir.appendingPathComponent(exerciseName + ".md"), atomically: true, encoding: .utf8)
            }
            // Honest students.
            try put(layout.submissions, "b-ref", solutionCode)
            try put(layout.submissions, "b-starter", nil)
            try put(layout.submissions, "a02-victim17", victimCode(s))
            try put(layout.killSubmissions, "b-ref2", solutionCode + "\n// checked twice")
            try put(layout.killSubmissions, "c14-kill", starterCode + "\n" + prelude(marker: marker, caseID: "c14") + "\n" + killCode)

            // The test's own loopback listener, outside any sandbox.
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = 0
            addr.sin_addr.s_addr = UInt32(0x7F000001).bigEndian
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
            _ = listen(listener, 16)
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
            let port = UInt16(bigEndian: addr.sin_port)
            defer { close(listener) }

            // Descriptors a careless parent (a shell, a CI runner) leaves open across exec: a folder
            // of the host and an unconnected socket of the host's network. The sandbox must not pass
            // them on (cases 7 and 16 try to use them).
            let leakedFolder = open(root.path, O_RDONLY | O_DIRECTORY)
            let leakedSocket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(leakedFolder); close(leakedSocket) }
            for attack in attacks(layout: layout, port: port, secrets: s) where selected(attack.caseID) {
                try put(layout.submissions, attack.student,
                        starterCode + "\n" + prelude(marker: marker, caseID: attack.caseID) + "\n" + attack.code)
            }
            // The unprivileged grader owns its course, as an instructor does; the secret is its own.
            if let uid = half.uid { chownTree(root, uid: uid) }
            chmod(layout.planted.path, 0o600)

            var env = ProcessInfo.processInfo.environment
            env["WORKBOOK_PACKAGE_ROOT"] = layout.checkout.path
            env["WORKBOOK_ENGINE_BUILD_DIR"] = engine.buildDirectory.path
            env["HOME"] = layout.home.path
            env["TMPDIR"] = layout.graderTemp.path
            func grade(_ name: String, _ submissions: URL) -> CLIRun {
                let sets = Set((try? fm.contentsOfDirectory(atPath: layout.output.path)) ?? [])
                var run = Self.run(name, executable: executable,
                                   arguments: ["grade", submissions.path, "--exercises", layout.exercises.path,
                                               "--out", layout.output.path, "--jobs", "2", "--timeout", "10", "--memory", "512"],
                                   environment: env, uid: half.uid, directory: root, limit: 420)
                readGradebook(into: &run, output: layout.output, before: sets)
                return run
            }
            // Each run's leftovers are collected before the next run starts (a kill(-1) that
            // escaped would otherwise remove the evidence of the main run).
            for (name, folder) in [("main", layout.submissions), ("kill", layout.killSubmissions)] {
                let before = sharedFolders.map { listing($0) }
                let beforeSlash = Set(listing("/").keys)
                half.runs.append(grade(name, folder))
                // Daemons write every 0.3 s: give one that survived the time to show itself.
                Thread.sleep(forTimeInterval: 2)
                for found in leftovers(half: half, layout: layout, before: before, beforeSlash: beforeSlash)
                where !half.leftovers.contains(where: { $0.what == found.what }) {
                    half.leftovers.append(found)
                }
            }

            // What connected to the listener from inside a program.
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { break }
                half.loopbackAccepted += 1
                close(fd)
            }
            for file in [layout.planted, layout.exerciseFile, layout.siteCopy] {
                var st = stat()
                if lstat(file.path, &st) == 0 { half.linkCounts[file.lastPathComponent] = Int(st.st_nlink) }
            }
            if (try? String(contentsOf: layout.exerciseFile, encoding: .utf8)) != text { half.changedInstructorFiles.append(layout.exerciseFile.path) }
        } catch {
            half.problem = "setting up the \(mode.rawValue) half failed: \(error)"
        }
        return half
    }

    /// Marked files anywhere the programs could reach, new files of sandbox uids in the shared
    /// temporary folders, special files and links under the half's root, marked processes. Found
    /// processes are killed and found files removed (all were made by this test's programs).
    static func leftovers(half: Half, layout: Layout, before: [[String: uid_t]], beforeSlash: Set<String>) -> [(caseID: String, what: String)] {
        var found: [(String, String)] = []
        let fm = FileManager.default
        let marker = half.marker
        for p in processes() where p.pid != getpid() {
            let marked = p.comm.hasPrefix(marker) || p.cmdline.contains(marker) || p.cmdline.contains(half.root.path)
            if marked || (half.uid != nil && p.uid == half.uid) {
                let id = caseID(in: p.comm, marker: marker) ?? caseID(in: p.cmdline, marker: marker) ?? ""
                found.append((id, "process \(p.pid) uid \(p.uid) \(p.comm): \(p.cmdline.prefix(160))"))
                kill(p.pid, SIGKILL)
            }
        }
        var remove: [String] = []
        // Many fill files: one line per case and folder.
        var grouped: [String: Int] = [:]
        for (i, folder) in sharedFolders.enumerated() {
            for (name, owner) in listing(folder) where before[i][name] == nil {
                let sandboxOwner = owner == half.uid || (half.mode == .root && (61000...79999).contains(owner))
                if name.contains(marker) {
                    grouped["\(caseID(in: name, marker: marker) ?? "")|\(folder)", default: 0] += 1
                    remove.append(folder + "/" + name)
                } else if sandboxOwner {
                    found.append(("", "file \(folder)/\(name) (owner \(owner))"))
                }
            }
        }
        for name in listing("/").keys where !beforeSlash.contains(name) && name.contains(marker) {
            found.append((caseID(in: name, marker: marker) ?? "", "file /\(name)"))
            remove.append("/" + name)
        }
        for folder in ["/root", "/home"] {
            for name in listing(folder).keys where name.contains(marker) {
                found.append((caseID(in: name, marker: marker) ?? "", "file \(folder)/\(name)"))
                remove.append(folder + "/" + name)
            }
        }
        // The half's root: the checkout, the grade folders, gradebooks, submissions.
        let sourcesLink = layout.checkout.appendingPathComponent("Sources").path
        if let items = fm.enumerator(atPath: half.root.path) {
            for case let item as String in items {
                let path = half.root.appendingPathComponent(item).path
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                let kind = st.st_mode & S_IFMT
                let name = (item as NSString).lastPathComponent
                if name.contains(marker) {
                    let key = "\(caseID(in: name, marker: marker) ?? "")|\(half.root.path)/\((item as NSString).deletingLastPathComponent)"
                    grouped[key, default: 0] += 1
                    remove.append(path)
                    continue
                }
                if path != sourcesLink && kind != S_IFREG && kind != S_IFDIR {
                    let what = kind == S_IFLNK ? "symbolic link" : kind == S_IFIFO ? "FIFO" : "special file"
                    found.append((caseID(ofScratch: item), "\(what) \(path)"))
                }
            }
        }
        for (key, count) in grouped.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            found.append((parts[0], "\(count) file\(count == 1 ? "" : "s") named \(marker)-\(parts[0])-* in \(parts.count > 1 ? parts[1] : "")"))
        }
        for path in remove { try? fm.removeItem(atPath: path) }
        return found
    }

    override func setUpWithError() throws {
        if !Self.prepared {
            Self.prepared = true
            do {
                guard getuid() == 0 else {
                    Self.setupProblem = "needs root: the suite grades once as root and once as a throwaway uid"
                    throw XCTSkip(Self.setupProblem!)
                }
                let engine = try GradingTests.engine()
                guard let workbook = Self.workbookExecutable() else {
                    Self.setupProblem = WorkbookExecutable.notBuilt
                    throw XCTSkip(Self.setupProblem!)
                }
                Self.halves = [Self.prepareHalf(mode: .root, engine: engine, executable: workbook),
                               Self.prepareHalf(mode: .unprivileged, engine: engine, executable: workbook)]
                Self.report()
            } catch let skip as XCTSkip {
                throw skip
            } catch {
                Self.setupProblem = "needs the engine built with `swift build -c release --product WorkbookKit`: \(error)"
            }
        }
        if let problem = Self.setupProblem { throw XCTSkip(problem) }
    }

    override class func tearDown() {
        for folder in opened.reversed() { chmod(folder.path, folder.mode) }
        opened = []
        if ProcessInfo.processInfo.environment["HOSTILE_KEEP"] == nil {
            for half in halves { try? FileManager.default.removeItem(at: half.root) }
        }
        halves = []
    }

    /// A summary on stdout: what each run did, for the report and for debugging a failure.
    static func report() {
        for half in halves {
            print("hostile suite \(half.label): \(half.problem ?? "ran") uid \(half.uid.map(String.init) ?? "0")")
            for run in half.runs {
                print("  run \(run.name): \(run.termination) in \(Int(run.seconds)) s, \(run.grades.count) grades")
                if !run.exitedZero { print("    stderr: \(run.stderr.suffix(1500))") }
            }
            for (student, g) in half.grades.sorted(by: { $0.key < $1.key }) {
                let firstLines = g.output.split(separator: "\n").prefix(6).map { String($0.prefix(160)) }.joined(separator: " | ")
                print("  \(student): \(g.points)/\(g.maxPoints) \(g.status.rawValue) \(String(format: "%.1f", g.runSeconds ?? 0)) s \(g.message.prefix(200)) :: \(firstLines)")
            }
            for l in half.leftovers { print("  leftover [\(l.caseID)]: \(l.what)") }
            if half.loopbackAccepted > 0 { print("  loopback listener accepted \(half.loopbackAccepted) connection(s)") }
        }
    }

    // MARK: - Assertions

    var halves: [Half] { Self.halves }
    var secrets: Secrets { Self.secrets }

    /// Every text a student's grading produced (its grade's output, message and notes, its check
    /// messages, its feedback page and gradebook lines).
    func texts(of student: String, in half: Half) -> [(String, String)] {
        var out: [(String, String)] = []
        for run in half.runs {
            if let g = run.grades[student] {
                out.append(("output", g.output))
                out.append(("message", ([g.message] + g.notes + g.checks.map(\.message)).joined(separator: "\n")))
            }
            if let page = run.feedback[student] { out.append(("feedback page", page)) }
            let lines = run.csv.split(separator: "\n").filter { $0.hasPrefix(student + ",") }.joined(separator: "\n")
            out.append(("gradebook CSV", lines))
        }
        return out
    }

    /// The common assertions of one case for one or more students.
    func assertCase(_ caseID: String, students: [String], file: StaticString = #filePath, line: UInt = #line,
                    extra: (Half, String, ExerciseGrade) -> Void = { _, _, _ in }) {
        XCTAssertFalse(halves.isEmpty, file: file, line: line)
        for half in halves {
            if let problem = half.problem { XCTFail("\(half.label) \(problem)", file: file, line: line); continue }
            let starter = half.grades["b-starter"]?.points ?? 1
            for student in students {
                guard let g = half.grades[student] else {
                    let runs = half.runs.map { run in
                        "\(run.name): \(run.termination)" + (run.exitedZero ? "" : " \(run.stderr.split(separator: "\n").last.map { "(\($0.prefix(300)))" } ?? "")")
                    }
                    XCTFail("\(half.label) \(student) was not graded (the grader died, hung or refused: \(runs.joined(separator: "; ")))",
                            file: file, line: line)
                    continue
                }
                XCTAssertNotEqual(g.status, .compileError, "\(half.label) \(student): the hostile program must compile: \(g.message)", file: file, line: line)
                XCTAssertLessThanOrEqual(g.points, starter, "\(half.label) \(student) earned more than the starter: \(g.checks.map { "\($0.name)=\($0.points)" })",
                                         file: file, line: line)
                for (what, text) in texts(of: student, in: half) {
                    for secret in secrets.all where text.contains(secret) {
                        XCTFail("\(half.label) \(student): its \(what) carries a secret ('\(secret.prefix(40))'): …\(Self.context(of: secret, in: text))…",
                                file: file, line: line)
                    }
                }
                extra(half, student, g)
            }
            for l in half.leftovers where l.caseID == caseID {
                XCTFail("\(half.label) \(caseID) left on the host: \(l.what)", file: file, line: line)
            }
        }
    }

    static func context(of needle: String, in text: String) -> String {
        guard let r = text.range(of: needle) else { return "" }
        let start = text.index(r.lowerBound, offsetBy: -80, limitedBy: text.startIndex) ?? text.startIndex
        let end = text.index(r.upperBound, offsetBy: 80, limitedBy: text.endIndex) ?? text.endIndex
        return String(text[start..<end]).replacingOccurrences(of: "\n", with: " ")
    }

    func output(_ half: Half, _ student: String) -> String { half.grades[student]?.output ?? "" }

    func testGraderSurvivesAndGradesTheHonestStudents() {
        for half in halves {
            if let problem = half.problem { XCTFail("\(half.label) \(problem)"); continue }
            for run in half.runs {
                XCTAssertTrue(run.exitedZero, "\(half.label) run '\(run.name)' ended with \(run.termination): \(run.stderr.suffix(600))")
            }
            XCTAssertEqual(half.grades["b-ref"]?.points, 5, "\(half.label) the reference answer: \(half.grades["b-ref"].map { "\($0.status) \($0.message)" } ?? "not graded")")
            XCTAssertEqual(half.grades["b-ref2"]?.points, 5, "\(half.label) the honest student beside kill(-1)")
            XCTAssertEqual(half.grades["a02-victim17"]?.points, 5, "\(half.label) the victim of case 17")
            XCTAssertEqual(half.grades["b-starter"]?.points, 1, "\(half.label) the starter earns the shape check only")
            XCTAssertEqual(half.runs.first?.grades.count, 3 + Self.attacks(layout: Layout(root: half.root), port: 1, secrets: secrets).filter { Self.selected($0.caseID) }.count,
                           "\(half.label) every student of the main run is graded")
        }
    }

    /// The whole gradebooks, every feedback page and the CLI's own output, whoever leaked.
    func testNoSecretInAnyGradebookFeedbackOrCLIOutput() {
        for half in halves {
            for run in half.runs {
                let pages = run.feedback.map { ("feedback \($0.key)", $0.value) }
                for (what, text) in [("CSV", run.csv), ("JSON", run.jsonText), ("CLI output", run.stdout + run.stderr)] + pages {
                    for secret in secrets.all where text.contains(secret) {
                        XCTFail("\(half.label) \(run.name) \(what) carries '\(secret.prefix(40))': …\(Self.context(of: secret, in: text))…")
                    }
                }
            }
        }
    }

    func testNothingUnattributedIsLeftOnTheHost() {
        for half in halves {
            for l in half.leftovers where l.caseID.isEmpty {
                XCTFail("\(half.label) left on the host: \(l.what)")
            }
            XCTAssertEqual(half.changedInstructorFiles, [], "\(half.label) instructor files changed")
        }
    }

    func testCase04AnswersFileSwappedForLinkFifoDeviceOrFolder() {
        assertCase("c04", students: ["c04-link-planted", "c04-link-shadow", "c04-fifo", "c04-device", "c04-directory"]) { half, student, g in
            XCTAssertTrue(g.output.contains("swap registered"), "\(half.label) \(student) did not run: \(g.status) \(g.message)")
            // The swapped file is never read: not even the count a planted file would give.
            XCTAssertEqual(g.checks.first { $0.name == "count" }?.points, 0, "\(half.label) \(student) read through the swapped answers file")
        }
    }

    func testCase05WalkOfTheFileSystemFindsNoInstructorFile() {
        assertCase("c05", students: ["c05-walk"]) { half, student, g in
            XCTAssertTrue(g.output.contains("HX-BEGIN"), "\(half.label) did not run: \(g.status) \(g.message)")
            let found = g.output.split(separator: "\n").filter { $0.hasPrefix("FOUND ") }
            XCTAssertEqual(found, [], "\(half.label) the walk read instructor files")
        }
    }

    func testCase06ProcShowsNoHostPath() throws {
        let engine = try GradingTests.engine()
        assertCase("c06", students: ["c06-proc"]) { half, student, g in
            XCTAssertTrue(g.output.contains("MOUNTINFO"), "\(half.label) did not run: \(g.status) \(g.message)")
            // The checkouts, the engine build and the grade folders; not the grader's TMPDIR (where an
            // unprivileged sandbox stages its binds), which the test puts under the half's root.
            let layout = Layout(root: half.root)
            let hostPaths = [engine.packageRoot.path, engine.buildDirectory.path, layout.checkout.path,
                             layout.submissions.path, layout.output.path]
            for path in hostPaths where g.output.contains(path) {
                XCTFail("\(half.label) /proc shows the host path \(path): …\(Self.context(of: path, in: g.output))…")
            }
        }
    }

    func testCase07NoNetwork() {
        assertCase("c07", students: ["c07-network"]) { half, student, g in
            let lines = g.output.split(separator: "\n").map(String.init)
            let loopback = lines.first { $0.hasPrefix("LOOPBACK ") } ?? "LOOPBACK (not reached)"
            XCTAssertTrue(loopback.hasPrefix("LOOPBACK failed"), "\(half.label) \(loopback)")
            XCTAssertEqual(half.loopbackAccepted, 0, "\(half.label) the host's loopback listener was reached from inside")
            let interfaces = lines.first { $0.hasPrefix("INTERFACES ") } ?? "INTERFACES (not reached)"
            XCTAssertTrue(interfaces == "INTERFACES lo" || interfaces == "INTERFACES unknown" || interfaces == "INTERFACES ",
                          "\(half.label) the program sees the host's network: \(interfaces)")
            XCTAssertFalse(lines.contains("OUTSIDE connected"), "\(half.label) reached 192.0.2.1")
            for line in lines where line.hasPrefix("INHERITED-SOCKET") && line.hasSuffix("connected") {
                XCTFail("\(half.label) a socket the grader inherited reached the host's loopback: \(line)")
            }
        }
    }

    func testCase08ForkBombIsBoundedAndCleanedUp() {
        assertCase("c08", students: ["c08-fork-bomb"]) { half, student, g in
            let line = g.output.split(separator: "\n").first { $0.hasPrefix("FORKS ") }.map(String.init) ?? ""
            let forks = Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
            XCTAssertTrue(g.status != .ok || (forks >= 0 && forks < 1000), "\(half.label) no process limit: \(line.isEmpty ? g.message : line)")
        }
    }

    func testCase09MemoryBombIsBounded() {
        assertCase("c09", students: ["c09-memory-bomb"]) { half, student, g in
            XCTAssertFalse(g.output.contains("ALLOCATED 2048 MiB"), "\(half.label) 2 GiB allocated and touched under a 512 MiB limit")
        }
    }

    func testCase10SpinningThreadEndsWithTheProgram() {
        assertCase("c10", students: ["c10-spinning-thread"]) { half, student, g in
            XCTAssertTrue(g.output.contains("HX-BEGIN"), "\(half.label) did not run: \(g.status) \(g.message)")
        }
    }

    func testCase11DaemonDoesNotOutliveTheRun() {
        assertCase("c11", students: ["c11-daemon"]) { half, student, g in
            XCTAssertTrue(g.output.contains("daemon started"), "\(half.label) did not run: \(g.status) \(g.message)")
        }
    }

    func testCase12DiskFillLeavesNothing() {
        assertCase("c12", students: ["c12-disk-fill"]) { half, student, g in
            XCTAssertTrue(g.output.contains("FILLED") || g.status != .ok, "\(half.label) did not run: \(g.status) \(g.message)")
        }
    }

    func testCase13OutputFloodIsCapped() {
        assertCase("c13", students: ["c13-output-flood"]) { half, student, g in
            XCTAssertLessThanOrEqual(g.output.utf8.count, 80 << 10, "\(half.label) the kept output is not capped")
            XCTAssertLessThanOrEqual(half.runs.first?.feedback[student]?.utf8.count ?? 0, 200 << 10, "\(half.label) the feedback page is not capped")
        }
    }

    func testCase14KillAllAndKillParent() {
        assertCase("c14", students: ["c14-kill"]) { half, student, g in
            XCTAssertFalse(g.output.contains("REFUSED"), "\(half.label) the program ran as root outside a pid namespace")
            XCTAssertTrue(g.output.contains("KILL-ALL") || g.status != .ok, "\(half.label) did not run: \(g.status) \(g.message)")
        }
    }

    func testCase15LinksToGraderFilesAndOtherStudents() {
        assertCase("c15", students: ["c15-link-chain", "c15-steal"]) { half, student, g in
            XCTAssertTrue(g.output.contains("HX-BEGIN"), "\(half.label) \(student) did not run: \(g.status) \(g.message)")
            for line in g.output.split(separator: "\n") where line.hasPrefix("HARDLINK") && line.hasSuffix(": made") {
                XCTFail("\(half.label) \(student): \(line)")
            }
            for line in g.output.split(separator: "\n") where line.hasPrefix("READ ") {
                XCTFail("\(half.label) \(student) read another run's file: \(line.prefix(200))")
            }
            XCTAssertFalse(g.output.contains("STOLEN answers"), "\(half.label) \(student) stole another run's answers")
        }
        for half in halves {
            for (name, count) in half.linkCounts.sorted(by: { $0.key < $1.key }) {
                XCTAssertEqual(count, 1, "\(half.label) \(name) has \(count) hard links after the run")
            }
        }
    }

    func testCase16ChdirOutOfTheScratchFolder() {
        assertCase("c16", students: ["c16-chdir"]) { half, student, g in
            let line = g.output.split(separator: "\n").first { $0.hasPrefix("WROTE OUTSIDE") }.map(String.init) ?? "WROTE OUTSIDE (not reached)"
            XCTAssertEqual(line, "WROTE OUTSIDE: nowhere", "\(half.label)")
            for folder in g.output.split(separator: "\n") where folder.hasPrefix("FD-FOLDER") && !folder.contains("/proc/") {
                XCTFail("\(half.label) a folder descriptor inherited from the grader is open inside: \(folder.prefix(300))")
            }
        }
    }

    func testCase17NoAccessToAnotherStudentsRun() {
        assertCase("c17", students: ["a01-attacker17"]) { half, student, g in
            XCTAssertTrue(g.output.contains("ATTACK done"), "\(half.label) did not run: \(g.status) \(g.message)")
            for bad in ["PTRACE-ATTACHED", "MEM-OPENED", "VMREAD-FOUND", "VICTIM-FILE", self.secrets.victim] where g.output.contains(bad) {
                XCTFail("\(half.label) the attacker got at the victim (\(bad.prefix(20))): …\(Self.context(of: bad, in: g.output))…")
            }
        }
    }
}
#endif
