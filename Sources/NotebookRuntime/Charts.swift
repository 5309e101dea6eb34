import Foundation

/// A line chart of one or more series, e.g. training and validation loss per epoch.
///
///     show(LineChart(title: "Loss", xLabel: "epoch", yLabel: "loss",
///                    series: [.init("train", y: trainLoss), .init("val", y: valLoss)]))
public struct LineChart: SVGChart, Sendable {
    public struct Series: Sendable {
        public var name: String
        public var x: [Double]
        public var y: [Double]
        /// `x` defaults to 1, 2, 3, ... (epochs).
        public init(_ name: String, x: [Double]? = nil, y: [Double]) {
            self.name = name
            self.y = y
            self.x = x ?? (0..<y.count).map { Double($0 + 1) }
        }
        public init(_ name: String, y: [Float]) {
            self.init(name, y: y.map(Double.init))
        }
    }

    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var series: [Series]
    public var width: Double
    public var height: Double

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil,
                series: [Series], width: Double = 640, height: Double = 400) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.width = width
        self.height = height
    }

    public func svg() -> String {
        let xs = series.flatMap { zip($0.x, $0.y).filter { $0.1.isFinite }.map(\.0) }
        let ys = series.flatMap { $0.y.filter(\.isFinite) }
        let frame = PlotFrame(width: width, height: height,
                              xTicks: niceTicks(xs.min() ?? 0, xs.max() ?? 1, count: 6),
                              yTicks: niceTicks(ys.min() ?? 0, ys.max() ?? 1, count: 5))
        var body = frame.axes(xLabel: xLabel, yLabel: yLabel)
        for (i, s) in series.enumerated() {
            let colour = chartPalette[i % chartPalette.count]
            let points = zip(s.x, s.y).filter { $0.1.isFinite }
            let path = points.map { "\(fmt(frame.x($0.0))),\(fmt(frame.y($0.1)))" }.joined(separator: " ")
            body += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n"
            if points.count <= 40 {
                for p in points {
                    body += "<circle cx=\"\(fmt(frame.x(p.0)))\" cy=\"\(fmt(frame.y(p.1)))\" r=\"3\" fill=\"\(colour)\"/>\n"
                }
            }
        }
        if series.count > 1 || !(series.first?.name.isEmpty ?? true) {
            body += legend(series.map(\.name), frame: frame) { i, x, y in
                "<line x1=\"\(fmt(x))\" y1=\"\(fmt(y))\" x2=\"\(fmt(x + 16))\" y2=\"\(fmt(y))\" stroke=\"\(chartPalette[i % chartPalette.count])\" stroke-width=\"2.5\"/>\n"
            }
        }
        return svgDocument(width: width, height: height, title: title, body: body)
    }
}

/// A grouped bar chart: one group of bars per category, one bar per series.
///
///     show(BarChart(title: "Accuracy", categories: ["cat", "dog"],
///                   series: [.init("frozen", [0.81, 0.77]), .init("fine-tuned", [0.93, 0.90])]))
public struct BarChart: SVGChart, Sendable {
    public struct Series: Sendable {
        public var name: String
        public var values: [Double]
        public init(_ name: String, _ values: [Double]) { self.name = name; self.values = values }
    }

    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var categories: [String]
    public var series: [Series]
    public var width: Double
    public var height: Double

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, categories: [String],
                series: [Series], width: Double = 640, height: Double = 400) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
        self.width = width
        self.height = height
    }

    public func svg() -> String {
        let values = series.flatMap { $0.values.filter(\.isFinite) }
        let yTicks = niceTicks(min(0, values.min() ?? 0), max(0, values.max() ?? 1), count: 5)
        var frame = PlotFrame(width: width, height: height, xTicks: [0, Double(max(1, categories.count))], yTicks: yTicks)
        frame.bottom = 60
        // The legend sits in a row under the title, clear of the bars.
        if series.count > 1 { frame.top = 62 }
        var body = frame.axes(xLabel: xLabel, yLabel: yLabel, xTickLabels: false)
        let groupWidth = (frame.x(1) - frame.x(0))
        let barWidth = groupWidth * 0.8 / Double(max(1, series.count))
        for (c, category) in categories.enumerated() {
            let gx = frame.x(Double(c)) + groupWidth * 0.1
            for (i, s) in series.enumerated() where c < s.values.count && s.values[c].isFinite {
                let v = s.values[c]
                let y0 = frame.y(0), y1 = frame.y(v)
                body += "<rect x=\"\(fmt(gx + Double(i) * barWidth))\" y=\"\(fmt(min(y0, y1)))\" width=\"\(fmt(barWidth * 0.92))\" height=\"\(fmt(abs(y0 - y1)))\" fill=\"\(chartPalette[i % chartPalette.count])\"><title>\(escapeXML(s.name)) \(escapeXML(category)): \(v)</title></rect>\n"
            }
            body += "<text x=\"\(fmt(frame.x(Double(c) + 0.5)))\" y=\"\(fmt(height - frame.bottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(escapeXML(category))</text>\n"
        }
        if series.count > 1 {
            var x = frame.left
            for (i, s) in series.enumerated() {
                body += "<rect x=\"\(fmt(x))\" y=\"36\" width=\"14\" height=\"10\" fill=\"\(chartPalette[i % chartPalette.count])\"/>\n"
                body += "<text x=\"\(fmt(x + 20))\" y=\"45\" font-size=\"11\">\(escapeXML(s.name))</text>\n"
                x += 34 + Double(s.name.count) * 6.6
            }
        }
        return svgDocument(width: width, height: height, title: title, body: body)
    }
}

/// A confusion-matrix heatmap: rows are true classes, columns predicted classes, each cell shows
/// its count on a white-to-blue scale.
public struct ConfusionMatrixChart: SVGChart, Sendable {
    public var title: String?
    public var labels: [String]
    /// `counts[trueClass][predictedClass]`.
    public var counts: [[Int]]
    public var cellSize: Double

    public init(title: String? = "Confusion matrix", labels: [String], counts: [[Int]], cellSize: Double = 48) {
        self.title = title
        self.labels = labels
        self.counts = counts
        self.cellSize = cellSize
    }

    public func svg() -> String {
        let n = counts.count
        let longest = Double(labels.map(\.count).max() ?? 1)
        // Column labels stand upright when they fit in a cell, else they are slanted.
        let slanted = longest * 6.6 > cellSize - 4
        let left = 40 + longest * 7, top = slanted ? 60 + longest * 5 : 66
        let width = max(left + Double(n) * cellSize + 20, Double(title?.count ?? 0) * 9 + 20)
        let height = top + Double(n) * cellSize + 20
        let peak = Double(max(1, counts.flatMap { $0 }.max() ?? 1))
        var body = ""
        for (r, row) in counts.enumerated() {
            for (c, count) in row.enumerated() {
                let t = Double(count) / peak
                // White (t = 0) to a deep blue (t = 1).
                let red = Int(247 - t * (247 - 8)), green = Int(251 - t * (251 - 48)), blue = Int(255 - t * (255 - 107))
                let x = left + Double(c) * cellSize, y = top + Double(r) * cellSize
                body += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(cellSize))\" height=\"\(fmt(cellSize))\" fill=\"rgb(\(red),\(green),\(blue))\" stroke=\"white\"/>\n"
                body += "<text x=\"\(fmt(x + cellSize / 2))\" y=\"\(fmt(y + cellSize / 2 + 4))\" text-anchor=\"middle\" font-size=\"12\" stroke=\"none\" fill=\"\(t > 0.5 ? "white" : "#222")\">\(count)</text>\n"
            }
        }
        for (i, label) in labels.prefix(n).enumerated() {
            let cy = top + (Double(i) + 0.5) * cellSize
            body += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(cy + 4))\" text-anchor=\"end\" font-size=\"11\">\(escapeXML(label))</text>\n"
            let cx = left + (Double(i) + 0.5) * cellSize
            if slanted {
                body += "<text x=\"\(fmt(cx))\" y=\"\(fmt(top - 6))\" font-size=\"11\" transform=\"rotate(-45 \(fmt(cx)) \(fmt(top - 6)))\">\(escapeXML(label))</text>\n"
            } else {
                body += "<text x=\"\(fmt(cx))\" y=\"\(fmt(top - 6))\" font-size=\"11\" text-anchor=\"middle\">\(escapeXML(label))</text>\n"
            }
        }
        body += "<text x=\"\(fmt(12))\" y=\"\(fmt(top + Double(n) * cellSize / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(fmt(top + Double(n) * cellSize / 2)))\">true class</text>\n"
        body += "<text x=\"\(fmt(left + Double(n) * cellSize / 2))\" y=\"\(fmt(slanted ? 40 : 44))\" font-size=\"12\" text-anchor=\"middle\">predicted class</text>\n"
        return svgDocument(width: width, height: height, title: title, body: body)
    }
}
