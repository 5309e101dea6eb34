import Foundation
import Torch
import XCTest
@testable import Vision

/// Checks against PIL/torchvision outputs made by Fixtures/make_references.py.
final class TransformTests: XCTestCase {
    // Mirrors make_references.py.
    static let rgbSource: Image = {
        var pixels: [UInt8] = []
        for y in 0..<23 { for x in 0..<37 {
            pixels += [UInt8((x * 7 + y * 3) % 256), UInt8((x * y * 5 + 17) % 256), UInt8(((255 - x * 6 + y * 11) % 256 + 256) % 256)]
        } }
        return Image(width: 37, height: 23, channels: 3, pixels: pixels)
    }()
    static let graySource: Image = {
        var pixels: [UInt8] = []
        for y in 0..<31 { for x in 0..<29 { pixels.append(UInt8((x * x + 3 * y * y + 7 * x * y) % 256)) } }
        return Image(width: 29, height: 31, channels: 1, pixels: pixels)
    }()

    func reference(_ name: String) throws -> Image { try Image(contentsOf: Fixtures.reference(name + ".png")) }
    let generator = Generator(seed: 0)

    func testSourcesMatchTheScript() throws {
        XCTAssertEqual(try reference("source_rgb"), Self.rgbSource)
        XCTAssertEqual(try reference("source_gray"), Self.graySource)
    }

    func testResizeMatchesPILExactly() throws {
        let cases: [(Image, Int, Int, String)] = [
            (Self.rgbSource, 11, 7, "rgb_resize_11x7"), (Self.rgbSource, 8, 16, "rgb_resize_8x16"),
            (Self.rgbSource, 50, 40, "rgb_resize_50x40"), (Self.graySource, 9, 13, "gray_resize_9x13"),
            (Self.graySource, 64, 20, "gray_resize_64x20"),
        ]
        for (source, w, h, name) in cases {
            XCTAssertEqual(maxDifference(source.resized(width: w, height: h), try reference(name)), 0, name)
        }
        let short = Resize(16)(Self.rgbSource, generator: generator).image
        XCTAssertEqual([short.width, short.height], [25, 16], "shorter side to 16, longer truncated")
        XCTAssertEqual(maxDifference(short, try reference("rgb_resize_short16")), 0)
        let exact = Resize(height: 5, width: 9)(Self.graySource).image
        XCTAssertEqual([exact.width, exact.height], [9, 5])
    }

    func testResizeAveragesWhenDownscaling() {
        // A 1-pixel checkerboard shrunk 4x must come out flat gray: that is the antialiasing.
        var pixels: [UInt8] = []
        for y in 0..<32 { for x in 0..<32 { pixels.append((x + y) % 2 == 0 ? 0 : 255) } }
        let small = Image(width: 32, height: 32, channels: 1, pixels: pixels).resized(width: 8, height: 8)
        XCTAssertTrue(small.pixels.allSatisfy { abs(Int($0) - 128) <= 2 }, "\(small.pixels)")
    }

    func testCenterCrop() throws {
        let crop = CenterCrop(height: 10, width: 15)(Self.rgbSource).image
        XCTAssertEqual(crop, try reference("rgb_centercrop_10x15"))
        let padded = CenterCrop(height: 40, width: 35)(Self.graySource).image
        XCTAssertEqual(padded, try reference("gray_centercrop_40x35"))
        // On tensors: same pixels.
        let tensorCrop = CenterCrop(height: 10, width: 15)(Self.rgbSource.toTensor()).tensor
        XCTAssertEqual(Image(tensor: tensorCrop), crop)
    }

    func testFlipAndGrayscaleMatchPIL() throws {
        XCTAssertEqual(Self.rgbSource.horizontallyFlipped(), try reference("rgb_hflip"))
        XCTAssertEqual(Grayscale()(Self.rgbSource).image, try reference("rgb_grayscale"))
        let three = Grayscale(numOutputChannels: 3)(Self.rgbSource).image
        XCTAssertEqual(three.channels, 3)
        XCTAssertEqual(three.grayscale(), try reference("rgb_grayscale"))
        let always = RandomHorizontalFlip(p: 1), never = RandomHorizontalFlip(p: 0)
        XCTAssertEqual(always(Self.rgbSource).image, Self.rgbSource.horizontallyFlipped())
        XCTAssertEqual(never(Self.rgbSource).image, Self.rgbSource)
        let t = Self.rgbSource.toTensor()
        XCTAssertEqual(Image(tensor: always(t).tensor), Self.rgbSource.horizontallyFlipped())
    }

    func testColorAdjustmentsMatchPIL() throws {
        let s = Self.rgbSource
        XCTAssertLessThanOrEqual(maxDifference(s.adjustingBrightness(1.4), try reference("rgb_brightness1.4")), 1)
        XCTAssertLessThanOrEqual(maxDifference(s.adjustingContrast(0.6), try reference("rgb_contrast0.6")), 1)
        XCTAssertLessThanOrEqual(maxDifference(s.adjustingSaturation(0.3), try reference("rgb_saturation0.3")), 1)
        XCTAssertLessThanOrEqual(maxDifference(s.adjustingHue(0.1), try reference("rgb_hue0.1")), 1)
        XCTAssertEqual(s.adjustingBrightness(1), s)
        XCTAssertEqual(Self.graySource.adjustingHue(0.3), Self.graySource)
    }

    func testRotationMatchesPIL() throws {
        XCTAssertEqual(maxDifference(Self.rgbSource.rotated(degrees: 30), try reference("rgb_rotate30_nearest")), 0)
        XCTAssertEqual(maxDifference(Self.graySource.rotated(degrees: -45, fill: [7]), try reference("gray_rotate-45_nearest_fill7")), 0)
        let bilinear = Self.rgbSource.rotated(degrees: 30, interpolation: .bilinear)
        let ref = try reference("rgb_rotate30_bilinear")
        let close = zip(bilinear.pixels, ref.pixels).filter { abs(Int($0) - Int($1)) <= 1 }.count
        XCTAssertGreaterThan(Double(close) / Double(ref.pixels.count), 0.97, "bilinear rotation close to PIL")
    }

    func testRandomRotationDrawsItsAngleFromTheGenerator() {
        let rotation = RandomRotation(40, fill: [3])
        let g = Generator(seed: 8)
        let angle = -40 + 80 * g.nextDouble()
        XCTAssertEqual(rotation(Self.rgbSource, generator: Generator(seed: 8)).image,
                       Self.rgbSource.rotated(degrees: angle, fill: [3]))
        XCTAssertEqual(RandomRotation(range: 0...0)(Self.graySource, generator: g).image, Self.graySource)
        let quarter = Image(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4]).rotated(degrees: 90)
        XCTAssertEqual(quarter.pixels, [2, 4, 1, 3], "counter-clockwise")
    }

    func testCropsOutsideTheImageAreFilled() {
        let image = Image(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])
        XCTAssertEqual(image.cropped(top: -1, left: 1, height: 3, width: 2, fill: [9]).pixels, [9, 9, 2, 9, 4, 9])
        XCTAssertEqual(image.cropped(top: 5, left: 5, height: 1, width: 2, fill: [7]).pixels, [7, 7])
        XCTAssertEqual(image.verticallyFlipped().pixels, [3, 4, 1, 2])
        XCTAssertEqual(RandomVerticalFlip(p: 1)(image).image.pixels, [3, 4, 1, 2])
    }

    func testRandomCropWithPaddingOnImagesAndTensors() {
        let image = Self.graySource
        let crop = RandomCrop(28, padding: 2)
        var sawPadding = false
        for seed in 0..<50 {
            let a = crop(image, generator: Generator(seed: UInt64(seed))).image
            let t = crop(image.toTensor(), generator: Generator(seed: UInt64(seed))).tensor
            XCTAssertEqual([a.width, a.height], [28, 28])
            XCTAssertEqual(t.shape, [1, 28, 28])
            XCTAssertEqual(Image(tensor: t), a, "the tensor path takes the same window for the same seed")
            // The window is a shifted copy of the padded source.
            let g = Generator(seed: UInt64(seed))
            let top = g.nextInt(below: 31 + 4 - 28 + 1) - 2, left = g.nextInt(below: 29 + 4 - 28 + 1) - 2
            for y in 0..<28 { for x in 0..<28 {
                let sy = y + top, sx = x + left
                let expected: UInt8 = (sy < 0 || sy >= 31 || sx < 0 || sx >= 29) ? 0 : image[sy, sx, 0]
                if expected == 0 && (sy < 0 || sx < 0 || sy >= 31 || sx >= 29) { sawPadding = true }
                XCTAssertEqual(a[y, x, 0], expected)
            } }
        }
        XCTAssertTrue(sawPadding)
        // Normalised tensors pad with the given fill.
        let filled = RandomCrop(height: 3, width: 3, padding: (5, 5, 5, 5), fill: -1)(Tensor.ones([2, 2, 2]), generator: Generator(seed: 1)).tensor
        XCTAssertEqual(filled.shape, [2, 3, 3])
        XCTAssertTrue(filled.scalars.allSatisfy { $0 == -1 || $0 == 1 })
    }

    func testRandomResizedCropSampling() {
        let rrc = RandomResizedCrop(24)
        for seed in 0..<30 {
            let g = Generator(seed: UInt64(seed))
            let p = rrc.parameters(height: 23, width: 37, generator: g)
            XCTAssertTrue(p.top >= 0 && p.left >= 0 && p.top + p.height <= 23 && p.left + p.width <= 37, "\(p)")
            let area = Double(p.height * p.width) / Double(23 * 37)
            XCTAssertLessThanOrEqual(area, 1.0)
            let out = rrc(Self.rgbSource, generator: Generator(seed: UInt64(seed))).image
            XCTAssertEqual([out.width, out.height], [24, 24])
        }
        // Impossible ratios fall back to the centre crop clamped to the ratio range.
        let strict = RandomResizedCrop(8, scale: 2...3, ratio: 1...1)
        let p = strict.parameters(height: 23, width: 37, generator: Generator(seed: 0))
        XCTAssertEqual(p.height, 23)
        XCTAssertEqual(p.width, 23)
        XCTAssertEqual(p.left, 7)
    }

    func testColorJitterIsSeededAndBounded() {
        let jitter = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1)
        let a = jitter(Self.rgbSource, generator: Generator(seed: 5)).image
        let b = jitter(Self.rgbSource, generator: Generator(seed: 5)).image
        let c = jitter(Self.rgbSource, generator: Generator(seed: 6)).image
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(ColorJitter()(Self.rgbSource, generator: Generator(seed: 1)).image, Self.rgbSource, "no-op")
        // Brightness alone is exactly one of PIL's brightness adjustments.
        let g = Generator(seed: 9)
        _ = g.permutation(4)
        let factor = Float(g.uniform(0.5, 1.5))
        XCTAssertEqual(ColorJitter(brightness: 0.5)(Self.rgbSource, generator: Generator(seed: 9)).image,
                       Self.rgbSource.adjustingBrightness(factor))
    }

    func testToTensorNormalizeAndBack() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [0, 51, 255, 255, 102, 0])
        let t = ToTensor()(image).tensor
        XCTAssertEqual(t.shape, [3, 1, 2])
        XCTAssertEqual(t.scalars, [0, 1, 0.2, 0.4, 1, 0].map { Float($0) }, accuracy: 1e-6)
        let n = Normalize(mean: ImageNet.mean, std: ImageNet.std)(t).tensor
        XCTAssertEqual(n.scalars[0], (0 - 0.485) / 0.229, accuracy: 1e-6)
        XCTAssertEqual(n.scalars[3], (0.4 - 0.456) / 0.224, accuracy: 1e-6)
        XCTAssertEqual(Image(tensor: n, mean: ImageNet.mean, std: ImageNet.std), image)
    }

    func testImageNetEvaluationPreset() {
        let big = Self.rgbSource.resized(width: 370, height: 230)
        let t = ImageNet.evaluationTransform(big).tensor
        XCTAssertEqual(t.shape, [3, 224, 224])
        // Same as doing the steps by hand.
        let byHand = Normalize(mean: ImageNet.mean, std: ImageNet.std)(
            CenterCrop(224)(Resize(256)(big).image).image.toTensor()).tensor
        XCTAssertEqual(t.scalars, byHand.scalars)
    }
}

func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) where abs(x - y) > accuracy {
        XCTFail("\(a) != \(b)", file: file, line: line)
        return
    }
}
