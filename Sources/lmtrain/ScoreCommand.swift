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
        The signatures are printed; the last line is one JSON object with both scores.
        """)

    @Option(help: "Reference translations, one per line.") var ref: String
    @Argument(help: "Hypotheses, one per line (default: standard input).") var hypotheses: String?

    func run() throws {
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
}
