import ArgumentParser
import Evaluation
import FileIO
import Foundation

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Corpus BLEU and chrF2 of translations against references, as sacreBLEU computes them.",
        discussion: """
        BLEU: sacreBLEU's defaults (13a tokenisation, exp smoothing, mixed case); chrF2: character 6-grams, β = 2. \
        The signatures are printed; the last line is one JSON object with both scores. \
        With --paired-bs BASELINE SYSTEM: sacreBLEU's paired bootstrap resampling test of BLEU (1,000 resamples): \
        both scores, each with the mean and 95% interval over the resamples, and the p-value of the difference.
        """)

    @Option(help: "Reference translations, one per line.") var ref: String
    @Argument(help: "Hypotheses, one per line (default: standard input).") var hypotheses: String?
    @Option(name: .customLong("paired-bs"), parsing: .upToNextOption,
            help: ArgumentHelp("Two hypothesis files, BASELINE SYSTEM: is SYSTEM's BLEU significantly different? (paired bootstrap)", valueName: "file"))
    var pairedBS: [String] = []
    @Option(help: "Paired bootstrap: resamples.") var samples: Int = 1000
    @Option(help: "Paired bootstrap: seed of the resampling.") var seed: UInt64 = 12345

    func validate() throws {
        if !pairedBS.isEmpty && pairedBS.count != 2 { throw ValidationError("--paired-bs takes two files: BASELINE SYSTEM") }
        if !pairedBS.isEmpty && hypotheses != nil { throw ValidationError("give the hypotheses either as the argument or after --paired-bs, not both") }
        if samples < 1 { throw ValidationError("--samples must be at least 1") }
    }

    func run() throws {
        if !pairedBS.isEmpty { return try runPaired() }
        let refs = try TextFile.lines(ref)
        let hyps = try LineSource(path: hypotheses).next(Int.max)
        guard refs.count == hyps.count else {
            throw CLIError("\(ref) has \(refs.count) lines but \(hypotheses ?? "the hypotheses") has \(hyps.count): they must be aligned line by line")
        }
        guard !refs.isEmpty else { throw CLIError("\(ref) is empty: nothing to score") }
        let bleu = Metrics.bleu(hypotheses: hyps, references: refs)
        let chrf = Metrics.chrF(hypotheses: hyps, references: refs)
        say("\(bleu.formatted)")
        say("  signature: \(BLEUScore.signature)")
        say(String(format: "chrF2 = %.2f", chrf))
        say("  signature: \(Metrics.chrFSignature)")
        struct Result: Encodable {
            let bleu, chrf2: Double
            let sentences, hypLen, refLen: Int
            let bleuSignature, chrfSignature: String
        }
        try sayJSON(Result(bleu: bleu.score, chrf2: chrf, sentences: refs.count, hypLen: bleu.hypothesisLength, refLen: bleu.referenceLength,
                           bleuSignature: BLEUScore.signature, chrfSignature: Metrics.chrFSignature))
    }

    func runPaired() throws {
        let refs = try TextFile.lines(ref)
        guard !refs.isEmpty else { throw CLIError("\(ref) is empty: nothing to score") }
        let sides = try pairedBS.map { path -> [String] in
            let lines = try TextFile.lines(path)
            guard lines.count == refs.count else {
                throw CLIError("\(ref) has \(refs.count) lines but \(path) has \(lines.count): they must be aligned line by line")
            }
            return lines
        }
        let t = PairedBootstrap(baseline: sides[0], system: sides[1], references: refs, samples: samples, seed: seed)
        say(String(format: "baseline %@: BLEU %.2f (μ = %.2f ± %.2f)", pairedBS[0], t.baseline.score, t.baseline.mean, t.baseline.halfWidth))
        say(String(format: "system   %@: BLEU %.2f (μ = %.2f ± %.2f), p = %.4f%@", pairedBS[1], t.system.score, t.system.mean,
                   t.system.halfWidth, t.pValue, t.pValue < 0.05 ? " (significant at 0.05)" : ""))
        say("  signature: \(BLEUScore.signature)|test:bs|samples:\(samples)|seed:\(seed)")
        struct Result: Encodable {
            let baselineBleu, baselineMean, baselineHalfWidth, systemBleu, systemMean, systemHalfWidth, pValue: Double
            let samples, sentences: Int
        }
        try sayJSON(Result(baselineBleu: t.baseline.score, baselineMean: t.baseline.mean, baselineHalfWidth: t.baseline.halfWidth,
                           systemBleu: t.system.score, systemMean: t.system.mean, systemHalfWidth: t.system.halfWidth,
                           pValue: t.pValue, samples: samples, sentences: refs.count))
    }
}
