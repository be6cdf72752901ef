import Kernels
import Model

/// Token-by-token generation with the model's key/value cache: the prompt is run once, then each new token
/// costs one incremental step. When the context fills up, the window slides (the cache is rebuilt from the
/// last context/2 tokens).
public final class Generator {
    public let model: GPT
    /// The weights prepared for the products (packed or quantised once, here).
    public let weights: GPTInferenceWeights
    public init(model: GPT, computeType: ComputeType = .fp32) {
        self.model = model
        weights = GPTInferenceWeights(model: model, computeType: computeType)
    }

    /// Calls `choose(logits)` for each position after the prompt; it returns the next token, or nil to stop.
    public func generate(prompt: [Int32], maxTokens: Int, choose: (UnsafePointer<Float>) throws -> Int32?) throws {
        let T = model.config.context, V = model.config.vocabSize
        let cache = KVCache(config: model.config, batch: 1)
        var tokens = Array(prompt.suffix(T))
        var logits = [Float](repeating: 0, count: V)
        // Prefill: every prompt token through the cache; the last one's logits start generation.
        logits.withUnsafeMutableBufferPointer { l in
            for t in tokens { model.decodeStep(tokens: [t], cache: cache, logits: l.baseAddress!, weights: weights) }
        }
        for _ in 0..<maxTokens {
            guard let next = try logits.withUnsafeBufferPointer({ try choose($0.baseAddress!) }) else { return }
            tokens.append(next)
            if cache.length >= T {
                // Slide: keep the last T/2 tokens as context and rebuild the cache from them.
                tokens = Array(tokens.suffix(T / 2))
                cache.reset()
                logits.withUnsafeMutableBufferPointer { l in
                    for t in tokens { model.decodeStep(tokens: [t], cache: cache, logits: l.baseAddress!, weights: weights) }
                }
            } else {
                logits.withUnsafeMutableBufferPointer { l in model.decodeStep(tokens: [next], cache: cache, logits: l.baseAddress!, weights: weights) }
            }
        }
    }
}
