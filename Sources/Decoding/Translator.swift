import Foundation
import Model

/// Translates token-id sources with a `Seq2Seq` model in batches of `batchSize` sentences: each batch is
/// encoded once and searched together (`batchBeamSearch`), with finished sentences leaving the batch.
public final class Translator {
    public let model: Seq2Seq
    public let batchSize: Int
    public let beam: Int
    let scorer: Seq2SeqScorer

    public init(model: Seq2Seq, batchSize: Int, beam: Int) {
        self.model = model
        self.batchSize = max(1, batchSize)
        self.beam = max(1, beam)
        let L = model.config.maxLength
        scorer = Seq2SeqScorer(model: model, sentences: self.batchSize, beam: self.beam, sourceLength: L, steps: L)
    }

    /// Maximum target length for a source of n tokens (EOS excluded): a·n + b, within the model's positions.
    public func maxLength(sourceTokens n: Int, a: Double, b: Double) -> Int {
        max(1, min(model.config.maxLength, Int((a * Double(n) + b).rounded(.down))))
    }

    /// The n-best hypotheses of each source (ids ending in EOS, at most the model's maximum length), in order.
    /// `options.beam` is taken from the translator.
    public func translate(sources: [[Int32]], options: BeamOptions, maxLenA: Double, maxLenB: Double) -> [[Hypothesis]] {
        var o = options
        o.beam = beam
        var out: [[Hypothesis]] = []
        out.reserveCapacity(sources.count)
        var i = 0
        while i < sources.count {
            let chunk = Array(sources[i..<min(sources.count, i + batchSize)])
            scorer.begin(sources: chunk)
            var s = scorer
            let limits = chunk.map { maxLength(sourceTokens: $0.count - 1, a: maxLenA, b: maxLenB) }
            out += batchBeamSearch(&s, sentences: chunk.count, options: o, maxLengths: limits)
            i += chunk.count
        }
        return out
    }
}
