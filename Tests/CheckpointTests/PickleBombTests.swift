import Foundation
import XCTest
@testable import Checkpoint

/// Pickles whose memo shares one object many times ("billion laughs") expand exponentially when
/// turned into values; the converter's budget refuses them quickly, naming the limit.
final class PickleBombTests: XCTestCase {
    func archive(_ pickle: [UInt8], _ dir: TemporaryDirectory) throws -> URL {
        let url = dir.file("bomb.pth")
        try writeZip([("archive/data.pkl", pickle)], to: url)
        return url
    }

    func testSharedTuplesDoubledFortyTimesAreRefused() throws {
        // NONE; 40 x (BINPUT 0, BINGET 0, TUPLE2): a tuple of two copies of the previous one.
        var p: [UInt8] = [0x80, 0x02, 0x4E]
        for _ in 0..<40 { p += [0x71, 0x00, 0x68, 0x00, 0x86] }
        p.append(0x2E)
        let dir = TemporaryDirectory()
        let url = try archive(p, dir)
        let start = Date()
        assertCheckpointError(.unsupported, mentions: ["bomb.pth", "PyTorchCheckpoint.maximumObjects"]) {
            _ = try Checkpoint.loadPyTorchObject(url)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refusing took too long")
    }

    func testSharedListsDoubledFortyTimesAreRefused() throws {
        // EMPTY_LIST; 40 x (BINPUT 0, EMPTY_LIST, BINGET 0, APPEND, BINGET 0, APPEND, BINPUT 0):
        // a list holding the previous list twice.
        var p: [UInt8] = [0x80, 0x02, 0x5D]
        for _ in 0..<40 { p += [0x71, 0x00, 0x30, 0x5D, 0x68, 0x00, 0x61, 0x68, 0x00, 0x61] }
        p.append(0x2E)
        let dir = TemporaryDirectory()
        let url = try archive(p, dir)
        assertCheckpointError(.unsupported, mentions: ["PyTorchCheckpoint.maximumObjects"]) {
            _ = try Checkpoint.loadPyTorchObject(url)
        }
    }
}
