import Evaluation
import Foundation
import Testing
import TestSupport

/// sacreBLEU's own paired bootstrap (`--paired-bs`, 1,000 resamples) on hypotheses and references in files.
func sacrebleuPairedBS(baseline: [String], system: [String], references: [String]) throws
    -> (baseline: (score: Double, mean: Double, ci: Double), system: (score: Double, mean: Double, ci: Double), p: Double) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-pbs-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    for (name, lines) in [("a", baseline), ("b", system), ("ref", references)] {
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    let python = repositoryRoot.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw CheckError("no .venv with sacrebleu: run scripts/setup --python test (scripts/test does)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-m", "sacrebleu", dir.appendingPathComponent("ref").path, "-i", dir.appendingPathComponent("a").path,
                   dir.appendingPathComponent("b").path, "-m", "bleu", "--paired-bs", "--format", "json"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0, let rows = try JSONSerialization.jsonObject(with: data) as? [[String: Any]], rows.count == 2,
          let a = rows[0]["BLEU"] as? [String: Any], let b = rows[1]["BLEU"] as? [String: Any] else {
        throw CheckError("sacrebleu --paired-bs failed (status \(p.terminationStatus))")
    }
    func side(_ d: [String: Any]) -> (Double, Double, Double) { (d["score"] as! Double, d["mean"] as! Double, d["ci"] as! Double) }
    return (side(a), side(b), b["p_value"] as! Double)
}

@Suite struct PairedBootstrapTests {
    /// Beam-4 translations of the first 400 test sentences by two real models, a 60-minute fp32 run and a
    /// 60-minute bf16 run (Fixtures/README.md), read whole: a missing file fails the test.
    static func fixture(_ name: String) throws -> [String] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/EvaluationTests/Fixtures/\(name)"), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func sufficientStatisticsAddUpToCorpusBLEU() throws {
        let a = try Self.fixture("paired-a.txt"), refs = try bibleReferences(a.count)
        let summed = Metrics.bleuStatistics(hypotheses: a, references: refs).reduce(BLEUStatistics(), +)
        #expect(Metrics.bleu(of: summed).score == Metrics.bleu(hypotheses: a, references: refs).score)
    }

    /// Against sacreBLEU's --paired-bs on the same files: two real systems apart, and the first against a mix
    /// (every sixteenth line from the second: a small difference, so a p-value far from both ends). Scores agree
    /// exactly; the resampled means, interval half-widths and p-values (sacreBLEU draws with another RNG)
    /// within Monte-Carlo error of 1,000 samples: means 0.1 BLEU, half-widths 15 %, p-values 0.05.
    @Test func agreesWithSacreBLEUsPairedBootstrap() throws {
        let a = try Self.fixture("paired-a.txt"), b = try Self.fixture("paired-b.txt")
        try #require(a.count == 400 && b.count == 400, "the fixtures hold 400 translations each")
        let refs = try bibleReferences(400)
        let mixed = a.indices.map { $0 % 16 == 15 ? b[$0] : a[$0] }
        var pValues: [Double] = []
        for (name, system) in [("second model", b), ("mix", mixed)] {
            let ours = PairedBootstrap(baseline: a, system: system, references: refs)
            let theirs = try sacrebleuPairedBS(baseline: a, system: system, references: refs)
            #expect(abs(ours.baseline.score - theirs.baseline.score) < 1e-9 && abs(ours.system.score - theirs.system.score) < 1e-9, "\(name)")
            for (o, t, side) in [(ours.baseline, theirs.baseline, "baseline"), (ours.system, theirs.system, "system")] {
                #expect(abs(o.mean - t.mean) < 0.1, "\(name) \(side): mean \(o.mean) vs sacreBLEU \(t.mean)")
                #expect(abs(o.halfWidth - t.ci) < 0.15 * t.ci, "\(name) \(side): ± \(o.halfWidth) vs sacreBLEU \(t.ci)")
            }
            #expect(abs(ours.pValue - theirs.p) < 0.05, "\(name): p \(ours.pValue) vs sacreBLEU \(theirs.p)")
            pValues.append(theirs.p)
        }
        // The two cases span the test: a clear difference and an unclear one.
        #expect(pValues[0] < 0.01 && pValues[1] > 0.05, "sacreBLEU's p-values \(pValues): the fixtures no longer span both cases")
    }

    /// The same seed gives the same result; a system compared with itself shows no difference beyond chance.
    @Test func seededAndSymmetricCases() throws {
        let a = try Self.fixture("paired-a.txt"), refs = try bibleReferences(a.count)
        let x = PairedBootstrap(baseline: a, system: a.reversed().reversed(), references: refs, samples: 200, seed: 7)
        let y = PairedBootstrap(baseline: a, system: a, references: refs, samples: 200, seed: 7)
        #expect(x.pValue == y.pValue && x.system.mean == y.system.mean && x.system.halfWidth == y.system.halfWidth)
        #expect(x.system.score == x.baseline.score && x.system.mean == x.baseline.mean)
    }
}
