import Foundation
import Kernels
import Model

/// A translation model as a `StepScorer`: the sources are encoded once (cross-attention keys and values
/// per sentence and layer), and each call runs one incremental decoder step for all live rows, the rows'
/// self-attention caches reordered by origin first.
public final class Seq2SeqScorer: StepScorer {
    public let model: Seq2Seq
    let state: Seq2SeqDecoderState
    /// How the decoder's products are computed (prepared once, shared by the scorers of one translator).
    let weights: Seq2SeqInferenceWeights?
    public var vocabularySize: Int { model.config.vocabSize }

    /// Room for `sentences` sources of up to `sourceLength` tokens, `beam` rows each, `steps` target tokens.
    public init(model: Seq2Seq, sentences: Int, beam: Int, sourceLength: Int, steps: Int, weights: Seq2SeqInferenceWeights? = nil) {
        self.model = model
        self.weights = weights
        state = Seq2SeqDecoderState(config: model.config, rows: sentences * beam, sentences: sentences,
                                    sourceLength: sourceLength, steps: steps)
    }

    /// Encodes a new batch of sources (each ending in EOS); then the search starts.
    public func begin(sources: [[Int32]]) { model.beginDecoding(state, sources: sources, weights: weights) }

    public func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        let origins: [Int]? = rows.first?.origin == nil ? nil : rows.map { $0.origin! }
        // Logits straight into the search's buffer, then log-softmax in place (it reads each entry before writing it).
        model.decodeStep(state, sentences: rows.map(\.sentence), origins: origins, tokens: rows.map(\.token), logits: out,
                         weights: weights)
        logSoftmaxRows(out: out, input: out, rows: rows.count, cols: vocabularySize, pool: model.pool)
    }
}
