import Foundation
import XCTest
import Torch
@testable import Checkpoint

/// Headers are read in linear time, and the limits on entries name themselves.
final class BoundedHeaderTests: XCTestCase {
    func time(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    /// A safetensors file of `count` one-element F32 tensors, built directly (fast even in debug).
    func tinyEntries(_ count: Int) -> [UInt8] {
        var header = "{"
        header.reserveCapacity(count * 80)
        for i in 0..<count {
            if i > 0 { header += "," }
            header += "\"t\(i)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\(4 * i),\(4 * i + 4)]}"
        }
        header += "}"
        return safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 4 * count))
    }

    func testTwoHundredThousandTinySafetensorsEntriesAreRefusedInUnderASecond() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("many.safetensors")
        try Data(tinyEntries(200_000)).write(to: url)
        var caught: Error?
        let seconds = try time { XCTAssertThrowsError(try SafeTensors.read(url)) { caught = $0 } }
        print("BoundedHeaderTests: 200k safetensors entries refused in \(seconds) s")
        XCTAssertLessThan(seconds, 1.0, "refusing 200k entries took \(seconds) s")
        let error = try XCTUnwrap(caught as? CheckpointError)
        XCTAssertEqual(error.kind, .unsupported)
        XCTAssertTrue(error.description.hasPrefix("many.safetensors: "), "\(error)")
        XCTAssertTrue(error.description.contains("SafeTensors.maximumEntries") && error.description.contains("\(SafeTensors.maximumEntries)"), "\(error)")
    }

    func testHundredThousandOneElementSafetensorsLoadInLinearTime() throws {
        let dir = TemporaryDirectory()
        var seconds: [Double] = []
        for count in [25_000, 100_000] {
            let url = dir.file("t\(count).safetensors")
            try Data(tinyEntries(count)).write(to: url)
            var dict = StateDict()
            seconds.append(try time { dict = try SafeTensors.read(url) })
            XCTAssertEqual(dict.count, count)
            XCTAssertEqual(dict.keys.last, "t\(count - 1)")
        }
        // Linear: 4x the entries, about 4x the time; quadratic would be 16x.
        print("BoundedHeaderTests: 25k / 100k one-element safetensors loaded in \(seconds[0]) / \(seconds[1]) s")
        XCTAssertLessThan(seconds[1], max(seconds[0] * 10, 0.5), "25k entries: \(seconds[0]) s, 100k entries: \(seconds[1]) s")
    }

    func testEntryLimitCountsTensorsNotMetadata() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("limit.safetensors")
        let count = SafeTensors.maximumEntries
        var bytes = tinyEntries(count)
        // Add __metadata__ right after the opening brace: still exactly the limit in tensors.
        let length = Int(UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
        var header = Array(bytes[8 ..< 8 + length])
        header.insert(contentsOf: Array(#""__metadata__":{"k":"v"},"#.utf8), at: 1)
        bytes = safetensorsBytes(header: String(decoding: header, as: UTF8.self), data: Array(bytes[(8 + length)...]))
        try Data(bytes).write(to: url)
        let (dict, metadata) = try SafeTensors.readWithMetadata(url)
        XCTAssertEqual(dict.count, count)
        XCTAssertEqual(metadata, ["k": "v"])
        try Data(tinyEntries(count + 1)).write(to: url)
        assertCheckpointError(.unsupported, mentions: ["SafeTensors.maximumEntries"]) { _ = try SafeTensors.read(url) }
    }

    func testHeaderParserEdgeCases() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("edge.safetensors")
        func read(_ header: String, _ data: [UInt8] = []) throws -> (StateDict, [String: String]) {
            try Data(safetensorsBytes(header: header, data: data)).write(to: url)
            return try SafeTensors.readWithMetadata(url)
        }
        let (dict, metadata) = try read(#"{"__metadata__":{"n\u00e9\ud83d\ude00":"a\"b\\c\/\n"}, "x":{"dtype":"U8","shape":[],"data_offsets":[0,1]}} "#, [5])
        XCTAssertEqual(metadata, ["né😀": "a\"b\\c/\n"])
        XCTAssertEqual(dict["x"]?.shape, [])
        assertCheckpointError(.malformed, mentions: ["duplicate key \"x\""]) {
            _ = try read(#"{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, [1])
        }
        assertCheckpointError(.malformed, mentions: ["not valid JSON", "maximumHeaderDepth"]) {
            _ = try read("{\"a\":" + String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000) + "}")
        }
        for bad in [#"{"a":01}"#, #"{"a":1.}"#, #"{"a":"\x"}"#, "{\"a\":\"\u{01}\"}", #"{"a":tru}"#, #"{"a":1,}"#, #"{"a":1} x"#, #"{"a":"\u+123"}"#, #"{"a":"\u12"}"#] {
            assertCheckpointError(.malformed, mentions: ["not valid JSON", "at byte"]) { _ = try read(bad) }
        }
        assertCheckpointError(.malformed, mentions: ["tensor 'a'", "non-negative integers"]) {
            _ = try read(#"{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}"#, [1])
        }
    }

    /// A .pth archive of many one-element tensors (the writer's own layout).
    func pthFile(_ count: Int, in dir: TemporaryDirectory) throws -> URL {
        var dict = StateDict()
        for i in 0..<count { dict["t\(i)"] = Tensor(shape: [1], scalars: [Float(i)]) }
        let url = dir.file("m\(count).pth")
        try PyTorchCheckpoint.write(dict, to: url)
        return url
    }

    func testManyPthEntriesLoadInLinearTimeAndAFalseCountCostsNothing() throws {
        let dir = TemporaryDirectory()
        var seconds: [Double] = []
        for count in [5_000, 20_000] {
            let url = try pthFile(count, in: dir)
            var dict = StateDict()
            seconds.append(try time { dict = try PyTorchCheckpoint.read(url) })
            XCTAssertEqual(dict.count, count)
            XCTAssertEqual(dict["t\(count - 1)"]?.item(), Float(count - 1))
        }
        print("BoundedHeaderTests: 5k / 20k one-element .pth loaded in \(seconds[0]) / \(seconds[1]) s")
        XCTAssertLessThan(seconds[1], max(seconds[0] * 10, 0.5), "5k entries: \(seconds[0]) s, 20k entries: \(seconds[1]) s")

        // An end record that claims more members than the directory holds (through a ZIP64 end
        // record, the only way to count past 65535) costs nothing: members are read only while
        // the directory really has them, and never more than PyTorchCheckpoint.maximumEntries.
        let bytes = [UInt8](try Data(contentsOf: try pthFile(2, in: dir)))
        let eocd = try XCTUnwrap((0...(bytes.count - 22)).last { bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4B && bytes[$0 + 2] == 5 && bytes[$0 + 3] == 6 })
        func le(_ value: Int, _ width: Int) -> [UInt8] { (0..<width).map { UInt8((value >> (8 * $0)) & 0xFF) } }
        func field(_ at: Int, _ width: Int) -> Int { (0..<width).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let directorySize = field(eocd + 12, 4), directoryOffset = field(eocd + 16, 4)
        var zip64 = le(0x0606_4B50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
        zip64 += le(200_000, 8) + le(200_000, 8) + le(directorySize, 8) + le(directoryOffset, 8)
        let locator = le(0x0706_4B50, 4) + le(0, 4) + le(eocd, 8) + le(1, 4)
        var end = Array(bytes[eocd...])
        end.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0xFF])
        let url = dir.file("claims.pth")
        try Data(Array(bytes[..<eocd]) + zip64 + locator + end).write(to: url)
        XCTAssertEqual(try PyTorchCheckpoint.read(url).count, 2)
    }
}
