import Foundation

/// A reliability diagram as SVG: per confidence bin, a bar of the bin's accuracy, the gap to its mean
/// confidence shaded (red where over-confident, blue where under-confident), the diagonal of perfect
/// calibration, and under the plot a histogram of how many predictions fall in each bin. ECE and MCE in
/// the title line.
public struct ReliabilityDiagram {
    public var title: String
    public var bins: [ReliabilityBin]
    public var ece: Double
    public var mce: Double
    public var accuracy: Double
    public var confidence: Double

    public init(title: String, bins: [ReliabilityBin], ece: Double, mce: Double, accuracy: Double, confidence: Double) {
        self.title = title; self.bins = bins; self.ece = ece; self.mce = mce; self.accuracy = accuracy; self.confidence = confidence
    }

    /// The diagram as an SVG group at (x0, y0), `width`×`height` pixels.
    public func svgGroup(x0: Double, y0: Double, width: Double, height: Double) -> String {
        let left = 56.0, right = 14.0, top = 60.0, histH = 60.0, bottom = 44.0
        let pw = width - left - right, ph = height - top - bottom - histH - 12
        func px(_ x: Double) -> Double { left + x * pw }
        func py(_ y: Double) -> Double { top + (1 - y) * ph }
        var out = "<g transform=\"translate(\(x0),\(y0))\">\n"
        out += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(LineChart.escape(title))</text>\n"
        // Two short lines, so the numbers fit a narrow diagram.
        out += String(format: "<text x=\"%.1f\" y=\"36\" text-anchor=\"middle\" font-size=\"12\" class=\"ece\">ECE %.2f%%   MCE %.2f%%</text>\n",
                      width / 2, ece * 100, mce * 100)
        out += String(format: "<text x=\"%.1f\" y=\"51\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444\">accuracy %.1f%%, mean confidence %.1f%%</text>\n",
                      width / 2, accuracy * 100, confidence * 100)
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fbfbfb\" stroke=\"#999\"/>\n"
        for t in stride(from: 0.0, through: 1.0001, by: 0.2) {
            out += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>", left, py(t), left + pw, py(t))
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.1f</text>\n", left - 6, py(t) + 4, t)
            out += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%.1f</text>\n", px(t), top + ph + histH + 28, t)
        }
        let total = Double(max(1, bins.reduce(0) { $0 + $1.count }))
        let maxShare = bins.map { Double($0.count) / total }.max() ?? 1
        for b in bins {
            let x = px(b.lo) + 1, w = (b.hi - b.lo) * pw - 2
            // Histogram of predictions per bin, under the plot.
            let hh = maxShare > 0 ? Double(b.count) / total / maxShare * histH : 0
            out += String(format: "<rect class=\"count\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#bbbbbb\"/>\n",
                          x, top + ph + 8 + histH - hh, w, hh)
            guard b.count > 0 else { continue }
            out += String(format: "<rect class=\"accuracy\" data-count=\"%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f77b4\" fill-opacity=\"0.85\"/>\n",
                          b.count, x, py(b.accuracy), w, ph * b.accuracy)
            let (hi, lo) = (max(b.accuracy, b.confidence), min(b.accuracy, b.confidence))
            let color = b.confidence > b.accuracy ? "#d62728" : "#2ca02c"
            out += String(format: "<rect class=\"gap\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\" fill-opacity=\"0.35\" stroke=\"%@\" stroke-width=\"0.8\"/>\n",
                          x, py(hi), w, ph * (hi - lo), color, color)
        }
        out += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-dasharray=\"5,3\"/>\n", px(0), py(0), px(1), py(1))
        out += "<text x=\"\(left + pw / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\" font-size=\"12\">top-1 confidence (15 bins); grey: share of predictions</text>\n"
        out += "<text transform=\"translate(14,\(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">accuracy</text>\n"
        // Legend.
        out += "<rect x=\"\(left + 8)\" y=\"\(top + 8)\" width=\"12\" height=\"10\" fill=\"#1f77b4\"/><text x=\"\(left + 24)\" y=\"\(top + 17)\" font-size=\"11\">accuracy</text>\n"
        out += "<rect x=\"\(left + 8)\" y=\"\(top + 24)\" width=\"12\" height=\"10\" fill=\"#d62728\" fill-opacity=\"0.35\"/><text x=\"\(left + 24)\" y=\"\(top + 33)\" font-size=\"11\">gap: over-confident</text>\n"
        out += "<rect x=\"\(left + 8)\" y=\"\(top + 40)\" width=\"12\" height=\"10\" fill=\"#2ca02c\" fill-opacity=\"0.35\"/><text x=\"\(left + 24)\" y=\"\(top + 49)\" font-size=\"11\">gap: under-confident</text>\n"
        return out + "</g>\n"
    }

    /// Diagrams side by side in one SVG document.
    public static func document(_ diagrams: [ReliabilityDiagram], width: Double = 380, height: Double = 440) -> String {
        LineChart.svgDocument(width: width * Double(diagrams.count), height: height,
                              body: diagrams.enumerated().map { $1.svgGroup(x0: Double($0) * width, y0: 0, width: width, height: height) })
    }

    /// Before and after temperature scaling, side by side.
    public static func pair(_ r: CalibrationReport, title: String) -> String {
        document([
            ReliabilityDiagram(title: "\(title): T = 1", bins: r.bins, ece: r.ece, mce: r.mce, accuracy: r.accuracy, confidence: r.meanConfidence),
            ReliabilityDiagram(title: String(format: "%@: T = %.2f (fitted)", title, r.temperature), bins: r.binsScaled, ece: r.eceScaled,
                               mce: r.mceScaled, accuracy: r.accuracy, confidence: r.meanConfidenceScaled),
        ])
    }
}
