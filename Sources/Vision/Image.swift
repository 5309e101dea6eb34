import Torch
import CImageCodecs
import Foundation

/// An 8-bit image: `height` rows of `width` pixels of `channels` samples (1 gray, 3 RGB,
/// 4 RGBA), stored row-major HWC like a PIL image or a NumPy array `[H, W, C]`.
public struct Image: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// `height * width * channels` samples, HWC order.
    public var pixels: [UInt8]

    /// An image from HWC pixels.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8],
                file: StaticString = #fileID, line: UInt = #line) {
        guard [1, 3, 4].contains(channels) else {
            visionFailure("Image", "channels must be 1, 3 or 4, got \(channels)", file: file, line: line)
        }
        guard width >= 0, height >= 0, pixels.count == width * height * channels else {
            visionFailure("Image", "\(width)x\(height)x\(channels) needs \(max(0, width * height * channels)) pixels, got \(pixels.count)",
                          file: file, line: line)
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A uniformly filled image.
    public init(width: Int, height: Int, channels: Int, fill: [UInt8]? = nil) {
        let value = fill ?? [UInt8](repeating: 0, count: channels)
        precondition(value.count == channels, "Image(fill:) needs \(channels) values")
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        if value.contains(where: { $0 != 0 }) {
            for i in 0..<(width * height) { for c in 0..<channels { pixels[i * channels + c] = value[c] } }
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Builds an image by filling its uninitialised pixel buffer (every sample must be written).
    @inlinable
    static func make(width: Int, height: Int, channels: Int,
                     _ body: (UnsafeMutableBufferPointer<UInt8>) -> Void) -> Image {
        let n = width * height * channels
        let pixels = [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
            body(buffer)
            count = n
        }
        return Image(uncheckedWidth: width, height: height, channels: channels, pixels: pixels)
    }

    @usableFromInline
    init(uncheckedWidth width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The sample at row `y`, column `x`, channel `c`.
    public subscript(y: Int, x: Int, c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }

    /// "28x28 gray", "640x480 RGB".
    public var summary: String {
        "\(width)x\(height) " + (channels == 1 ? "gray" : channels == 3 ? "RGB" : "RGBA")
    }
}

// MARK: - Colour conversions

extension Image {
    /// ITU-R 601-2 luma with PIL's fixed-point rounding: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        UInt8((UInt32(r) &* 19595 &+ UInt32(g) &* 38470 &+ UInt32(b) &* 7471 &+ 0x8000) >> 16)
    }

    /// This image as one gray channel (alpha dropped), as PIL's `convert("L")`.
    public func grayscale() -> Image {
        if channels == 1 { return self }
        let c = channels
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: height, channels: 1) { dst in
                for i in 0..<(width * height) {
                    dst[i] = Image.luma(src[i * c], src[i * c + 1], src[i * c + 2])
                }
            }
        }
    }

    /// This image as RGB: gray is replicated, alpha is dropped (not composited), as PIL's `convert("RGB")`.
    public func rgb() -> Image {
        if channels == 3 { return self }
        let c = channels
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: height, channels: 3) { dst in
                for i in 0..<(width * height) {
                    if c == 1 {
                        dst[3 * i] = src[i]; dst[3 * i + 1] = src[i]; dst[3 * i + 2] = src[i]
                    } else {
                        dst[3 * i] = src[c * i]; dst[3 * i + 1] = src[c * i + 1]; dst[3 * i + 2] = src[c * i + 2]
                    }
                }
            }
        }
    }

    /// This image as RGBA (opaque alpha added when missing).
    public func rgba() -> Image {
        if channels == 4 { return self }
        let source = rgb()
        return source.pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: height, channels: 4) { dst in
                for i in 0..<(width * height) {
                    dst[4 * i] = src[3 * i]; dst[4 * i + 1] = src[3 * i + 1]; dst[4 * i + 2] = src[3 * i + 2]
                    dst[4 * i + 3] = 255
                }
            }
        }
    }
}

/// Stops with a message naming the Vision operation and the caller's location (API misuse).
func visionFailure(_ op: String, _ message: String, file: StaticString, line: UInt) -> Never {
    engineFailure(op, message, file: file, line: line)
}
