import Foundation

extension Image {
    /// The `height` x `width` region whose top-left corner is at (`top`, `left`); parts outside
    /// the image (negative offsets, or past the edge) are filled with `fill` (one value per
    /// channel, or one value for all), which is how padding + cropping is done in one copy.
    public func cropped(top: Int, left: Int, height outHeight: Int, width outWidth: Int, fill: [UInt8] = [0]) -> Image {
        precondition(outWidth >= 0 && outHeight >= 0, "cropped: negative size \(outWidth)x\(outHeight)")
        let c = channels
        let fillValues = fill.count == c ? fill : [UInt8](repeating: fill.first ?? 0, count: c)
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: outWidth, height: outHeight, channels: c) { dst in
                let xLo = max(0, -left), xHi = min(outWidth, width - left)
                for y in 0..<outHeight {
                    let row = y * outWidth * c
                    let sy = y + top
                    if sy < 0 || sy >= height || xLo >= xHi {
                        for x in 0..<outWidth { for ch in 0..<c { dst[row + x * c + ch] = fillValues[ch] } }
                        continue
                    }
                    for x in 0..<xLo { for ch in 0..<c { dst[row + x * c + ch] = fillValues[ch] } }
                    let count = (xHi - xLo) * c
                    let from = (sy * width + xLo + left) * c
                    (dst.baseAddress! + row + xLo * c).update(from: src.baseAddress! + from, count: count)
                    for x in xHi..<max(xHi, outWidth) { for ch in 0..<c { dst[row + x * c + ch] = fillValues[ch] } }
                }
            }
        }
    }

    /// The image mirrored left-right.
    public func horizontallyFlipped() -> Image {
        let c = channels
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: height, channels: c) { dst in
                for y in 0..<height {
                    let row = y * width * c
                    for x in 0..<width {
                        for ch in 0..<c { dst[row + x * c + ch] = src[row + (width - 1 - x) * c + ch] }
                    }
                }
            }
        }
    }

    /// The image mirrored top-bottom.
    public func verticallyFlipped() -> Image {
        let rowLength = width * channels
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: height, channels: channels) { dst in
                for y in 0..<height {
                    (dst.baseAddress! + y * rowLength).update(from: src.baseAddress! + (height - 1 - y) * rowLength, count: rowLength)
                }
            }
        }
    }

    /// Resampling used by rotations.
    public enum Interpolation: Sendable { case nearest, bilinear }

    /// The image rotated counter-clockwise by `degrees` about its centre, keeping its size, with
    /// PIL's geometry (`Image.rotate`: inverse mapping of pixel centres); uncovered pixels get `fill`.
    public func rotated(degrees: Double, interpolation: Interpolation = .nearest, fill: [UInt8] = [0]) -> Image {
        let c = channels
        let fillValues = fill.count == c ? fill : [UInt8](repeating: fill.first ?? 0, count: c)
        let angle = degrees.truncatingRemainder(dividingBy: 360)
        if angle == 0 { return self }
        // Python's round(x, 15): correctly rounded through the decimal representation.
        func round15(_ v: Double) -> Double { Double(String(format: "%.15f", v)) ?? v }
        let radians = -((angle < 0 ? angle + 360 : angle) * (Double.pi / 180))
        let cx = Double(width) / 2, cy = Double(height) / 2
        var m = [round15(cos(radians)), round15(sin(radians)), 0, round15(-sin(radians)), round15(cos(radians)), 0]
        m[2] = m[0] * -cx + m[1] * -cy + cx
        m[5] = m[3] * -cx + m[4] * -cy + cy
        let w = width, h = height
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: w, height: h, channels: c) { dst in
                switch interpolation {
                case .nearest:
                    func writePixel(_ out: Int, _ xin: Int, _ yin: Int) {
                        if xin >= 0 && xin < w && yin >= 0 && yin < h {
                            let from = (yin * w + xin) * c
                            for ch in 0..<c { dst[out + ch] = src[from + ch] }
                        } else {
                            for ch in 0..<c { dst[out + ch] = fillValues[ch] }
                        }
                    }
                    func fits(_ x: Double, _ y: Double) -> Bool {
                        abs(x * m[0] + y * m[1] + m[2]) < 32768 && abs(x * m[3] + y * m[4] + m[5]) < 32768
                    }
                    if fits(0, 0) && fits(Double(w), Double(h)) && fits(0, Double(h)) && fits(Double(w), 0) {
                        // PIL steps source coordinates in 16.16 fixed point; the same stepping
                        // gives the same pixels on boundaries.
                        func fix(_ v: Double) -> Int { Int(floor(v * 65536 + 0.5)) }
                        let a0 = fix(m[0]), a1 = fix(m[1]), a3 = fix(m[3]), a4 = fix(m[4])
                        var a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5), a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5)
                        for y in 0..<h {
                            var xx = a2, yy = a5
                            for x in 0..<w {
                                writePixel((y * w + x) * c, xx >> 16, yy >> 16)
                                xx += a0; yy += a3
                            }
                            a2 += a1; a5 += a4
                        }
                    } else {
                        var xo = m[2] + m[1] * 0.5 + m[0] * 0.5
                        var yo = m[5] + m[4] * 0.5 + m[3] * 0.5
                        for y in 0..<h {
                            var xx = xo, yy = yo
                            for x in 0..<w {
                                writePixel((y * w + x) * c, xx < 0 ? -1 : Int(xx), yy < 0 ? -1 : Int(yy))
                                xx += m[0]; yy += m[3]
                            }
                            xo += m[1]; yo += m[4]
                        }
                    }
                case .bilinear:
                    for y in 0..<h {
                        for x in 0..<w {
                            let px = Double(x) + 0.5, py = Double(y) + 0.5
                            var xin = m[0] * px + m[1] * py + m[2]
                            var yin = m[3] * px + m[4] * py + m[5]
                            let out = (y * w + x) * c
                            if xin < 0 || xin >= Double(w) || yin < 0 || yin >= Double(h) {
                                for ch in 0..<c { dst[out + ch] = fillValues[ch] }
                                continue
                            }
                            xin -= 0.5; yin -= 0.5
                            let x0 = Int(floor(xin)), y0 = Int(floor(yin))
                            let dx = xin - Double(x0), dy = yin - Double(y0)
                            let xa = min(max(x0, 0), w - 1), xb = min(max(x0 + 1, 0), w - 1)
                            let ya = min(max(y0, 0), h - 1), yb = min(max(y0 + 1, 0), h - 1)
                            for ch in 0..<c {
                                let p00 = Double(src[(ya * w + xa) * c + ch]), p01 = Double(src[(ya * w + xb) * c + ch])
                                let p10 = Double(src[(yb * w + xa) * c + ch]), p11 = Double(src[(yb * w + xb) * c + ch])
                                let top = p00 + (p01 - p00) * dx, bottom = p10 + (p11 - p10) * dx
                                let v = top + (bottom - top) * dy
                                dst[out + ch] = UInt8(max(0, min(255, v.rounded())))
                            }
                        }
                    }
                }
            }
        }
    }
}
