import CImageCodecs
import Foundation

/// Decoding limits checked against a file's header before pixel memory is allocated, so a
/// hostile header (a PNG claiming 100000x100000) is refused instead of exhausting memory.
public struct ImageDecodingLimits: Sendable {
    public var maxWidth: Int
    public var maxHeight: Int
    /// Total pixel budget (width * height).
    public var maxPixels: Int

    public init(maxWidth: Int = 16_384, maxHeight: Int = 16_384, maxPixels: Int = 100_000_000) {
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.maxPixels = maxPixels
    }

    /// 16384 x 16384 at most, and at most 100 megapixels.
    public static let `default` = ImageDecodingLimits()
}

/// File formats `Image` reads and writes.
public enum ImageFormat: String, Sendable {
    case png, jpeg

    /// The format given by the file's first bytes, or nil.
    public static func sniff(_ data: Data) -> ImageFormat? {
        if data.count >= 8, data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if data.count >= 3, data.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    /// The format for a file extension (png, jpg, jpeg), or nil.
    public init?(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        default: return nil
        }
    }
}

extension Image {
    /// Decodes a PNG or JPEG file.
    ///
    /// PNG: 1/2/4/8/16-bit gray, gray+alpha, RGB, RGBA, palette (with or without transparency)
    /// and interlaced files. Results are 8-bit: 16-bit samples keep their high byte (as PIL does
    /// for RGB); gray+alpha and transparent palettes become RGBA, gray stays 1 channel.
    /// JPEG: baseline, progressive and grayscale; CMYK/YCCK files are refused. A truncated or
    /// damaged JPEG (libjpeg's "premature end of data", bad Huffman codes, lost sync) is an error
    /// rather than an image padded with grey.
    public init(contentsOf url: URL, limits: ImageDecodingLimits = .default) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw VisionError(file: url.path, "cannot read the file: \(Image.reason(error))")
        }
        try self.init(data: data, name: url.path, limits: limits)
    }

    /// Decodes PNG or JPEG bytes; `name` (a path or label) prefixes any error message.
    public init(data: Data, name: String = "<memory>", limits: ImageDecodingLimits = .default) throws {
        guard let format = ImageFormat.sniff(data) else {
            let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw VisionError(file: name, data.isEmpty ? "the file is empty" :
                              "not a PNG or JPEG file (starts with \(head))")
        }
        let cLimits = ic_limits(max_width: Int32(clamping: limits.maxWidth), max_height: Int32(clamping: limits.maxHeight),
                                max_pixels: Int64(limits.maxPixels))
        // Two passes through the C decoder: the header (checked against the limits) gives the size,
        // then the pixels are decoded straight into the image's own array, so a large image is in
        // memory once, not once in C and once more in Swift.
        func decode(_ pixels: UnsafeMutablePointer<UInt8>?, _ capacity: Int, _ out: inout ic_image) -> Int32 {
            data.withUnsafeBytes { raw in
                let base = raw.bindMemory(to: UInt8.self).baseAddress!
                switch format {
                case .png: return ic_png_decode(base, raw.count, cLimits, pixels, capacity, &out)
                case .jpeg: return ic_jpeg_decode(base, raw.count, cLimits, pixels, capacity, &out)
                }
            }
        }
        func failure(_ out: ic_image) -> VisionError {
            let message = withUnsafeBytes(of: out.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return VisionError(file: name, "invalid \(format == .png ? "PNG" : "JPEG"): \(message.isEmpty ? "decoding failed" : message)")
        }
        var header = ic_image()
        guard decode(nil, 0, &header) == 0 else { throw failure(header) }
        let width = Int(header.width), height = Int(header.height), channels = Int(header.channels)
        let count = width * height * channels
        guard count > 0 else { throw VisionError(file: name, "invalid \(format == .png ? "PNG" : "JPEG"): empty \(width)x\(height) image") }
        var decoded = ic_image()
        var status: Int32 = 1
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = decode(buffer.baseAddress!, count, &decoded)
            initialized = status == 0 ? count : 0
        }
        guard status == 0 else { throw failure(decoded) }
        self.init(uncheckedWidth: width, height: height, channels: channels, pixels: pixels)
    }

    /// PNG bytes (8-bit gray, RGB or RGBA). `compressionLevel` is zlib's 0...9.
    public func pngData(compressionLevel: Int = 6) throws -> Data {
        try encode { buffer, out in
            ic_png_encode(buffer, Int32(width), Int32(height), Int32(channels), Int32(max(0, min(9, compressionLevel))), &out)
        }
    }

    /// JPEG bytes at `quality` 1...100 (alpha is dropped; JPEG has none).
    public func jpegData(quality: Int = 90) throws -> Data {
        if channels == 4 { return try rgb().jpegData(quality: quality) }
        return try encode { buffer, out in
            ic_jpeg_encode(buffer, Int32(width), Int32(height), Int32(channels), Int32(max(1, min(100, quality))), &out)
        }
    }

    private func encode(_ body: (UnsafePointer<UInt8>, inout ic_buffer) -> Int32) throws -> Data {
        guard width > 0, height > 0 else { throw VisionError("cannot encode an empty \(width)x\(height) image") }
        var out = ic_buffer()
        let status = pixels.withUnsafeBufferPointer { body($0.baseAddress!, &out) }
        defer { if let bytes = out.bytes { ic_free(bytes) } }
        guard status == 0, let bytes = out.bytes else {
            let message = withUnsafeBytes(of: out.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw VisionError("encoding failed: \(message)")
        }
        return Data(bytes: bytes, count: out.size)
    }

    /// Writes the image atomically (temporary file + rename); the format follows the extension
    /// (.png, .jpg, .jpeg) unless given.
    public func write(to url: URL, format: ImageFormat? = nil, quality: Int = 90) throws {
        guard let format = format ?? ImageFormat(pathExtension: url.pathExtension) else {
            throw VisionError(file: url.path, "unknown image extension '.\(url.pathExtension)'; use .png, .jpg or .jpeg")
        }
        let data: Data
        do {
            data = format == .png ? try pngData() : try jpegData(quality: quality)
        } catch let error as VisionError {
            throw VisionError(file: url.path, error.message)
        }
        try writeAtomically(data, to: url)
    }

    static func reason(_ error: Error) -> String {
        if let error = error as? CocoaError, let underlying = error.underlying {
            return underlying.localizedDescription
        }
        return error.localizedDescription
    }
}

private extension CocoaError {
    var underlying: Error? { userInfo[NSUnderlyingErrorKey] as? Error }
}
