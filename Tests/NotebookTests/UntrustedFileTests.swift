import XCTest
@testable import Notebook

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
