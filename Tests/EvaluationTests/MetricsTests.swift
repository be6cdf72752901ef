import Foundation
import Testing
@testable import Evaluation

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

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
    /// translations of the 20-minute run's model when its outputs are committed (Fixtures/). Both must agree
    /// to 0.01.
    @Test func agreesWithSacreBLEU() throws {
        let refs = try bibleReferences(400)
        var rng = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
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
        var sets: [(String, [String], [String])] = [("edited references (seed \(seed))", hyps, refs)]
        let fixture = repositoryRoot.appendingPathComponent("Tests/EvaluationTests/Fixtures/bible-test-translations.txt")
        if let text = try? String(contentsOf: fixture, encoding: .utf8) {
            let outs = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            sets.append(("model translations", outs, try bibleReferences(outs.count)))
        }
        for (name, h, r) in sets {
            let (bleu, chrf) = try sacrebleuScores(hypotheses: h, references: r)
            let ours = Metrics.bleu(hypotheses: h, references: r).score, oursC = Metrics.chrF(hypotheses: h, references: r)
            #expect(abs(ours - bleu) < 0.01, "\(name): BLEU \(ours) vs sacreBLEU \(bleu)")
            #expect(abs(oursC - chrf) < 0.01, "\(name): chrF \(oursC) vs sacreBLEU \(chrf)")
            #expect(bleu > 1 && bleu < 99, "\(name): the comparison needs a non-trivial score (\(bleu))")
        }
    }
}

/// SplitMix64 for seeded test edits.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
