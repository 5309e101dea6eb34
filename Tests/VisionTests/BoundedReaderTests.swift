import Foundation
import XCTest
@testable import Vision

/// Runs `body` and returns its wall time and how far the process's peak resident memory rose above
/// the resident memory at the start (Linux: the peak is reset through /proc/self/clear_refs; nil
/// where that is not possible).
func measureCost(_ body: () throws -> Void) rethrows -> (seconds: Double, megabytes: Double?) {
    func status(_ key: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }
    let reset = (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
    let before = status("VmRSS")
    let start = Date()
    try body()
    let seconds = Date().timeIntervalSince(start)
    guard reset, let before, let peak = status("VmHWM") else { return (seconds, nil) }
    return (seconds, peak - before)
}

/// Readers check what a header declares against what the file can hold before allocating.
final class BoundedReaderTests: XCTestCase {
    /// The 24-byte IDX of the report: a header declaring 2 GiB (2048 x 1024 x 1024) and 8 bytes.
    let hugeIDX: [UInt8] = [0, 0, 8, 3, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 4, 0] + Array(repeating: 7, count: 8)

    func testTinyIDXDeclaringTwoGiBIsRefusedAtOnce() throws {
        let folder = try temporaryFolder(self)
        let url = folder.appendingPathComponent("huge-images-idx3-ubyte")
        XCTAssertEqual(hugeIDX.count, 24)
        try Data(hugeIDX).write(to: url)
        var message = ""
        let cost = try measureCost { XCTAssertThrowsError(try IDX.read(url)) { message = "\($0)" } }
        print("BoundedReaderTests: the 24-byte IDX refused in \(cost.seconds) s, peak +\(cost.megabytes.map { "\($0) MB" } ?? "unmeasured")")
        XCTAssertLessThan(cost.seconds, 0.1, "refusing took \(cost.seconds) s")
        if let megabytes = cost.megabytes { XCTAssertLessThan(megabytes, 50, "refusing took \(megabytes) MB") }
        XCTAssertTrue(message.contains(url.path), message)
        XCTAssertTrue(message.contains("2147483648 bytes"), message)
        XCTAssertTrue(message.contains("file's size, 24 bytes"), "the message names the limit and its value: \(message)")
    }

    func testGzipIDXIsBoundedByTheDeflateRatioAndStreamed() throws {
        let folder = try temporaryFolder(self)
        // Declares 2 GiB in a tiny gzip file: more than deflate can expand it to.
        let huge = folder.appendingPathComponent("huge.gz")
        try Data(gzip(hugeIDX)).write(to: huge)
        var message = ""
        let cost = try measureCost { XCTAssertThrowsError(try IDX.read(huge)) { message = "\($0)" } }
        XCTAssertLessThan(cost.seconds, 0.1)
        if let megabytes = cost.megabytes { XCTAssertLessThan(megabytes, 50, "refusing took \(megabytes) MB") }
        XCTAssertTrue(message.contains("deflate's largest ratio 1032:1"), message)

        // Declares 200 MB in a file that could hold that much (a 4 MB gzip file) but holds 4 MB:
        // the buffer grows with the data present, so memory stays near 4 MB, not 200.
        var header: [UInt8] = [0, 0, 8, 1]
        let declared = 200_000_000
        header += [UInt8(declared >> 24 & 0xFF), UInt8(declared >> 16 & 0xFF), UInt8(declared >> 8 & 0xFF), UInt8(declared & 0xFF)]
        let partial = folder.appendingPathComponent("partial.gz")
        try Data(gzip(header + [UInt8](repeating: 0, count: 4_000_000))).write(to: partial)
        let streamed = try measureCost { XCTAssertThrowsError(try IDX.read(partial)) { message = "\($0)" } }
        XCTAssertTrue(message.contains("truncated") && message.contains("200000000 bytes, found 4000000"), message)
        if let megabytes = streamed.megabytes { XCTAssertLessThan(megabytes, 50, "a truncated gzip IDX took \(megabytes) MB") }

        // A valid gzip IDX still reads.
        let good = folder.appendingPathComponent("good.gz")
        try Data(gzip([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3] + Array(0..<6))).write(to: good)
        let array = try IDX.read(good)
        XCTAssertEqual(array.shape, [2, 3])
        XCTAssertEqual(array.bytes, Array(0..<6))
    }

    func testIDXLimitNamesItself() throws {
        let folder = try temporaryFolder(self)
        let url = folder.appendingPathComponent("big")
        try Data([0, 0, 8, 1, 0, 0, 4, 0] + Array(repeating: 1, count: 1024)).write(to: url)
        XCTAssertThrowsError(try IDX.read(url, maxBytes: 1000)) {
            XCTAssertTrue("\($0)".contains("maxBytes = 1000"), "\($0)")
        }
        XCTAssertEqual(try IDX.read(url, maxBytes: 1024).bytes.count, 1024)
    }

    /// A decoded image lives in one buffer: its own pixel array, written by the C decoder.
    func testLargePNGDecodesIntoOneBuffer() throws {
        let width = 4096, height = 3072, channels = 3
        let png: Data = try {
            var image = Image(width: width, height: height, channels: channels)
            for y in stride(from: 0, to: height, by: 7) { for x in stride(from: 0, to: width, by: 5) { image[y, x, 1] = UInt8(truncatingIfNeeded: x &+ y) } }
            return try image.pngData(compressionLevel: 1)
        }()
        var decoded: Image?
        let cost = try measureCost { decoded = try Image(data: png, name: "large.png") }
        XCTAssertEqual(decoded?.pixels.count, width * height * channels)
        XCTAssertEqual(decoded?[7, 5, 1], 12)
        let buffer = Double(width * height * channels) / 1_048_576
        print("BoundedReaderTests: a \(buffer) MB PNG decoded with peak +\(cost.megabytes.map { "\($0) MB" } ?? "unmeasured")")
        if let megabytes = cost.megabytes {
            XCTAssertLessThan(megabytes, buffer * 1.4, "decoding a \(buffer) MB image took \(megabytes) MB at its peak")
        }
    }

    func testImageLimitNamesItself() throws {
        let png = try Image(width: 300, height: 20, channels: 1).pngData()
        XCTAssertThrowsError(try Image(data: png, name: "wide.png", limits: ImageDecodingLimits(maxWidth: 256))) {
            XCTAssertTrue("\($0)".contains("wide.png") && "\($0)".contains("300x20, larger than the limit 256x16384"), "\($0)")
        }
    }
}

/// A gzip file (stored deflate blocks, so the test needs no zlib): header, blocks, CRC-32, size.
func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
    var at = 0
    repeat {
        let n = min(65_535, bytes.count - at)
        let last: UInt8 = at + n == bytes.count ? 1 : 0
        out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        out += bytes[at ..< at + n]
        at += n
    } while at < bytes.count
    let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    crc = ~crc
    let size = UInt32(truncatingIfNeeded: bytes.count)
    for value in [crc, size] { out += (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
    return out
}
