import Foundation
import Kernels
import Model

/// Translates token-id sources with a `Seq2Seq` model in batches of `batchSize` sentences: each batch is
/// encoded once and searched together (`batchBeamSearch`), with finished sentences leaving the batch.
public final class Translator {
    public let model: Seq2Seq
    public let batchSize: Int
    public let beam: Int
    /// Sized for the batches seen so far (their longest source, their longest output limit) and grown when one
    /// needs more. Sized for the model's maximum length instead, the caches held about 3.4 MB per row whatever
    /// the sentences (600 MB at batch 64 for the bible's model).
    var scorer: Seq2SeqScorer? = nil
    /// The decoder's weights prepared for `computeType` (packed or quantised once, here).
    let weights: Seq2SeqInferenceWeights

    /// `computeType` nil computes the products as training does (at the model pool's precision, nothing
    /// prepared): for translating with a model whose weights change, as `fit`'s validation does.
    public init(model: Seq2Seq, batchSize: Int, beam: Int, computeType: ComputeType? = .fp32) {
        self.model = model
        self.batchSize = max(1, batchSize)
        self.beam = max(1, beam)
        weights = Seq2SeqInferenceWeights(model: model, computeType: computeType)
    }

    /// A scorer whose caches hold sources of `sourceLength` tokens and `steps` decoder steps.
    /// Capacities grow in steps of 32 positions, so batches of similar lengths do not each allocate (and fault
    /// in) new caches and encoder buffers.
    func scorer(sourceLength: Int, steps: Int) -> Seq2SeqScorer {
        if let s = scorer, s.state.sourceCapacity >= sourceLength, s.state.stepCapacity >= steps { return s }
        let roundUp = { (n: Int) in (n + 31) / 32 * 32 }
        let src = max(roundUp(sourceLength), scorer?.state.sourceCapacity ?? 0), st = max(roundUp(steps), scorer?.state.stepCapacity ?? 0)
        scorer = nil   // the old caches go before the new ones are made
        let s = Seq2SeqScorer(model: model, sentences: batchSize, beam: beam, sourceLength: src, steps: st, weights: weights)
        scorer = s
        return s
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
            let limits = chunk.map { maxLength(sourceTokens: $0.count - 1, a: maxLenA, b: maxLenB) }
            // A hypothesis of the limit's length is fed that many tokens (the start token first), so the
            // self-attention cache needs as many steps.
            var s = scorer(sourceLength: chunk.map(\.count).max()!, steps: limits.max()!)
            s.begin(sources: chunk)
            out += batchBeamSearch(&s, sentences: chunk.count, options: o, maxLengths: limits)
            i += chunk.count
        }
        return out
    }
}
