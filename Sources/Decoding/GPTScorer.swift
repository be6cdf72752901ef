import Foundation
import Kernels
import Model

/// A language model as a `StepScorer` for one prompt: one key/value cache row per hypothesis, reordered by
/// origin each step, so a step costs one incremental forward pass for the whole beam.
public struct GPTScorer: StepScorer {
    public let model: GPT
    let cache: KVCache
    let prompt: [Int32]
    var logits: [Float]
    let weights: GPTInferenceWeights?
    public var vocabularySize: Int { model.config.vocabSize }

    /// `prompt` (non-empty, e.g. starting with `<eos>`) is fed once per beam row on the first call.
    public init(model: GPT, prompt: [Int32], beam: Int, weights: GPTInferenceWeights? = nil) {
        self.model = model
        self.weights = weights
        self.prompt = prompt
        cache = KVCache(config: model.config, batch: beam)
        logits = [Float](repeating: 0, count: beam * model.config.vocabSize)
    }

    public mutating func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        let B = cache.batch, V = vocabularySize
        if rows.first?.origin == nil {
            // The first step: the prompt through every row (the search's start token is the prompt's own end).
            cache.reset()
            for t in prompt {
                logits.withUnsafeMutableBufferPointer { model.decodeStep(tokens: Array(repeating: t, count: B), cache: cache, logits: $0.baseAddress!, weights: weights) }
            }
        } else {
            let origins = rows.map { $0.origin! }
            cache.reorder(origins: origins)   // rows past the live ones are padding: left undefined
            let last = rows.map(\.token) + Array(repeating: 0, count: B - rows.count)
            logits.withUnsafeMutableBufferPointer { model.decodeStep(tokens: last, cache: cache, logits: $0.baseAddress!, weights: weights) }
        }
        // Log-softmax of each live row.
        logits.withUnsafeBufferPointer { l in
            logSoftmaxRows(out: out, input: l.baseAddress!, rows: rows.count, cols: V, pool: model.pool)
        }
    }
}
