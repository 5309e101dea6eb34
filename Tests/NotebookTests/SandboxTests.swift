import XCTest
@testable import Notebook

/// The bubblewrap sandbox, driven with the shell (dash) as the untrusted program: what exists
/// inside, what it can write, what comes back, and that nothing it started or wrote outlives it.
/// As root the program runs as a leased uid; the unprivileged half re-runs these checks in a child
/// test process as `nobody`, where bwrap works through an unprivileged user namespace.
final class SandboxTests: XCTestCase {
    static let childVariable = "WORKBOOK_SANDBOX_TEST_CHILD"
    var root: URL!

    override func setUpWithError() throws {
        guard Sandbox.isolationAvailable else {
            throw XCTSkip("no sandbox here: \(Sandbox.isolationProblem ?? "")")
        }
        // World-readable: the unprivileged half reads its input as another user.
        root = URL(fileURLWithPath: "/tmp").appendingPathComponent("sandbox-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        chmod(root.path, 0o755)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    static var shell: String { URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path }

    /// Runs `script` with `sh -c` in a sandbox that binds `data/in.txt` and hands back `answers.jsonl`.
    func runShell(_ script: String, environment: [String: String] = [:],
                  limits: SandboxLimits = SandboxLimits()) throws -> (ProgramHost.Outcome, [String]) {
        let input = root.appendingPathComponent("in.txt")
        try Data("input-line\n".utf8).write(to: input)
        chmod(input.path, 0o644)
        var limits = limits
        limits.wallSeconds = min(limits.wallSeconds, 20)
        let sandbox = Sandbox(limits: limits, uid: 61000, isolates: true,
                              inputs: [Sandbox.Input(host: input, relativePath: "data/in.txt")],
                              outputs: [Sandbox.Output(name: "answers.jsonl", variable: "WORKBOOK_ANSWERS_FILE")])
        let outcome = try ProgramHost.run(ProgramHost.Launch(executable: Self.shell, arguments: ["-c", script],
                                                             directory: root, environment: environment),
                                          policy: .sandboxed(sandbox))
        let lines = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        return (outcome, lines)
    }

    /// Folders a stage of this user's runs lives in.
    var stageFolder: String {
        getuid() == 0 ? Sandbox.Stage.rootFolder : Sandbox.Stage.userFolder.path
    }

    /// Every check of what a sandboxed program sees and leaves; run as root and as `nobody`.
    func checkIsolation() throws {
        let mark = "sbx-\(UUID().uuidString.prefix(12))"
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let script = """
            for p in /root /home /etc/passwd /etc/shadow /etc/hostname /work /sys/kernel "$PKG" "$HOSTROOT" /run /var /opt/swift/bin; do [ -e "$p" ] && echo "VISIBLE $p"; done
            for p in /*; do echo "ROOT $p"; done
            for p in /etc/*; do echo "ETC $p"; done
            read line < data/in.txt; echo "INPUT $line"
            while read l; do case "$l" in Uid:*) echo "UID $l";; esac; done < /proc/self/status
            echo "$MARK answer" > "$WORKBOOK_ANSWERS_FILE" && echo "WROTE answers"
            echo "$MARK" > /tmp/$MARK && echo "WROTE tmp"
            echo "$MARK" > /dev/shm/$MARK && echo "WROTE shm"
            echo "$MARK" > /scratch/$MARK && echo "WROTE scratch"
            echo "$MARK" > /$MARK 2>/dev/null && echo "WROTE root"
            echo "$MARK" > /usr/lib/$MARK 2>/dev/null && echo "WROTE usr"
            echo "$MARK" > /dev/$MARK 2>/dev/null && echo "WROTE dev"
            echo "$MARK" > data/in.txt 2>/dev/null && echo "WROTE input"
            while read l; do case "$l" in *:*) echo "NET ${l%%:*}";; esac; done < /proc/net/dev
            for p in /proc/[0-9]*; do echo "PID $p"; done
            echo "PWD $PWD HOME $HOME"
            while read l; do echo "MOUNT $l"; done < /proc/self/mountinfo
            """
        let (outcome, lines) = try runShell(script, environment: ["PKG": package, "HOSTROOT": root.path, "MARK": mark])
        XCTAssertEqual(outcome.ending, .exited(0), String(decoding: outcome.stderr, as: UTF8.self))
        XCTAssertEqual(lines.filter { $0.hasPrefix("VISIBLE") }, [], "host paths exist inside")
        let allowed: Set<String> = ["/dev", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/scratch", "/tmp", "/usr", "/workbook", "/opt", "/etc"]
        let tops = Set(lines.filter { $0.hasPrefix("ROOT ") }.map { String($0.dropFirst(5)) })
        XCTAssertTrue(tops.isSubset(of: allowed), "unexpected top-level entries: \(tops.subtracting(allowed))")
        let etc = Set(lines.filter { $0.hasPrefix("ETC ") }.map { String($0.dropFirst(4)) })
        XCTAssertTrue(etc.isSubset(of: ["/etc/alternatives", "/etc/ld.so.cache"]), "\(etc)")
        XCTAssertTrue(lines.contains("INPUT input-line"), "\(lines)")
        XCTAssertFalse(lines.contains { $0.hasPrefix("UID Uid:\t0\t") || $0.hasPrefix("UID Uid: 0 ") }, "runs as root inside: \(lines)")
        for place in ["answers", "tmp", "shm", "scratch"] { XCTAssertTrue(lines.contains("WROTE \(place)"), "cannot write \(place): \(lines)") }
        for place in ["root", "usr", "dev", "input"] { XCTAssertFalse(lines.contains("WROTE \(place)"), "could write \(place)") }
        XCTAssertEqual(Set(lines.filter { $0.hasPrefix("NET ") }), ["NET lo"], "network interfaces besides loopback")
        XCTAssertLessThanOrEqual(lines.filter { $0.hasPrefix("PID ") }.count, 4, "sees processes outside its own: \(lines)")
        XCTAssertTrue(lines.contains("PWD /scratch HOME /scratch"), "\(lines)")
        // Bind sources show in mountinfo: none is the checkout or the host folder of the input.
        let mounts = lines.filter { $0.hasPrefix("MOUNT ") }
        XCTAssertGreaterThan(mounts.count, 5)
        XCTAssertEqual(mounts.filter { $0.contains(package) || $0.contains(root.path) }, [], "host paths in mountinfo")
        // The answers come back; everything else it wrote is gone with it.
        guard case .success(let answers)? = outcome.outputFiles["answers.jsonl"] else {
            return XCTFail("no answers: \(String(describing: outcome.outputFiles))")
        }
        XCTAssertEqual(String(decoding: answers, as: UTF8.self), "\(mark) answer\n")
        let fm = FileManager.default
        for folder in ["/tmp", "/dev/shm", "/", "/usr/lib", root.path] {
            XCTAssertFalse(fm.fileExists(atPath: "\(folder)/\(mark)"), "\(folder)/\(mark) survived the run")
        }
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("in.txt"), encoding: .utf8), "input-line\n")
        let leftovers = (fm.enumerator(atPath: stageFolder)?.allObjects as? [String] ?? []).filter {
            (try? String(contentsOfFile: "\(stageFolder)/\($0)", encoding: .utf8))?.contains(mark) == true
        }
        XCTAssertEqual(leftovers, [], "the run's files survived in \(stageFolder)")
    }

    /// Every process a program starts (background loops, double forks into a new session) ends
    /// with it.
    func checkNothingOutlivesTheProgram() throws {
        let mark = "sbx-daemon-\(UUID().uuidString.prefix(12))"
        let script = """
            /workbook/bin/\(URL(fileURLWithPath: Self.shell).lastPathComponent) -c 'while :; do :; done # '"$MARK" &
            ( /workbook/bin/\(URL(fileURLWithPath: Self.shell).lastPathComponent) -c 'trap "" HUP TERM; while :; do :; done # '"$MARK" & ) &
            i=0; while [ $i -lt 2000 ]; do n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; [ $n -ge 4 ] && break; i=$((i+1)); done
            echo "started, $n processes"
            exit 0
            """
        let (outcome, lines) = try runShell(script, environment: ["MARK": mark])
        XCTAssertEqual(outcome.ending, .exited(0))
        // bwrap's init, the shell and its two loops were all running when it exited.
        XCTAssertTrue(lines.contains { $0.hasPrefix("started, ") && (Int($0.split(separator: " ")[1]) ?? 0) >= 4 }, "\(lines)")
        XCTAssertLessThan(outcome.seconds, 10, "the host waited for the background processes")
        var survivors: [String] = []
        for _ in 0..<20 {
            survivors = Self.processes(containing: mark)
            if survivors.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(survivors, [], "processes outlived the program")
    }

    /// Pids whose command line contains `text`.
    static func processes(containing text: String) -> [String] {
        let me = String(getpid())
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard pid.first?.isNumber == true, pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
    }

    func testProgramSeesOnlyWhatIsBoundAndLeavesOnlyItsAnswers() throws {
        try checkIsolation()
    }

    func testNothingTheProgramStartedOutlivesIt() throws {
        try checkNothingOutlivesTheProgram()
    }

    func testRunsAsALeasedUidWhenRoot() throws {
        guard getuid() == 0 else { throw XCTSkip("root only") }
        let (_, lines) = try runShell("while read l; do case \"$l\" in Uid:*) echo \"$l\";; esac; done < /proc/self/status")
        let uid = lines.first?.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
        XCTAssertNotNil(uid, "\(lines)")
        XCTAssertTrue(uid.map { UIDLease.range.contains($0) } ?? false, "uid \(String(describing: uid)) is not a leased one")
    }

    /// As root, bwrap runs as the leased uid and resolves binds as that uid: a library and an
    /// input in a folder only root can enter (a checkout under /root) are copied where it can.
    func testFilesInPrivateFoldersAreStagedForTheLeasedUid() throws {
        guard getuid() == 0 else { throw XCTSkip("root only") }
        let secret = root.appendingPathComponent("private")
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: true)
        chmod(secret.path, 0o700)
        let library = secret.appendingPathComponent("libfake-\(UUID().uuidString.prefix(6)).so")
        let input = secret.appendingPathComponent("input.txt")
        try Data("library-line\n".utf8).write(to: library)
        try Data("private-input\n".utf8).write(to: input)
        let sandbox = Sandbox(uid: 61000, libraries: [library], inputs: [Sandbox.Input(host: input, relativePath: "in/input.txt")])
        let script = "read a < /workbook/lib/\(library.lastPathComponent); read b < in/input.txt; echo \"$a $b\""
        let outcome = try ProgramHost.run(ProgramHost.Launch(executable: Self.shell, arguments: ["-c", script], directory: root, environment: [:]),
                                          policy: .sandboxed(sandbox))
        XCTAssertEqual(String(decoding: outcome.stdout, as: UTF8.self), "library-line private-input\n",
                       String(decoding: outcome.stderr, as: UTF8.self))
    }

    /// Shared copies of files that no longer exist (a checkout removed) are dropped when the next
    /// copy is made, so the stage folder (in RAM under /run) does not fill up.
    func testSharedCopiesOfRemovedFilesArePruned() throws {
        guard getuid() == 0 else { throw XCTSkip("root only") }
        let fm = FileManager.default
        func library(_ folder: String) throws -> URL {
            let dir = root.appendingPathComponent(folder)
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            chmod(dir.path, 0o700)
            let file = dir.appendingPathComponent("libgone-\(UUID().uuidString.prefix(6)).so")
            try Data("x\n".utf8).write(to: file)
            return file
        }
        func sources() -> [String] {
            let base = URL(fileURLWithPath: "/run/workbook-sandbox")
            return ((try? fm.contentsOfDirectory(atPath: base.path)) ?? []).filter { $0.hasPrefix("shared-") }.compactMap {
                try? String(contentsOf: base.appendingPathComponent($0).appendingPathComponent(".source"), encoding: .utf8)
            }
        }
        let first = try library("gone"), second = try library("kept")
        for lib in [first, second] {
            _ = try ProgramHost.run(ProgramHost.Launch(executable: Self.shell, arguments: ["-c", "true"], directory: root, environment: [:]),
                                    policy: .sandboxed(Sandbox(uid: 61001, libraries: [lib])))
            if lib == first {
                XCTAssertTrue(sources().contains(first.path))
                try fm.removeItem(at: first.deletingLastPathComponent())
            }
        }
        XCTAssertFalse(sources().contains(first.path), "the copy of a removed library is pruned")
        XCTAssertTrue(sources().contains(second.path))
    }

    /// A descriptor the host holds without close-on-exec (left by a careless parent: a host
    /// folder) does not reach the program.
    func testInheritedDescriptorsDoNotReachTheProgram() throws {
        let folder = open(root.path, O_RDONLY | O_DIRECTORY)
        XCTAssertGreaterThan(folder, 3)
        defer { close(folder) }
        let (outcome, lines) = try runShell("[ -e /proc/self/fd/\(folder) ] && echo LEAKED; echo checked")
        XCTAssertEqual(outcome.ending, .exited(0))
        XCTAssertEqual(lines, ["checked"])
    }

    /// A grader killed mid-run leaves its stage (the answers file) behind; the next one removes
    /// stages whose lock nobody holds, never a live one.
    func testStagesOfDeadGradersAreSwept() throws {
        let base = root.appendingPathComponent("stages")
        let fm = FileManager.default
        for name in ["dead", "alive"] {
            try fm.createDirectory(at: base.appendingPathComponent(name), withIntermediateDirectories: true)
            try Data("answer".utf8).write(to: base.appendingPathComponent("\(name)/out-answers.jsonl"))
        }
        let dead = open(base.appendingPathComponent("dead.lock").path, O_RDWR | O_CREAT, 0o600)
        close(dead)
        let alive = open(base.appendingPathComponent("alive.lock").path, O_RDWR | O_CREAT, 0o600)
        // A lock held through another open file description, as another grader's would be.
        XCTAssertEqual(flock(alive, LOCK_EX), 0)
        defer { close(alive) }
        Sandbox.Stage.sweepOnce(base)
        XCTAssertFalse(fm.fileExists(atPath: base.appendingPathComponent("dead").path))
        XCTAssertFalse(fm.fileExists(atPath: base.appendingPathComponent("dead.lock").path))
        XCTAssertTrue(fm.fileExists(atPath: base.appendingPathComponent("alive/out-answers.jsonl").path))
    }

    /// The file a program hands back is capped by RLIMIT_FSIZE and read back capped.
    func testOutputsAreCappedAndNeverFollowed() throws {
        var limits = SandboxLimits()
        limits.fileBytes = 4096
        // Writing past RLIMIT_FSIZE stops the shell with SIGXFSZ; what was written stays capped.
        let (big, _) = try runShell("i=0; while [ $i -lt 2000 ]; do echo 0123456789 >> \"$WORKBOOK_ANSWERS_FILE\"; i=$((i+1)); done", limits: limits)
        guard case .success(let data)? = big.outputFiles["answers.jsonl"] else { return XCTFail("\(big.outputFiles)") }
        XCTAssertLessThanOrEqual(data.count, 4096)
        XCTAssertTrue(data.starts(with: Data("0123456789\n".utf8)))
    }

    /// The same checks as an ordinary user (bwrap through an unprivileged user namespace): as root,
    /// this test runs itself again in a child process as `nobody`.
    func testIsolationAsUnprivilegedUser() throws {
        if getuid() != 0 {
            try checkIsolation()
            try checkNothingOutlivesTheProgram()
            return
        }
        var bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        guard bundle.lastPathComponent.hasSuffix(".xctest") else {
            throw XCTSkip("cannot re-run the test bundle (\(bundle.path)) as another user")
        }
        // The bundle must be reachable by `nobody` (a checkout under /root is not).
        if !Sandbox.Stage.isReachable(bundle.path) {
            let copy = root.appendingPathComponent(bundle.lastPathComponent)
            try FileManager.default.copyItem(at: bundle, to: copy)
            chmod(copy.path, 0o755)
            bundle = copy
        }
        var env = ProcessInfo.processInfo.environment
        env[Self.childVariable] = "1"
        env["HOME"] = "/tmp"
        env["TMPDIR"] = "/tmp"
        let started = Date()
        let result = try ChildProcess(executable: "/usr/bin/setpriv",
                                      arguments: ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                                  bundle.path, "NotebookTests.SandboxTests/testIsolationAsUnprivilegedUser"],
                                      environment: env).run(check: { Date().timeIntervalSince(started) > 300 })
        let log = String(decoding: result.stdout + result.stderr, as: UTF8.self)
        XCTAssertEqual(result.termination, .exited(0), log)
        XCTAssertTrue(log.contains("Executed 1 test"), log)
        XCTAssertFalse(log.contains("skipped"), "the unprivileged run skipped: \(log)")
    }
}
