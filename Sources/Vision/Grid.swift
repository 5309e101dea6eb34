import Foundation
import Torch

/// Tiles images into one picture, row by row, `columns` per row with `padding` pixels of
/// `background` between and around them (torchvision's `make_grid` for viewing samples).
/// Images may differ in size (each cell is as big as the largest) and channels (gray is
/// promoted to RGB, RGBA keeps alpha).
public func makeGrid(_ images: [Image], columns: Int = 8, padding: Int = 2, background: UInt8 = 0,
                     file: StaticString = #fileID, line: UInt = #line) -> Image {
    guard !images.isEmpty else { visionFailure("makeGrid", "no images to tile", file: file, line: line) }
    guard columns > 0, padding >= 0 else { visionFailure("makeGrid", "columns must be positive and padding >= 0", file: file, line: line) }
    let channels = images.contains { $0.channels == 4 } ? 4 : images.contains { $0.channels == 3 } ? 3 : 1
    let cellW = images.map(\.width).max()!, cellH = images.map(\.height).max()!
    let cols = min(columns, images.count), rows = (images.count + columns - 1) / columns
    let width = cols * cellW + (cols + 1) * padding, height = rows * cellH + (rows + 1) * padding
    var fill = [UInt8](repeating: background, count: channels)
    if channels == 4 { fill[3] = 255 }
    var grid = Image(width: width, height: height, channels: channels, fill: fill)
    for (k, source) in images.enumerated() {
        let image = channels == 4 ? source.rgba() : channels == 3 ? source.rgb() : source
        let top = padding + (k / cols) * (cellH + padding), left = padding + (k % cols) * (cellW + padding)
        for y in 0..<image.height {
            let from = y * image.width * channels, to = ((top + y) * width + left) * channels
            grid.pixels.replaceSubrange(to..<(to + image.width * channels), with: image.pixels[from..<(from + image.width * channels)])
        }
    }
    return grid
}

/// Tiles a batch `[N, C, H, W]` (or a list of `[C, H, W]` tensors) of values in [0, 1]; with
/// `mean`/`std` the tensors are un-normalised first.
public func makeGrid(_ batch: Tensor, columns: Int = 8, padding: Int = 2, mean: [Float]? = nil, std: [Float]? = nil,
                     background: UInt8 = 0, file: StaticString = #fileID, line: UInt = #line) -> Image {
    guard batch.rank == 4, batch.dtype == .float32 else {
        visionFailure("makeGrid", "expects a Float batch [N, C, H, W], got \(batch.dtype) \(describe(shape: batch.shape))", file: file, line: line)
    }
    let per = batch.shape[1] * batch.shape[2] * batch.shape[3]
    let tensors: [Tensor] = batch.withUnsafeBufferPointer { src in
        (0..<batch.shape[0]).map { i in
            Tensor.make(shape: Array(batch.shape.dropFirst())) { dst in
                (dst.baseAddress!).update(from: src.baseAddress! + i * per, count: per)
            }
        }
    }
    return makeGrid(tensors, columns: columns, padding: padding, mean: mean, std: std, background: background, file: file, line: line)
}

/// Tiles `[C, H, W]` tensors; see `makeGrid(_: Tensor, ...)`.
public func makeGrid(_ tensors: [Tensor], columns: Int = 8, padding: Int = 2, mean: [Float]? = nil, std: [Float]? = nil,
                     background: UInt8 = 0, file: StaticString = #fileID, line: UInt = #line) -> Image {
    makeGrid(tensors.map { Image(tensor: $0, mean: mean, std: std, file: file, line: line) },
             columns: columns, padding: padding, background: background, file: file, line: line)
}
