import Foundation
import XCTest
@testable import Vision

final class ImageDecodingTests: XCTestCase {
    // The pattern make_images.sh wrote into every fixture.
    static func pattern(_ x: Int, _ y: Int) -> [UInt8] {
        [UInt8(x * 30 + 5), UInt8(y * 40 + 10), UInt8((x * 7 + y * 13) % 256), UInt8(255 - x * 20 - y * 5)]
    }
    static func grayPattern(_ x: Int, _ y: Int) -> UInt8 { UInt8((x * 31 + y * 17) % 256) }

    func expected(channels: Int, _ value: (Int, Int) -> [UInt8]) -> Image {
        var pixels: [UInt8] = []
        for y in 0..<6 { for x in 0..<8 { pixels += value(x, y).prefix(channels) } }
        return Image(width: 8, height: 6, channels: channels, pixels: pixels)
    }

    func load(_ name: String) throws -> Image { try Image(contentsOf: Fixtures.image(name)) }

    func testGrayPNGs() throws {
        let gray = expected(channels: 1) { [Self.grayPattern($0, $1)] }
        XCTAssertEqual(try load("gray8.png"), gray)
        // 16-bit samples keep their high byte (the low bytes in the file are noise).
        XCTAssertEqual(try load("gray16.png"), gray)
        XCTAssertEqual(try load("gray1.png"), expected(channels: 1) { [($0 + $1) % 2 == 1 ? 255 : 0] })
    }

    func testColourPNGs() throws {
        let rgb = expected(channels: 3) { Self.pattern($0, $1) }
        let rgba = expected(channels: 4) { Self.pattern($0, $1) }
        XCTAssertEqual(try load("rgb8.png"), rgb)
        XCTAssertEqual(try load("rgb16.png"), rgb)
        XCTAssertEqual(try load("rgba8.png"), rgba)
        XCTAssertEqual(try load("rgba16.png"), rgba)
        XCTAssertEqual(try load("palette.png"), rgb)
        XCTAssertEqual(try load("palette_trns.png"), rgba, "palette + tRNS becomes RGBA")
        XCTAssertEqual(try load("interlaced.png"), rgb, "Adam7 interlacing")
    }

    func testGrayAlphaBecomesRGBA() throws {
        let image = try load("grayalpha8.png")
        let raw = try Data(contentsOf: Fixtures.image("grayalpha8.png.raw"))
        XCTAssertEqual(image.channels, 4)
        XCTAssertEqual(image.pixels, [UInt8](raw))
        XCTAssertEqual(image[2, 3, 3], Self.pattern(3, 2)[3], "alpha kept")
        XCTAssertEqual(image[2, 3, 0], image[2, 3, 1], "gray replicated")
    }

    func testJPEGsMatchImageMagickDecodes() throws {
        for (name, channels) in [("baseline.jpg", 3), ("progressive.jpg", 3), ("gray.jpg", 1)] {
            let image = try load(name)
            let raw = [UInt8](try Data(contentsOf: Fixtures.image(name + ".raw")))
            let reference = Image(width: 8, height: 6, channels: channels, pixels: raw)
            XCTAssertLessThanOrEqual(maxDifference(image, reference), 1, name)
        }
        // Lossy but close to the pattern itself.
        let baseline = try load("baseline.jpg")
        XCTAssertLessThan(maxDifference(baseline, expected(channels: 3) { Self.pattern($0, $1) }), 40)
    }

    func testRefusedFilesNameTheFileAndProblem() {
        func message(_ name: String) -> String {
            do {
                _ = try load(name)
                return "decoded"
            } catch {
                return "\(error)"
            }
        }
        let cmyk = message("cmyk.jpg")
        XCTAssertTrue(cmyk.contains("cmyk.jpg") && cmyk.contains("CMYK"), cmyk)
        let huge = message("huge.png")
        XCTAssertTrue(huge.contains("huge.png") && huge.contains("100000"), huge)
        let huffman = message("bad_huffman.jpg")
        XCTAssertTrue(huffman.contains("bad_huffman.jpg") && huffman.lowercased().contains("huffman"), huffman)
        let missing = message("no-such-file.png")
        XCTAssertTrue(missing.contains("no-such-file.png"), missing)
    }

    func testLimitsAreConfigurable() throws {
        let small = ImageDecodingLimits(maxWidth: 4, maxHeight: 100, maxPixels: 1000)
        XCTAssertThrowsError(try Image(contentsOf: Fixtures.image("rgb8.png"), limits: small))
        XCTAssertThrowsError(try Image(contentsOf: Fixtures.image("baseline.jpg"), limits: small))
        let budget = ImageDecodingLimits(maxWidth: 100, maxHeight: 100, maxPixels: 47)
        XCTAssertThrowsError(try Image(contentsOf: Fixtures.image("rgb8.png"), limits: budget))
    }

    func testTruncationsAndGarbageAreErrors() throws {
        let names = ["gray8.png", "gray16.png", "gray1.png", "grayalpha8.png", "rgb8.png", "rgb16.png", "rgba8.png",
                     "rgba16.png", "palette.png", "palette_trns.png", "interlaced.png",
                     "baseline.jpg", "progressive.jpg", "gray.jpg"]
        for name in names {
            let data = try Data(contentsOf: Fixtures.image(name))
            // Every prefix that cuts into the image data or before: none may crash or decode.
            // (A JPEG cut just before its final EOI marker is allowed to decode: no pixel is lost.)
            for length in stride(from: 0, to: data.count - 2, by: max(1, data.count / 40)) {
                XCTAssertThrowsError(try Image(data: data.prefix(length), name: "\(name)[..<\(length)]"),
                                     "\(name) truncated to \(length) bytes") { error in
                    XCTAssertTrue("\(error)".contains(name), "\(error)")
                }
            }
            // Garbage header: the signature is damaged.
            var garbage = data
            garbage[1] ^= 0x5A
            XCTAssertThrowsError(try Image(data: garbage, name: name))
        }
        XCTAssertThrowsError(try Image(data: Data(), name: "empty.png")) { error in
            XCTAssertEqual("\(error)", "empty.png: the file is empty")
        }
        XCTAssertThrowsError(try Image(data: Data("hello world".utf8), name: "text.jpg"))
    }

    func testSeededFuzzNeverCrashes() throws {
        // Mutated fixtures must either decode or throw; the test passing means no crash or hang.
        let generator = SplitMix(seed: 1234)
        var decoded = 0, failed = 0
        let sources = try ["rgb8.png", "interlaced.png", "palette_trns.png", "baseline.jpg", "progressive.jpg", "gray.jpg"]
            .map { try Data(contentsOf: Fixtures.image($0)) }
        for round in 0..<400 {
            var bytes = [UInt8](sources[round % sources.count])
            let mutations = 1 + Int(generator.next() % 8)
            for _ in 0..<mutations {
                let at = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes[at] ^= UInt8(1 << (generator.next() % 8))
                case 2: bytes.removeSubrange(at..<min(bytes.count, at + 1 + Int(generator.next() % 16)))
                default: bytes.insert(contentsOf: (0..<4).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: at)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            do {
                let image = try Image(data: Data(bytes), name: "fuzz\(round)")
                XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels)
                decoded += 1
            } catch {
                XCTAssertTrue("\(error)".hasPrefix("fuzz\(round): "), "\(error)")
                failed += 1
            }
        }
        XCTAssertEqual(decoded + failed, 400)
        XCTAssertGreaterThan(failed, 0)
    }

    func testEncodeRoundTripsAndWritesAtomically() throws {
        let folder = try temporaryFolder(self)
        let rgba = expected(channels: 4) { Self.pattern($0, $1) }
        for image in [rgba, rgba.rgb(), rgba.grayscale()] {
            XCTAssertEqual(try Image(data: image.pngData()), image, "PNG is lossless")
            let jpeg = try Image(data: image.jpegData(quality: 95))
            XCTAssertEqual(jpeg.channels, image.channels == 1 ? 1 : 3)
            XCTAssertLessThan(maxDifference(jpeg, image.channels == 1 ? image : image.rgb()), 24)
        }
        let small = try rgba.rgb().jpegData(quality: 10).count, large = try rgba.rgb().jpegData(quality: 100).count
        XCTAssertLessThan(small, large, "quality changes the size")
        let url = folder.appendingPathComponent("out.png")
        try rgba.write(to: url)
        XCTAssertEqual(try Image(contentsOf: url), rgba)
        try rgba.write(to: folder.appendingPathComponent("out.jpg"))
        XCTAssertEqual(try Image(contentsOf: folder.appendingPathComponent("out.jpg")).channels, 3)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["out.jpg", "out.png"],
                       "no temporary files left behind")
        XCTAssertThrowsError(try rgba.write(to: folder.appendingPathComponent("out.gif")))
        XCTAssertThrowsError(try rgba.write(to: folder.appendingPathComponent("missing/out.png")))
    }

    func testConversions() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [255, 0, 0, 10, 200, 30])
        // PIL: Image.new("RGB", (1, 1), (255, 0, 0)).convert("L") -> 76; (10, 200, 30) -> 124.
        XCTAssertEqual(image.grayscale().pixels, [76, 124])
        XCTAssertEqual(image.grayscale().rgb().pixels, [76, 76, 76, 124, 124, 124])
        XCTAssertEqual(image.rgba().pixels, [255, 0, 0, 255, 10, 200, 30, 255])
        XCTAssertEqual(image.rgba().rgb(), image)
    }
}

/// A tiny deterministic generator for test data (independent of the engine's Generator).
final class SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
