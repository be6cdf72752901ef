import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Evaluation

/// Collects the polylines and texts of an SVG (and fails on malformed XML).
final class SVGScan: NSObject, XMLParserDelegate {
    var polylines: [(name: String, points: Int)] = []
    var texts: [String] = []
    var inText = false
    func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
        if e == "polyline" {
            let pts = (a["points"] ?? "").split(separator: " ").count
            polylines.append((a["data-name"] ?? "", pts))
        }
        if e == "text" { inText = true; texts.append("") }
    }
    func parser(_ p: XMLParser, foundCharacters s: String) { if inText { texts[texts.count - 1] += s } }
    func parser(_ p: XMLParser, didEndElement e: String, namespaceURI: String?, qualifiedName: String?) { if e == "text" { inText = false } }
}

@Suite struct LineChartTests {
    @Test func trainingCurvesParseAndHoldEverySeries() throws {
        var jsonl = ""
        for s in stride(from: 10, through: 300, by: 10) {
            jsonl += "{\"step\":\(s),\"loss\":\(5.0 - Double(s) / 100),\"nll\":\(4.5 - Double(s) / 100),\"lr\":0.001,\"tokens_per_s\":1000}\n"
            if s % 100 == 0 { jsonl += "{\"step\":\(s),\"split\":\"valid\",\"nll\":\(4.6 - Double(s) / 120),\"ppl\":\(exp(4.6 - Double(s) / 120)),\"accuracy\":0.2}\n" }
        }
        let svg = trainingCurves(metricsJSONL: jsonl, title: "run <a&b>")
        let parser = XMLParser(data: Data(svg.utf8))
        let scan = SVGScan()
        parser.delegate = scan
        #expect(parser.parse(), "not well-formed: \(String(describing: parser.parserError))")
        #expect(scan.polylines.map(\.name) == ["train loss (smoothed)", "train NLL", "validation NLL", "validation perplexity"])
        #expect(scan.polylines.map(\.points) == [30, 30, 3, 3])
        #expect(scan.texts.contains("run <a&b>: loss"))   // escaped in the file, intact once parsed
        #expect(scan.texts.contains("step"))
    }

    @Test func ticksAreNiceNumbers() {
        #expect(LineChart.ticks(0, 10) == [0, 2, 4, 6, 8, 10])
        let u = LineChart.ticks(3.3, 4.9)
        #expect(u == [3.5, 4.0, 4.5])
        let t = LineChart.ticks(120, 2470)
        #expect(t.first! >= 120 && t.last! <= 2470 && t.count >= 3)
        #expect(zip(t, t.dropFirst()).allSatisfy { abs(($1 - $0) - (t[1] - t[0])) < 1e-9 })
    }

    @Test func emptyMetricsGiveAChartSayingSo() throws {
        let svg = trainingCurves(metricsJSONL: "", title: "empty")
        #expect(XMLParser(data: Data(svg.utf8)).parse())
        #expect(svg.contains("no data"))
    }
}
