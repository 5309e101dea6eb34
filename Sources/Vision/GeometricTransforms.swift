import Foundation
import Torch

/// Resizes with PIL's antialiased bilinear filter: `Resize(256)` scales the shorter side to 256
/// keeping the aspect ratio (the longer side truncated as torchvision does); `Resize(height:width:)`
/// gives an exact size.
public struct Resize: ImageTransform {
    public let size: (height: Int, width: Int)?
    public let shorterSide: Int?

    /// Shorter side to `size`.
    public init(_ size: Int) {
        precondition(size > 0, "Resize: size must be positive, got \(size)")
        shorterSide = size
        self.size = nil
    }

    /// Exactly `height` x `width`.
    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "Resize: size must be positive, got \(height)x\(width)")
        size = (height, width)
        shorterSide = nil
    }

    /// The output (height, width) for an input of the given size.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        if let size { return size }
        let short = shorterSide!
        if width <= height {
            return (Int(Double(short) * Double(height) / Double(width)), short)
        }
        return (short, Int(Double(short) * Double(width) / Double(height)))
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        let (h, w) = outputSize(height: image.height, width: image.width)
        if h == image.height && w == image.width { return image }
        return image.resized(width: w, height: h)
    }
}

/// Crops the centre (`torchvision` rounding: offsets round half to even); a crop larger than
/// the image pads it with zeros first.
public struct CenterCrop: ImageAndTensorTransform {
    public let height: Int
    public let width: Int

    public init(_ size: Int) { self.init(height: size, width: size) }
    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "CenterCrop: size must be positive, got \(height)x\(width)")
        self.height = height
        self.width = width
    }

    static func offset(_ size: Int, _ crop: Int) -> Int {
        crop > size ? -((crop - size) / 2) : Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        image.cropped(top: Self.offset(image.height, height), left: Self.offset(image.width, width), height: height, width: width)
    }

    public func apply(_ tensor: Tensor, generator: Generator) -> Tensor {
        let (h, w) = TensorImage.spatialSize(tensor, "CenterCrop")
        return TensorImage.crop(tensor, top: Self.offset(h, height), left: Self.offset(w, width),
                                height: height, width: width, fill: 0)
    }
}

/// Pads by `padding` (constant `fill`), then crops a random `height` x `width` window, as
/// `transforms.RandomCrop(size, padding, pad_if_needed, fill)`. Works on images and on CHW Float
/// tensors (one copy; the padded image is never materialised).
public struct RandomCrop: ImageAndTensorTransform {
    public let height: Int
    public let width: Int
    /// Left, top, right, bottom padding.
    public let padding: (left: Int, top: Int, right: Int, bottom: Int)
    public let padIfNeeded: Bool
    public let fill: Float

    public init(_ size: Int, padding: Int = 0, padIfNeeded: Bool = false, fill: Float = 0) {
        self.init(height: size, width: size, padding: (padding, padding, padding, padding), padIfNeeded: padIfNeeded, fill: fill)
    }

    public init(height: Int, width: Int, padding: (left: Int, top: Int, right: Int, bottom: Int) = (0, 0, 0, 0),
                padIfNeeded: Bool = false, fill: Float = 0) {
        precondition(height > 0 && width > 0, "RandomCrop: size must be positive, got \(height)x\(width)")
        self.height = height
        self.width = width
        self.padding = padding
        self.padIfNeeded = padIfNeeded
        self.fill = fill
    }

    /// The crop's top-left corner in unpadded coordinates (may be negative: inside the padding).
    func window(height h: Int, width w: Int, generator: Generator) -> (top: Int, left: Int) {
        var padTop = padding.top, padLeft = padding.left
        var paddedH = h + padding.top + padding.bottom, paddedW = w + padding.left + padding.right
        if padIfNeeded && paddedW < width { padLeft += width - paddedW; paddedW += 2 * (width - paddedW) }
        if padIfNeeded && paddedH < height { padTop += height - paddedH; paddedH += 2 * (height - paddedH) }
        guard paddedH >= height && paddedW >= width else {
            visionFailure("RandomCrop", "crop \(height)x\(width) is larger than the (padded) input \(paddedH)x\(paddedW)",
                          file: #fileID, line: #line)
        }
        if paddedH == height && paddedW == width { return (-padTop, -padLeft) }
        let i = generator.nextInt(below: paddedH - height + 1)
        let j = generator.nextInt(below: paddedW - width + 1)
        return (i - padTop, j - padLeft)
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        let (top, left) = window(height: image.height, width: image.width, generator: generator)
        let value = UInt8(max(0, min(255, fill.rounded())))
        return image.cropped(top: top, left: left, height: height, width: width, fill: [value])
    }

    public func apply(_ tensor: Tensor, generator: Generator) -> Tensor {
        let (h, w) = TensorImage.spatialSize(tensor, "RandomCrop")
        let (top, left) = window(height: h, width: w, generator: generator)
        return TensorImage.crop(tensor, top: top, left: left, height: height, width: width, fill: fill)
    }
}

/// Flips left-right with probability `p`.
public struct RandomHorizontalFlip: ImageAndTensorTransform {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }

    public func apply(_ image: Image, generator: Generator) -> Image {
        generator.nextDouble() < p ? image.horizontallyFlipped() : image
    }

    public func apply(_ tensor: Tensor, generator: Generator) -> Tensor {
        generator.nextDouble() < p ? TensorImage.horizontallyFlipped(tensor) : tensor
    }
}

/// Flips top-bottom with probability `p`.
public struct RandomVerticalFlip: ImageTransform {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }

    public func apply(_ image: Image, generator: Generator) -> Image {
        generator.nextDouble() < p ? image.verticallyFlipped() : image
    }
}

/// Crops a random area (fraction `scale` of the image, aspect ratio in `ratio`) and resizes it to
/// `height` x `width`, with torchvision's sampling: 10 attempts at log-uniform aspect ratios, then
/// a centre crop clamped to the ratio range.
public struct RandomResizedCrop: ImageTransform {
    public let height: Int
    public let width: Int
    public let scale: ClosedRange<Double>
    public let ratio: ClosedRange<Double>

    public init(_ size: Int, scale: ClosedRange<Double> = 0.08...1.0, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)) {
        self.init(height: size, width: size, scale: scale, ratio: ratio)
    }

    public init(height: Int, width: Int, scale: ClosedRange<Double> = 0.08...1.0,
                ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)) {
        precondition(height > 0 && width > 0, "RandomResizedCrop: size must be positive")
        self.height = height
        self.width = width
        self.scale = scale
        self.ratio = ratio
    }

    /// The crop (top, left, height, width) in the input, as `RandomResizedCrop.get_params`.
    public func parameters(height h: Int, width w: Int, generator: Generator) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(h * w)
        let logRatio = (log(ratio.lowerBound), log(ratio.upperBound))
        for _ in 0..<10 {
            let targetArea = area * generator.uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(generator.uniform(logRatio.0, logRatio.1))
            let cw = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let ch = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if cw > 0 && cw <= w && ch > 0 && ch <= h {
                let top = generator.nextInt(below: h - ch + 1)
                let left = generator.nextInt(below: w - cw + 1)
                return (top, left, ch, cw)
            }
        }
        let inRatio = Double(w) / Double(h)
        var cw = w, ch = h
        if inRatio < ratio.lowerBound {
            ch = Int((Double(cw) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            cw = Int((Double(ch) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return ((h - ch) / 2, (w - cw) / 2, ch, cw)
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        let crop = parameters(height: image.height, width: image.width, generator: generator)
        return image.cropped(top: crop.top, left: crop.left, height: crop.height, width: crop.width)
            .resized(width: width, height: height)
    }
}

/// Rotates by an angle drawn uniformly from `degrees` (counter-clockwise, about the centre,
/// same size), filling uncovered pixels with `fill`.
public struct RandomRotation: ImageTransform {
    public let degrees: ClosedRange<Double>
    public let interpolation: Image.Interpolation
    public let fill: [UInt8]

    /// Angles in [-degrees, degrees].
    public init(_ degrees: Double, interpolation: Image.Interpolation = .nearest, fill: [UInt8] = [0]) {
        self.init(range: -abs(degrees)...abs(degrees), interpolation: interpolation, fill: fill)
    }

    public init(range: ClosedRange<Double>, interpolation: Image.Interpolation = .nearest, fill: [UInt8] = [0]) {
        degrees = range
        self.interpolation = interpolation
        self.fill = fill
    }

    public func apply(_ image: Image, generator: Generator) -> Image {
        let angle = generator.uniform(degrees.lowerBound, degrees.upperBound)
        return image.rotated(degrees: angle, interpolation: interpolation, fill: fill)
    }
}

/// Fast crops and flips of Float image tensors `[C, H, W]` (or `[H, W]`).
enum TensorImage {
    static func spatialSize(_ tensor: Tensor, _ op: String) -> (Int, Int) {
        guard tensor.rank == 3 || tensor.rank == 2, tensor.dtype == .float32 else {
            visionFailure(op, "expects a Float tensor [C, H, W] or [H, W], got \(tensor.dtype) \(describe(shape: tensor.shape))",
                          file: #fileID, line: #line)
        }
        return (tensor.shape[tensor.rank - 2], tensor.shape[tensor.rank - 1])
    }

    static func crop(_ tensor: Tensor, top: Int, left: Int, height: Int, width: Int, fill: Float) -> Tensor {
        let (h, w) = spatialSize(tensor, "crop")
        let planes = tensor.rank == 3 ? tensor.shape[0] : 1
        let outShape = tensor.rank == 3 ? [planes, height, width] : [height, width]
        return tensor.withUnsafeBufferPointer { src in
            Tensor.make(shape: outShape) { dst in
                let xLo = max(0, -left), xHi = min(width, w - left)
                for p in 0..<planes {
                    for y in 0..<height {
                        let out = (p * height + y) * width
                        let sy = y + top
                        if sy < 0 || sy >= h || xLo >= xHi {
                            (dst.baseAddress! + out).update(repeating: fill, count: width)
                            continue
                        }
                        (dst.baseAddress! + out).update(repeating: fill, count: xLo)
                        (dst.baseAddress! + out + xLo).update(from: src.baseAddress! + (p * h + sy) * w + xLo + left,
                                                              count: xHi - xLo)
                        if xHi < width { (dst.baseAddress! + out + xHi).update(repeating: fill, count: width - xHi) }
                    }
                }
            }
        }
    }

    static func horizontallyFlipped(_ tensor: Tensor) -> Tensor {
        let (h, w) = spatialSize(tensor, "RandomHorizontalFlip")
        let rows = tensor.count / max(1, w)
        _ = h
        return tensor.withUnsafeBufferPointer { src in
            Tensor.make(shape: tensor.shape) { dst in
                for r in 0..<rows {
                    let base = r * w
                    for x in 0..<w { dst[base + x] = src[base + w - 1 - x] }
                }
            }
        }
    }
}
