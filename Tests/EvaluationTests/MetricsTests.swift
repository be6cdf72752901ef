import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import Evaluation


/// Runs sacreBLEU (from the test venv that `scripts/test` sets up) on the two files; returns (BLEU, chrF2).
func sacrebleuScores(hypotheses: [String], references: [String]) throws -> (Double, Double) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-bleu-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try (hypotheses.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("hyp"), atomically: true, encoding: .utf8)
    try (references.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("ref"), atomically: true, encoding: .utf8)
    let python = repositoryRoot.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw CheckError("no .venv with sacrebleu: run scripts/setup --python test (scripts/test does)")
    }
    let script = """
    import sys, sacrebleu
    h = open(sys.argv[1], encoding='utf-8').read().split('\\n')[:-1]
    r = open(sys.argv[2], encoding='utf-8').read().split('\\n')[:-1]
    print(repr(sacrebleu.corpus_bleu(h, [r]).score), repr(sacrebleu.corpus_chrf(h, [r]).score))
    """
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-c", script, dir.appendingPathComponent("hyp").path, dir.appendingPathComponent("ref").path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let fields = String(decoding: data, as: UTF8.self).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    guard p.terminationStatus == 0, fields.count == 2 else { throw CheckError("sacrebleu failed (status \(p.terminationStatus))") }
    return (fields[0], fields[1])
}

struct CheckError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Spanish references of the bible test split (real text with accents, quotes, numbers and punctuation).
func bibleReferences(_ n: Int) throws -> [String] {
    let tsv = try String(contentsOf: repositoryRoot.appendingPathComponent("corpora/bible/bible.en-es.test.tsv"), encoding: .utf8)
    return tsv.split(separator: "\n").prefix(n).map { String($0.split(separator: "\t", omittingEmptySubsequences: false)[2]) }
}

@Suite struct MetricsTests {
    @Test func tokenize13aCases() {
        #expect(Metrics.tokenize13a("Hello, world!") == ["Hello", ",", "world", "!"])
        #expect(Metrics.tokenize13a("It costs 3.50, or 1,000.") == ["It", "costs", "3.50", ",", "or", "1,000", "."])
        #expect(Metrics.tokenize13a("A-B 1990-1995 &quot;q&quot;") == ["A-B", "1990", "-", "1995", "\"", "q", "\""])
        #expect(Metrics.tokenize13a("¿Qué? «dijo»: él's") == ["¿Qué", "?", "«dijo»", ":", "él's"])
    }

    /// Hand-checked: identical text scores 100; no shared words scores 0; a brevity penalty exp(1 − 4/3).
    @Test func bleuHandCases() {
        #expect(abs(Metrics.bleu(hypotheses: ["the cat sat on the mat"], references: ["the cat sat on the mat"]).score - 100) < 1e-9)
        #expect(Metrics.bleu(hypotheses: ["xyz"], references: ["the cat"]).score == 0)
        let short = Metrics.bleu(hypotheses: ["a b c"], references: ["a b c d"])
        #expect(abs(short.brevityPenalty - exp(1 - 4.0 / 3.0)) < 1e-12)
        #expect(abs(Metrics.chrF(hypotheses: ["abc def"], references: ["abc def"]) - 100) < 1e-9)
    }

    /// BLEU and chrF2 against sacreBLEU on real Spanish text: references from the test split, hypotheses
    /// made from them by seeded random edits (dropped, repeated and swapped words, changed punctuation), and
    /// real translations of the first 400 test sentences by an lmtrain model (Fixtures/, with how they were made
    /// in Fixtures/README.md). Both must agree to 0.01.
    @Test func agreesWithSacreBLEU() throws {
        let refs = try bibleReferences(400)
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        let hyps = refs.map { r -> String in
            var w = r.split(separator: " ").map(String.init)
            for _ in 0..<Int.random(in: 0...4, using: &g) where !w.isEmpty {
                let i = Int.random(in: 0..<w.count, using: &g)
                switch Int.random(in: 0..<4, using: &g) {
                case 0: w.remove(at: i)
                case 1: w.insert(w[i], at: i)
                case 2: w.swapAt(i, Int.random(in: 0..<w.count, using: &g))
                default: w[i] = w[i].replacingOccurrences(of: ",", with: ".") + (Bool.random(using: &g) ? "," : "")
                }
            }
            return w.joined(separator: " ")
        }
        var sets: [(String, [String], [String])] = [("edited references (\(seedNote(seed)))", hyps, refs)]
        let fixture = repositoryRoot.appendingPathComponent("Tests/EvaluationTests/Fixtures/bible-test-translations.txt")
        // Committed, so this case always runs (a missing file is a failure, not a skip).
        let text = try String(contentsOf: fixture, encoding: .utf8)
        let outs = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(outs.count == 400, "the fixture holds the translations of the first 400 test sentences")
        sets.append(("model translations", outs, try bibleReferences(outs.count)))
        for (name, h, r) in sets {
            let (bleu, chrf) = try sacrebleuScores(hypotheses: h, references: r)
            let ours = Metrics.bleu(hypotheses: h, references: r).score, oursC = Metrics.chrF(hypotheses: h, references: r)
            #expect(abs(ours - bleu) < 0.01, "\(name): BLEU \(ours) vs sacreBLEU \(bleu)")
            #expect(abs(oursC - chrf) < 0.01, "\(name): chrF \(oursC) vs sacreBLEU \(chrf)")
            // The model set is a weak model's output (Fixtures/README.md): BLEU near 1, chrF2 near 11.
            #expect(bleu > 0.5 && bleu < 99 && chrf > 5, "\(name): the comparison needs non-trivial scores (BLEU \(bleu), chrF2 \(chrf))")
        }
    }
}

@Suite struct CalibrationMetricsTests {
    /// Hand-computed: four predictions in two bins. Bin (0.8, 0.867]: confidences 0.85, 0.85, one right →
    /// accuracy 0.5, gap 0.35. Bin (0.267, 0.333]: confidences 0.3, 0.3, both right → gap 0.7.
    /// ECE = 2/4·0.35 + 2/4·0.7 = 0.525; MCE = 0.7.
    @Test func eceAndMCEByHand() {
        var acc = ReliabilityAccumulator()
        acc.add(confidence: 0.85, correct: true)
        acc.add(confidence: 0.85, correct: false)
        acc.add(confidence: 0.3, correct: true)
        acc.add(confidence: 0.3, correct: true)
        #expect(abs(acc.ece - 0.525) < 1e-12)
        #expect(abs(acc.mce - 0.7) < 1e-12)
        #expect(acc.bins.filter { $0.count > 0 }.map(\.count) == [2, 2])
        #expect(abs(acc.accuracy - 0.75) < 1e-12 && abs(acc.meanConfidence - 0.575) < 1e-12)
    }

    /// Bins are (lo, hi]: a confidence on an edge belongs to the bin below it; 0 goes to the first, 1 to the last.
    @Test func binEdges() {
        #expect(ReliabilityAccumulator.bin(of: 1.0 / 15, bins: 15) == 0)
        #expect(ReliabilityAccumulator.bin(of: 1.0 / 15 + 1e-9, bins: 15) == 1)
        #expect(ReliabilityAccumulator.bin(of: 0, bins: 15) == 0)
        #expect(ReliabilityAccumulator.bin(of: 1, bins: 15) == 14)
        var perfect = ReliabilityAccumulator()
        for i in 0..<1000 { perfect.add(confidence: 0.7, correct: i % 10 < 7) }
        #expect(perfect.ece < 1e-12)
    }

    /// The diagram parses as SVG and has one accuracy bar per non-empty bin, with the ECE in its text.
    @Test func reliabilityDiagramIsWellFormed() throws {
        var acc = ReliabilityAccumulator()
        for i in 0..<300 { acc.add(confidence: Double(i % 97) / 97, correct: i % 3 == 0) }
        let svg = ReliabilityDiagram.document([ReliabilityDiagram(title: "test", bins: acc.bins, ece: acc.ece, mce: acc.mce,
                                                                  accuracy: acc.accuracy, confidence: acc.meanConfidence)])
        let parser = XMLParser(data: Data(svg.utf8))
        let scan = RectScan()
        parser.delegate = scan
        #expect(parser.parse(), "malformed SVG")
        #expect(scan.classes["accuracy"] == acc.bins.filter { $0.count > 0 }.count)
        #expect(scan.classes["count"] == 15)
        #expect(svg.contains(String(format: "ECE %.2f%%", acc.ece * 100)))
    }
}

final class RectScan: NSObject, XMLParserDelegate {
    var classes: [String: Int] = [:]
    func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
        if e == "rect", let c = a["class"] { classes[c, default: 0] += 1 }
    }
}
