import Foundation

/// A line chart drawn as SVG by hand: no plotting library, the file opens in any browser.
public struct LineChart {
    public struct Series {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false
        public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.name = name; self.color = color; self.points = points; self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
    }

    /// "Nice" tick values (1, 2 or 5 × 10^k apart) covering lo...hi, about `count` of them.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        // By index, not by repeated addition, so labels do not drift (0.30000000000000004).
        let first = ceil(lo / step)
        var out: [Double] = []
        var i = 0.0
        while (first + i) * step <= hi + step * 1e-9 { out.append((first + i) * step); i += 1 }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return abs(v) >= 100 ? String(format: "%.0f", v) : abs(v) >= 1 ? String(format: "%.1f", v) : String(format: "%.2g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The chart as an SVG group at (x0, y0), `width`×`height` pixels.
    public func svgGroup(x0: Double, y0: Double, width: Double, height: Double) -> String {
        let left = 64.0, right = 16.0, top = 34.0, bottom = 46.0
        let all = series.flatMap(\.points).filter { $0.y.isFinite }
        var out = "<g transform=\"translate(\(x0),\(y0))\">\n"
        out += "<text x=\"\(width / 2)\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(LineChart.escape(title))</text>\n"
        guard let xmin = all.map(\.x).min(), let xmax = all.map(\.x).max(),
              var ymin = all.map(\.y).min(), var ymax = all.map(\.y).max() else {
            return out + "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\">no data</text>\n</g>\n"
        }
        if ymax == ymin { ymax += 1; ymin -= 1 }
        let pad = (ymax - ymin) * 0.05
        ymin -= pad; ymax += pad
        let xspan = max(xmax - xmin, 1)
        let pw = width - left - right, ph = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - xmin) / xspan * pw }
        func py(_ y: Double) -> Double { top + (1 - (y - ymin) / (ymax - ymin)) * ph }
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fbfbfb\" stroke=\"#999\"/>\n"
        for t in LineChart.ticks(ymin, ymax) {
            let y = py(t)
            out += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#e3e3e3\"/>"
            out += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" font-size=\"11\">\(LineChart.label(t))</text>\n"
        }
        for t in LineChart.ticks(xmin, xmin + xspan) {
            let x = px(t)
            out += "<line x1=\"\(x)\" y1=\"\(top + ph)\" x2=\"\(x)\" y2=\"\(top + ph + 4)\" stroke=\"#666\"/>"
            out += "<text x=\"\(x)\" y=\"\(top + ph + 17)\" text-anchor=\"middle\" font-size=\"11\">\(LineChart.label(t))</text>\n"
        }
        out += "<text x=\"\(left + pw / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\" font-size=\"12\">\(LineChart.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(16,\(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">\(LineChart.escape(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let pts = s.points.filter { $0.y.isFinite }.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            out += "<polyline class=\"series\" data-name=\"\(LineChart.escape(s.name))\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.6\"\(s.dashed ? " stroke-dasharray=\"5,3\"" : "") points=\"\(pts)\"/>\n"
            // Legend, top right inside the plot.
            let ly = top + 14 + Double(i) * 16
            out += "<line x1=\"\(left + pw - 150)\" y1=\"\(ly - 4)\" x2=\"\(left + pw - 128)\" y2=\"\(ly - 4)\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5,3\"" : "")/>"
            out += "<text x=\"\(left + pw - 122)\" y=\"\(ly)\" font-size=\"11\">\(LineChart.escape(s.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// Charts stacked vertically in one SVG document.
    public static func document(_ charts: [LineChart], width: Double = 760, height: Double = 320) -> String {
        svgDocument(width: width, height: height * Double(charts.count),
                    body: charts.enumerated().map { $1.svgGroup(x0: 0, y0: Double($0) * height, width: width, height: height) })
    }

    /// A standalone SVG document on a white background holding `body` (chart groups).
    static func svgDocument(width: Double, height: Double, body: [String]) -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        return s + body.joined() + "</svg>\n"
    }
}

/// The training curves of a run from its metrics.jsonl: training loss (smoothed, what is optimised) and NLL
/// against step with the validation NLL, and validation perplexity against step.
public func trainingCurves(metricsJSONL text: String, title: String) -> String {
    var loss: [(x: Double, y: Double)] = [], nll: [(x: Double, y: Double)] = []
    var vnll: [(x: Double, y: Double)] = [], vppl: [(x: Double, y: Double)] = [], vbleu: [(x: Double, y: Double)] = []
    for line in text.split(separator: "\n") {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let step = (o["step"] as? NSNumber)?.doubleValue else { continue }
        if o["split"] as? String == "valid" {
            if let v = (o["nll"] as? NSNumber)?.doubleValue { vnll.append((step, v)) }
            if let v = (o["ppl"] as? NSNumber)?.doubleValue { vppl.append((step, v)) }
            if let v = (o["bleu"] as? NSNumber)?.doubleValue { vbleu.append((step, v)) }
        } else {
            if let v = (o["loss"] as? NSNumber)?.doubleValue { loss.append((step, v)) }
            if let v = (o["nll"] as? NSNumber)?.doubleValue { nll.append((step, v)) }
        }
    }
    let a = LineChart(title: "\(title): loss", xLabel: "step", yLabel: "nats per token", series: [
        .init(name: "train loss (smoothed)", color: "#d62728", points: loss),
        .init(name: "train NLL", color: "#1f77b4", points: nll),
        .init(name: "validation NLL", color: "#2ca02c", points: vnll, dashed: true),
    ])
    let b = LineChart(title: "\(title): validation perplexity", xLabel: "step", yLabel: "perplexity (exp NLL)", series: [
        .init(name: "validation perplexity", color: "#2ca02c", points: vppl),
    ])
    // Translation runs also log BLEU of greedy translations of a validation sample.
    let c = LineChart(title: "\(title): validation BLEU (greedy, sample)", xLabel: "step", yLabel: "BLEU", series: [
        .init(name: "validation BLEU", color: "#9467bd", points: vbleu),
    ])
    return LineChart.document(vbleu.isEmpty ? [a, b] : [a, b, c])
}
