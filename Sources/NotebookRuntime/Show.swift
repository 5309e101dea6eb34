import Foundation
import ProgramRecords
import Vision
import Torch

/// Shows a value as text (its `description`), like a notebook's cell result.
public func show(_ value: Any) {
    let text = String(describing: value)
    if NotebookSession.isCaptured {
        NotebookSession.emit(.text(text))
    } else {
        print(text)
    }
}

/// Shows a table.
public func show(table: Table) {
    if NotebookSession.isCaptured {
        NotebookSession.emit(table.record)
    } else {
        print(table.plainText)
    }
}

/// Shows an SVG document (plots from `LineChart`, `BarChart`, `ConfusionMatrixChart`).
public func show(svg: String) {
    if NotebookSession.isCaptured {
        NotebookSession.emit(.svg(svg))
    } else {
        print("[svg, \(svg.utf8.count) bytes]")
    }
}

/// Shows a chart.
public func show<Chart: SVGChart>(_ chart: Chart) {
    show(svg: chart.svg())
}

/// Shows an HTML snippet (rendered as is on the site).
public func show(html: String) {
    if NotebookSession.isCaptured {
        NotebookSession.emit(.html(html))
    } else {
        print(html)
    }
}

/// Shows an encoded PNG image.
public func show(png: Data, caption: String? = nil) {
    if NotebookSession.isCaptured {
        NotebookSession.emit(.image(png: png.base64EncodedString(), caption: caption))
    } else {
        print("[image, \(png.count) bytes PNG\(caption.map { ": " + $0 } ?? "")]")
    }
}

/// An image output could not be produced.
public struct ImageOutputError: Error, CustomStringConvertible {
    public var description: String
}

/// Shows a `[C, H, W]` or `[H, W]` image tensor (values in 0...1) as a PNG.
public func show(image: Tensor, caption: String? = nil) {
    guard image.rank == 2 || (image.rank == 3 && (image.shape[0] == 1 || image.shape[0] == 3)) else {
        show("show(image:): expected a [C, H, W] tensor with C = 1 or 3, or [H, W]; got \(describe(shape: image.shape))")
        return
    }
    do {
        show(png: try Image(tensor: image).pngData(), caption: caption)
    } catch {
        show("show(image:): \(error)")
    }
}

/// Shows a decoded image (or an image grid from `makeGrid`) as a PNG.
public func show(image: Image, caption: String? = nil) {
    do {
        show(png: try image.pngData(), caption: caption)
    } catch {
        show("show(image:): \(error)")
    }
}
