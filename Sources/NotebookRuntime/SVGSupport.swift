import Foundation

/// Something that renders itself as a standalone SVG document.
public protocol SVGChart {
    func svg() -> String
}

/// Colours for series (colour-blind-friendly, as in matplotlib's tab10).
let chartPalette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

func escapeXML(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(ch)
        }
    }
    return out
}

func fmt(_ x: Double) -> String {
    String(format: "%.2f", x)
}

/// "Nice" axis ticks (1, 2, 5 x 10^k steps) covering `lo...hi`.
func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
    var lo = lo, hi = hi
    if !lo.isFinite || !hi.isFinite { return [0, 1] }
    if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
    let raw = (hi - lo) / Double(max(1, count))
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let start = floor(lo / step) * step
    var ticks: [Double] = []
    var t = start
    while t <= hi + step * 0.5 && ticks.count < 50 {
        ticks.append(abs(t) < step * 1e-9 ? 0 : t)
        if t >= hi { break }
        t += step
    }
    return ticks
}

/// Tick label: as few decimals as the step needs.
func tickLabel(_ value: Double, step: Double) -> String {
    if abs(value) >= 1e5 || (abs(value) < 1e-3 && value != 0) { return String(format: "%.1e", value) }
    let decimals = step >= 1 ? 0 : min(6, Int(ceil(-log10(step) - 1e-9)))
    return String(format: "%.\(decimals)f", value)
}

/// A plot area with linear axes mapping data to pixels.
struct PlotFrame {
    var width: Double, height: Double
    var left = 64.0, right = 20.0, top = 40.0, bottom = 52.0
    var xTicks: [Double], yTicks: [Double]

    var xMin: Double { xTicks.first! }
    var xMax: Double { xTicks.last! }
    var yMin: Double { yTicks.first! }
    var yMax: Double { yTicks.last! }

    func x(_ v: Double) -> Double {
        left + (v - xMin) / max(1e-12, xMax - xMin) * (width - left - right)
    }
    func y(_ v: Double) -> Double {
        height - bottom - (v - yMin) / max(1e-12, yMax - yMin) * (height - top - bottom)
    }

    /// Grid, axes, ticks and labels.
    func axes(xLabel: String?, yLabel: String?, xTickLabels: Bool = true) -> String {
        var s = ""
        let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        for t in yTicks {
            s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y(t)))\" x2=\"\(fmt(width - right))\" y2=\"\(fmt(y(t)))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y(t) + 4))\" text-anchor=\"end\" font-size=\"11\">\(tickLabel(t, step: yStep))</text>\n"
        }
        if xTickLabels {
            for t in xTicks {
                s += "<line x1=\"\(fmt(x(t)))\" y1=\"\(fmt(height - bottom))\" x2=\"\(fmt(x(t)))\" y2=\"\(fmt(height - bottom + 5))\" stroke=\"#333\"/>\n"
                s += "<text x=\"\(fmt(x(t)))\" y=\"\(fmt(height - bottom + 18))\" text-anchor=\"middle\" font-size=\"11\">\(tickLabel(t, step: xStep))</text>\n"
            }
        }
        s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(height - bottom))\" x2=\"\(fmt(width - right))\" y2=\"\(fmt(height - bottom))\" stroke=\"#333\"/>\n"
        s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(top))\" x2=\"\(fmt(left))\" y2=\"\(fmt(height - bottom))\" stroke=\"#333\"/>\n"
        if let xLabel {
            s += "<text x=\"\(fmt((left + width - right) / 2))\" y=\"\(fmt(height - 12))\" text-anchor=\"middle\" font-size=\"12\">\(escapeXML(xLabel))</text>\n"
        }
        if let yLabel {
            let cy = (top + height - bottom) / 2
            s += "<text x=\"16\" y=\"\(fmt(cy))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 16 \(fmt(cy)))\">\(escapeXML(yLabel))</text>\n"
        }
        return s
    }
}

func svgDocument(width: Double, height: Double, title: String?, body: String) -> String {
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    if let title {
        s += "<text x=\"\(fmt(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escapeXML(title))</text>\n"
    }
    return s + body + "</svg>\n"
}

/// A legend box in the top-right corner of the plot area.
func legend(_ names: [String], frame: PlotFrame, marker: (Int, Double, Double) -> String) -> String {
    guard !names.isEmpty else { return "" }
    let longest = names.map(\.count).max() ?? 0
    let boxWidth = Double(longest) * 6.6 + 34
    let x0 = frame.width - frame.right - boxWidth - 6
    let y0 = frame.top + 6
    var s = "<rect x=\"\(fmt(x0))\" y=\"\(fmt(y0))\" width=\"\(fmt(boxWidth))\" height=\"\(fmt(Double(names.count) * 18 + 8))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n"
    for (i, name) in names.enumerated() {
        let cy = y0 + 13 + Double(i) * 18
        s += marker(i, x0 + 8, cy)
        s += "<text x=\"\(fmt(x0 + 30))\" y=\"\(fmt(cy + 4))\" font-size=\"11\">\(escapeXML(name))</text>\n"
    }
    return s
}
