import Foundation

// Antialiased resampling as PIL's `Image.resize` does it (Resample.c): a separable triangle
// (bilinear) filter widened by the downscale factor, weights in 22-bit fixed point, a horizontal
// pass rounded to 8 bits, then a vertical pass. Matching PIL keeps results comparable with
// torchvision pipelines.

private let precisionBits = 32 - 8 - 2

private struct ResampleWeights {
    var first: [Int]      // first input index per output index
    var count: [Int]      // number of taps
    var weights: [Int32]  // `size` taps per output index, fixed point
    var size: Int
}

private func triangle(_ x: Double) -> Double {
    let a = abs(x)
    return a < 1 ? 1 - a : 0
}

private func resampleWeights(inSize: Int, start: Double, end: Double, outSize: Int) -> ResampleWeights {
    let scale = (end - start) / Double(outSize)
    let filterScale = max(scale, 1)
    let support = 1.0 * filterScale
    let size = Int(ceil(support)) * 2 + 1
    var result = ResampleWeights(first: [], count: [], weights: [Int32](repeating: 0, count: outSize * size), size: size)
    var k = [Double](repeating: 0, count: size)
    for xx in 0..<outSize {
        let center = start + (Double(xx) + 0.5) * scale
        let lo = max(Int(center - support + 0.5), 0)
        let hi = min(Int(center + support + 0.5), inSize)
        let n = max(0, hi - lo)
        var total = 0.0
        for x in 0..<n {
            k[x] = triangle((Double(x + lo) - center + 0.5) / filterScale)
            total += k[x]
        }
        for x in 0..<n {
            let w = total != 0 ? k[x] / total : k[x]
            let fixed = w * Double(1 << precisionBits)
            result.weights[xx * size + x] = Int32(w < 0 ? (fixed - 0.5).rounded(.towardZero) : (fixed + 0.5).rounded(.towardZero))
        }
        result.first.append(lo)
        result.count.append(n)
    }
    return result
}

@inline(__always)
private func clip8(_ value: Int) -> UInt8 {
    if value >= ((1 << precisionBits) << 8) { return 255 }
    if value <= 0 { return 0 }
    return UInt8(truncatingIfNeeded: value >> precisionBits)
}

extension Image {
    /// This image resized to `width` x `height` with PIL's antialiased bilinear filter, optionally
    /// from the sub-rectangle `box` (left, top, right, bottom in pixels) as `Image.resize(box:)`.
    public func resized(width outWidth: Int, height outHeight: Int,
                        box: (left: Double, top: Double, right: Double, bottom: Double)? = nil) -> Image {
        precondition(outWidth > 0 && outHeight > 0, "resized: size must be positive, got \(outWidth)x\(outHeight)")
        let fullBox = box ?? (0, 0, Double(width), Double(height))
        let horizontalNeeded = outWidth != width || fullBox.left != 0 || fullBox.right != Double(width)
        let verticalNeeded = outHeight != height || fullBox.top != 0 || fullBox.bottom != Double(height)
        let vertical = resampleWeights(inSize: height, start: fullBox.top, end: fullBox.bottom, outSize: outHeight)
        let horizontal = resampleWeights(inSize: width, start: fullBox.left, end: fullBox.right, outSize: outWidth)
        if horizontalNeeded && verticalNeeded && box == nil && outWidth > width && outHeight < height {
            // Pillow shrinks first when one axis grows and the other shrinks; same order, same bits.
            return verticalPass(vertical, outHeight: outHeight).horizontalPass(horizontal, outWidth: outWidth, firstRow: 0, rows: outHeight)
        }
        var source = self
        var verticalWeights = vertical
        if horizontalNeeded {
            // Only the rows the vertical pass reads are resampled horizontally.
            let firstRow = vertical.first[0]
            let lastRow = vertical.first[outHeight - 1] + vertical.count[outHeight - 1]
            for i in 0..<outHeight { verticalWeights.first[i] -= firstRow }
            source = horizontalPass(horizontal, outWidth: outWidth, firstRow: firstRow, rows: lastRow - firstRow)
        }
        return verticalNeeded ? source.verticalPass(verticalWeights, outHeight: outHeight) : source
    }

    private func horizontalPass(_ horizontal: ResampleWeights, outWidth: Int, firstRow: Int, rows: Int) -> Image {
        let c = channels, width = self.width
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: outWidth, height: rows, channels: c) { dst in
                horizontal.weights.withUnsafeBufferPointer { weights in
                    for y in 0..<rows {
                        let inRow = (y + firstRow) * width * c
                        let outRow = y * outWidth * c
                        for xx in 0..<outWidth {
                            let lo = horizontal.first[xx], n = horizontal.count[xx], kBase = xx * horizontal.size
                            for ch in 0..<c {
                                var sum = 1 << (precisionBits - 1)
                                for x in 0..<n {
                                    sum += Int(src[inRow + (lo + x) * c + ch]) * Int(weights[kBase + x])
                                }
                                dst[outRow + xx * c + ch] = clip8(sum)
                            }
                        }
                    }
                }
            }
        }
    }

    private func verticalPass(_ vertical: ResampleWeights, outHeight: Int) -> Image {
        let c = channels, width = self.width
        return pixels.withUnsafeBufferPointer { src in
            Image.make(width: width, height: outHeight, channels: c) { dst in
                vertical.weights.withUnsafeBufferPointer { weights in
                    let rowLength = width * c
                    for yy in 0..<outHeight {
                        let lo = vertical.first[yy], n = vertical.count[yy], kBase = yy * vertical.size
                        let outRow = yy * rowLength
                        for i in 0..<rowLength {
                            var sum = 1 << (precisionBits - 1)
                            for y in 0..<n {
                                sum += Int(src[(lo + y) * rowLength + i]) * Int(weights[kBase + y])
                            }
                            dst[outRow + i] = clip8(sum)
                        }
                    }
                }
            }
        }
    }
}
