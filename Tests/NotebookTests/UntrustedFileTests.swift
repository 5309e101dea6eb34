import XCTest
@testable import Notebook
import ProgramRecords

final class UntrustedFileTests: XCTestCase {
    func testOnlyRegularUnlinkedFilesAreReadAndCapped() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("untrusted-\(UUID().uuidString.prefix(8))")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("plain")
        try Data("0123456789".utf8).write(to: plain)
        XCTAssertEqual(try UntrustedFile.read(plain, limit: 4).get(), Data("0123".utf8))
        XCTAssertEqual(try UntrustedFile.read(plain, limit: 100).get(), Data("0123456789".utf8))

        let secret = dir.appendingPathComponent("secret")
        try Data("secret".utf8).write(to: secret)
        let link = dir.appendingPathComponent("link")
        try fm.createSymbolicLink(at: link, withDestinationURL: secret)
        XCTAssertEqual(UntrustedFile.read(link, limit: 100).failureValue, .symbolicLink)
        let hard = dir.appendingPathComponent("hard")
        try fm.linkItem(at: secret, to: hard)
        XCTAssertEqual(UntrustedFile.read(hard, limit: 100).failureValue, .linked)
        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertEqual(UntrustedFile.read(fifo, limit: 100).failureValue, .notRegular, "a FIFO must neither block nor be read")
        XCTAssertEqual(UntrustedFile.read(dir, limit: 100).failureValue, .notRegular)
        XCTAssertEqual(UntrustedFile.read(URL(fileURLWithPath: "/dev/zero"), limit: 100).failureValue, .notRegular)
        XCTAssertEqual(UntrustedFile.read(dir.appendingPathComponent("none"), limit: 100).failureValue, .missing)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}

/// Two sandboxed programs running at once never share a uid (each kills every process of its uid).
final class UIDLeaseTests: XCTestCase {
    func testLeasesAreExclusiveAcrossHoldersAndSkipAccounts() throws {
        guard getuid() == 0 else { throw XCTSkip("leases live under /run, which only root writes") }
        let first = try UIDLease.acquire(preferring: 61000)
        let second = try UIDLease.acquire(preferring: first.uid)
        XCTAssertNotEqual(first.uid, second.uid)
        XCTAssertFalse(UIDLease.isAccount(first.uid))
        XCTAssertTrue(UIDLease.isAccount(0), "root is an account, never lent")
        first.release()
        let again = try UIDLease.acquire(preferring: first.uid)
        XCTAssertEqual(again.uid, first.uid, "a released uid is lent again")
        again.release()
        second.release()
    }
}

/// A hostile program floods its record channel: the sandboxed host keeps a bounded number of
/// records and drops over-long lines, so the grader's memory stays bounded.
final class RecordFloodTests: XCTestCase {
    func testSandboxedHostBoundsRecordsAndLineLength() throws {
        var limits = SandboxLimits()
        limits.wallSeconds = 60
        limits.recordsKept = 1_000
        limits.recordLineBytes = 4 << 10
        let script = """
        yes '{"seq":1,"kind":"text","text":"forged"}' | head -n 30000 >&3
        head -c 2000000 /dev/zero | tr '\\0' 'a' >&3
        printf '\\n{"seq":7,"kind":"done"}\\n' >&3
        """
        let outcome = try ProgramHost.run(
            ProgramHost.Launch(executable: "/bin/sh", arguments: ["-c", script], directory: FileManager.default.temporaryDirectory,
                               environment: [:], channel: .records),
            policy: .sandboxed(Sandbox(limits: limits, isolates: false)))
        XCTAssertEqual(outcome.ending, .exited(0))
        XCTAssertLessThanOrEqual(outcome.records.count, 1_000)
        XCTAssertGreaterThan(outcome.records.count, 0)
        XCTAssertEqual(outcome.records.last, Record(seq: 7, cell: nil, body: .done), "the latest records are the ones kept")
        XCTAssertFalse(outcome.records.contains { if case .text(let t) = $0.body { return t.count > 100 } else { return false } })
    }
}
