import Foundation
import Torch

/// Converts to gray with ITU-R 601-2 luma (PIL's `convert("L")`), keeping 1 channel or
/// replicating it to 3.
public struct Grayscale: ImageTransform {
    public let numOutputChannels: Int

    public init(numOutputChannels: Int = 1) {
        precondition(numOutputChannels == 1 || numOutputChannels == 3, "Grayscale: numOutputChannels must be 1 or 3")
        self.numOutputChannels = numOutputChannels
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        let gray = image.grayscale()
        return numOutputChannels == 3 ? gray.rgb() : gray
    }
}

extension Image {
    /// PIL's `Image.blend(other, self, factor)` on the colour channels: `other + factor * (self -
    /// other)` in single precision, truncated and clipped; alpha is kept.
    func blended(with other: Image, factor: Float) -> Image {
        let c = channels, colour = min(c, 3)
        return pixels.withUnsafeBufferPointer { src in
            other.pixels.withUnsafeBufferPointer { base in
                Image.make(width: width, height: height, channels: c) { dst in
                    for i in 0..<(width * height) {
                        for ch in 0..<c {
                            let k = i * c + ch
                            if ch >= colour { dst[k] = src[k]; continue }
                            let a = Float(base[k]), b = Float(src[k])
                            let v = a + factor * (b - a)
                            dst[k] = v <= 0 ? 0 : v >= 255 ? 255 : UInt8(v)
                        }
                    }
                }
            }
        }
    }

    /// The colour channels as gray, replicated back to this image's layout (alpha kept).
    private func grayDegenerate() -> Image {
        if channels == 1 { return self }
        let gray = grayscale()
        var result = self
        for i in 0..<(width * height) {
            for ch in 0..<3 { result.pixels[i * channels + ch] = gray.pixels[i] }
        }
        return result
    }

    /// Brightness as `ImageEnhance.Brightness`: 0 gives black, 1 the original.
    public func adjustingBrightness(_ factor: Float) -> Image {
        var black = self
        for i in 0..<(width * height) { for ch in 0..<min(channels, 3) { black.pixels[i * channels + ch] = 0 } }
        return blended(with: black, factor: factor)
    }

    /// Contrast as `ImageEnhance.Contrast`: blends with the mean luma (rounded), 0 gives flat gray.
    public func adjustingContrast(_ factor: Float) -> Image {
        let gray = grayscale()
        let total = gray.pixels.reduce(0) { $0 + Int($1) }
        let mean = UInt8(Int(Double(total) / Double(max(1, gray.pixels.count)) + 0.5))
        var flat = self
        for i in 0..<(width * height) { for ch in 0..<min(channels, 3) { flat.pixels[i * channels + ch] = mean } }
        return blended(with: flat, factor: factor)
    }

    /// Saturation as `ImageEnhance.Color`: 0 gives gray, 1 the original. Gray images are unchanged.
    public func adjustingSaturation(_ factor: Float) -> Image {
        channels == 1 ? self : blended(with: grayDegenerate(), factor: factor)
    }

    /// Hue shift by `factor` in [-0.5, 0.5] turns of the colour wheel, through PIL's 8-bit HSV as
    /// torchvision's PIL path does. Gray images are unchanged.
    public func adjustingHue(_ factor: Float) -> Image {
        precondition(abs(factor) <= 0.5, "adjustingHue: factor must be in [-0.5, 0.5], got \(factor)")
        if channels == 1 { return self }
        let shift = UInt8(truncatingIfNeeded: Int(factor * 255))
        var result = self
        let c = channels
        for i in 0..<(width * height) {
            let r = Int(pixels[i * c]), g = Int(pixels[i * c + 1]), b = Int(pixels[i * c + 2])
            var (h, s, v) = Image.rgbToHSV(r, g, b)
            h = h &+ shift
            let (r2, g2, b2) = Image.hsvToRGB(h, s, v)
            result.pixels[i * c] = r2; result.pixels[i * c + 1] = g2; result.pixels[i * c + 2] = b2
        }
        return result
    }

    // PIL's Convert.c rgb2hsv / hsv2rgb, 8 bits per component.
    static func rgbToHSV(_ r: Int, _ g: Int, _ b: Int) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        if maxc == minc { return (0, 0, UInt8(maxc)) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr, gc = Float(maxc - g) / cr, bc = Float(maxc - b) / cr
        // Float storage with double arithmetic where PIL's C code mixes in double constants.
        var h: Float
        if r == maxc { h = bc - gc } else if g == maxc { h = Float(2.0 + Double(rc) - Double(bc)) } else { h = Float(4.0 + Double(gc) - Double(rc)) }
        h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
        func clip(_ v: Int) -> UInt8 { UInt8(max(0, min(255, v))) }
        return (clip(Int(Double(h) * 255.0)), clip(Int(Double(s) * 255.0)), UInt8(maxc))
    }

    static func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let i = Int(floor(Double(Float(h)) * 6.0 / 255.0))
        let f = Float(Double(Float(h)) * 6.0 / 255.0 - Double(i))
        let fs = Float(Double(Float(s)) / 255.0)
        let fv = Double(Float(v))
        func clip(_ x: Double) -> UInt8 { UInt8(max(0, min(255, x.rounded()))) }
        let p = clip(fv * (1.0 - Double(fs)))
        let q = clip(fv * (1.0 - Double(fs) * Double(f)))
        let t = clip(fv * (1.0 - Double(fs) * (1.0 - Double(f))))
        switch i % 6 {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }
}

/// Randomly changes brightness, contrast, saturation and hue, in a random order, as
/// `transforms.ColorJitter`: a value `b` means a factor drawn from [max(0, 1 - b), 1 + b];
/// `hue` h draws a shift from [-h, h] (h <= 0.5). Zero disables a component.
public struct ColorJitter: ImageTransform {
    public let brightness: ClosedRange<Double>?
    public let contrast: ClosedRange<Double>?
    public let saturation: ClosedRange<Double>?
    public let hue: ClosedRange<Double>?

    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0, "ColorJitter: values must be non-negative")
        precondition(hue >= 0 && hue <= 0.5, "ColorJitter: hue must be in [0, 0.5], got \(hue)")
        func range(_ v: Double) -> ClosedRange<Double>? { v == 0 ? nil : max(0, 1 - v)...(1 + v) }
        self.brightness = range(brightness)
        self.contrast = range(contrast)
        self.saturation = range(saturation)
        self.hue = hue == 0 ? nil : -hue...hue
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        let order = generator.permutation(4)
        let factors = [brightness, contrast, saturation, hue].map { range in
            range.map { Float(generator.uniform($0.lowerBound, $0.upperBound)) }
        }
        var result = image
        for step in order {
            guard let factor = factors[step] else { continue }
            switch step {
            case 0: result = result.adjustingBrightness(factor)
            case 1: result = result.adjustingContrast(factor)
            case 2: result = result.adjustingSaturation(factor)
            default: result = result.adjustingHue(factor)
            }
        }
        return result
    }
}
