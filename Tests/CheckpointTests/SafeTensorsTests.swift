import Foundation
import XCTest
import Torch
@testable import Checkpoint

final class SafeTensorsTests: XCTestCase {
    func testRoundTripKeepsOrderDtypesValuesAndMetadata() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("weights.safetensors")
        let dict = sampleStateDict()
        try SafeTensors.write(dict, to: url, metadata: ["format": "pt", "epoch": "3", "quote\"": "a\nb"])
        let (loaded, metadata) = try SafeTensors.readWithMetadata(url)
        assertSameStateDict(dict, loaded)
        XCTAssertEqual(metadata, ["format": "pt", "epoch": "3", "quote\"": "a\nb"])
        XCTAssertEqual(try SafeTensors.readMetadata(url), metadata)
        XCTAssertEqual(dir.contents, ["weights.safetensors"], "no temporary file left behind")
    }

    func testWrittenHeaderFollowsTheReferenceLayout() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("a.safetensors")
        var dict = StateDict()
        dict["b"] = Tensor(shape: [2], scalars: [1, 2])
        dict["a"] = Tensor(shape: [], int64Scalars: [5])
        try SafeTensors.write(dict, to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        XCTAssertEqual(n % 8, 0, "header padded to 8 bytes")
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces),
                       #"{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}"#)
        XCTAssertEqual(bytes.count, 8 + n + 16)
        XCTAssertEqual(Array(bytes[(8 + n)...]), [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 5, 0, 0, 0, 0, 0, 0, 0])
    }

    func testEmptyStateDictRoundTrips() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("empty.safetensors")
        try SafeTensors.write(StateDict(), to: url)
        XCTAssertTrue(try SafeTensors.read(url).isEmpty)
    }

    func testPyTorchWrittenFileWithEveryDtype() throws {
        let expected = try expectedFixtures()["all_dtypes.safetensors"]!
        let (dict, metadata) = try SafeTensors.readWithMetadata(fixture("all_dtypes.safetensors"))
        XCTAssertEqual(metadata, ["format": "pt", "note": "fixture"])
        XCTAssertEqual(Set(dict.keys), Set(expected.keys))
        for (name, e) in expected { assertMatches(dict[name], e, name) }
        // Spot-check conversions independently of the JSON.
        XCTAssertEqual(dict["f16"]!.scalars, [1.5, -2.25, 65504, Float(6.0e-5 as Float16), 0, -0.0])
        XCTAssertEqual(dict["f16"]!.scalars[5].sign, .minus)
        XCTAssertEqual(dict["bf16"]!.scalars[0...1], [1, -3.140625])
        XCTAssertEqual(dict["i64"]!.int64Scalars, [-(1 << 40), 1, 2, 3])
        XCTAssertEqual(dict["i8"]!.int64Scalars, [-128, 127])
        XCTAssertEqual(dict["u8"]!.int64Scalars, [0, 200, 255])
        XCTAssertEqual(dict["scalar"]!.shape, [])
        XCTAssertEqual(dict["empty"]!.shape, [0, 3])
    }

    func testHalfAndBFloat16BitConversions() {
        XCTAssertEqual(floatFromHalfBits(0x3C00), 1)
        XCTAssertEqual(floatFromHalfBits(0xC000), -2)
        XCTAssertEqual(floatFromHalfBits(0x7BFF), 65504)
        XCTAssertEqual(floatFromHalfBits(0x0001), Float(sign: .plus, exponent: -24, significand: 1))  // smallest subnormal
        XCTAssertEqual(floatFromHalfBits(0x03FF), Float(1023) * Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertEqual(floatFromHalfBits(0x8000).sign, .minus)
        XCTAssertEqual(floatFromHalfBits(0x7C00), .infinity)
        XCTAssertEqual(floatFromHalfBits(0xFC00), -.infinity)
        XCTAssertTrue(floatFromHalfBits(0x7E00).isNaN)
        XCTAssertEqual(floatFromHalfBits(0x3555), 0.333251953125)
        XCTAssertEqual(floatFromBFloat16Bits(0x3F80), 1)
        XCTAssertEqual(floatFromBFloat16Bits(0xC049), -3.140625)
        XCTAssertEqual(floatFromBFloat16Bits(0x7F80), .infinity)
        XCTAssertTrue(floatFromBFloat16Bits(0x7FC0).isNaN)
        // Every finite half converts exactly (compare against the hardware type where available).
        #if !(os(macOS) && arch(x86_64))
        for bits in UInt16.min...UInt16.max {
            let h = Float16(bitPattern: bits)
            if h.isNaN { XCTAssertTrue(floatFromHalfBits(bits).isNaN); continue }
            XCTAssertEqual(floatFromHalfBits(bits).bitPattern, Float(h).bitPattern, "half bits \(bits)")
        }
        #endif
    }

    func testHandBuiltF16BF16F64AndSmallIntegers() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("mixed.safetensors")
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]},"s":{"dtype":"I16","shape":[1],"data_offsets":[14,16]},"t":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]}}"#
        let d = withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian) { Array($0) }
        write(safetensorsBytes(header: header, data: [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F] + d + [0xFE, 0xFF, 1, 0]), to: url)
        let dict = try SafeTensors.read(url)
        XCTAssertEqual(dict.keys, ["h", "b", "d", "s", "t"], "data order")
        XCTAssertEqual(dict["h"]!.scalars, [1, -2])
        XCTAssertEqual(dict["b"]!.scalars, [1])
        XCTAssertEqual(dict["d"]!.scalars, [Float(0.1 as Double)])
        XCTAssertEqual(dict["s"]!.int64Scalars, [-2])
        XCTAssertEqual(dict["t"]!.dtype, .bool)
        XCTAssertEqual(dict["t"]!.scalars, [1, 0])
    }

    // MARK: Malformed files: each gives a specific error naming the file, never a crash.

    private let good = #"{"fc.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#

    private func check(_ bytes: [UInt8], _ kind: CheckpointError.Kind, _ mentions: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        let dir = TemporaryDirectory()
        let url = dir.file("weights.safetensors")
        write(bytes, to: url)
        assertCheckpointError(kind, mentions: ["weights.safetensors"] + mentions, file: file, line: line) {
            _ = try SafeTensors.read(url)
        }
    }

    func testValidBaselineReads() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("weights.safetensors")
        write(safetensorsBytes(header: good, data: [UInt8](repeating: 0, count: 24)), to: url)
        XCTAssertEqual(try SafeTensors.read(url).keys, ["fc.weight", "fc.bias"])
    }

    func testTruncatedAtSeveralPoints() {
        let full = safetensorsBytes(header: good, data: [UInt8](repeating: 0, count: 24))
        check([], .truncated, ["too short"])
        check(Array(full.prefix(5)), .truncated, ["too short"])
        check(Array(full.prefix(8)), .truncated, ["runs past the end"])
        check(Array(full.prefix(60)), .truncated, ["header length \(good.utf8.count)"])
        check(Array(full.prefix(8 + good.utf8.count + 10)), .truncated, ["fc.weight", "run past the end of the data buffer"])
        check(Array(full.dropLast(1)), .truncated, ["fc.bias", "run past"])
    }

    func testHeaderLengthTooLarge() {
        check(safetensorsBytes(header: good, data: [], declaredLength: 200_000_000), .malformed, ["exceeds the limit"])
        check(safetensorsBytes(header: good, data: [], declaredLength: UInt64.max), .malformed, ["exceeds the limit"])
    }

    func testBadJSON() {
        check(safetensorsBytes(header: #"{"a": {"dtype": "F32""#, data: []), .malformed, ["not valid JSON"])
        check(safetensorsBytes(header: "[1, 2]", data: []), .malformed, ["does not start with '{'"])
        check(safetensorsBytes(header: "{\"a\": \u{FF}}", data: []), .malformed, [])
        check(safetensorsBytes(header: #"{"a": 3}"#, data: []), .malformed, ["tensor 'a'", "not an object"])
        check(safetensorsBytes(header: "{\"a\":" + String(repeating: "[", count: 100_000), data: []), .malformed, ["not valid JSON"])
        check(safetensorsBytes(header: #"{"__metadata__": {"k": 1}}"#, data: []), .malformed, ["__metadata__", "'k'"])
    }

    func testUnknownDtype() {
        check(safetensorsBytes(header: #"{"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
              .unsupported, ["tensor 'w'", "F8_E4M3"])
        check(safetensorsBytes(header: #"{"w":{"dtype":3,"shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
              .malformed, ["tensor 'w'", "dtype"])
    }

    func testBadShapes() {
        check(safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
              .malformed, ["tensor 'w'", "non-negative"])
        check(safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
              .malformed, ["tensor 'w'", "shape"])
        check(safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[4611686018427387904, 4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
              .malformed, ["tensor 'w'", "too large"])
    }

    func testOverlappingOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        check(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)), .malformed, ["tensor 'b'", "overlap"])
    }

    func testGapBetweenTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        check(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)), .malformed, ["tensor 'b'", "gap of 4 bytes"])
    }

    func testTrailingBytesNotCovered() {
        check(safetensorsBytes(header: good, data: [UInt8](repeating: 0, count: 30)), .malformed, ["cover 24 bytes", "holds 30"])
    }

    func testOffsetsOutOfBounds() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        check(safetensorsBytes(header: header, data: [0, 0, 0, 0, 0]), .truncated, ["tensor 'b'", "[4, 8]"])
        let reversed = #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#
        check(safetensorsBytes(header: reversed, data: []), .malformed, ["tensor 'a'", "end before begin"])
        let bogus = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#
        check(safetensorsBytes(header: bogus, data: [0, 0, 0, 0]), .malformed, ["tensor 'a'", "data_offsets"])
    }

    func testWrongByteCountNamesShapeAndSize() {
        let header = #"{"fc.weight":{"dtype":"F32","shape":[10,512],"data_offsets":[0,100]}}"#
        check(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 100)), .malformed,
              ["tensor 'fc.weight' data_offsets [0, 100] do not match shape [10, 512] x F32 = 20480 bytes"])
    }

    func testMissingFileAndDirectory() {
        let dir = TemporaryDirectory()
        assertCheckpointError(.io, mentions: ["missing.safetensors", "not found"]) {
            _ = try SafeTensors.read(dir.file("missing.safetensors"))
        }
        assertCheckpointError(.io, mentions: ["directory"]) { _ = try SafeTensors.read(dir.url) }
    }

    func testTensorNamedMetadataIsRefusedOnWrite() {
        let dir = TemporaryDirectory()
        var dict = StateDict()
        dict["__metadata__"] = Tensor(1)
        assertCheckpointError(.invalidArgument, mentions: ["__metadata__"]) {
            try SafeTensors.write(dict, to: dir.file("x.safetensors"))
        }
        XCTAssertEqual(dir.contents, [])
    }
}
