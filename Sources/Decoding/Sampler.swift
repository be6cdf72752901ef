import Foundation
import Kernels

/// Picks the next token from logits: greedy, or sampling after the logits processors (banned tokens, then
/// temperature, top-k and top-p, as HF's and CTranslate2's samplers order them).
public struct Sampler {
    public var processors: [any LogitsProcessor]
    public var greedy: Bool
    var rng: SplitMix64
    var scratch: [Float] = []

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, greedy: Bool = false, banned: Set<Int32> = [], seed: UInt64) {
        self.greedy = greedy || temperature <= 0
        processors = [BanTokens(banned)]
        if !self.greedy { processors += [Temperature(temperature), TopK(topK), TopP(topP)] }
        rng = SplitMix64(seed: seed)
    }

    /// The next token after `tokens` (what has been generated so far) from the logits [V].
    public mutating func pick(_ logits: UnsafePointer<Float>, vocab V: Int, tokens: [Int32] = []) -> Int32 {
        if scratch.count != V { scratch = [Float](repeating: 0, count: V) }
        return scratch.withUnsafeMutableBufferPointer { b in
            let s = b.baseAddress!
            s.update(from: logits, count: V)
            processors.apply(s, vocab: V, tokens: tokens)
            if greedy {
                // The first of the largest scores (ties to the lower id), in one pass.
                var best = 0
                for v in 1..<V where s[v] > s[best] { best = v }
                return Int32(best)
            }
            let order = descendingOrder(s, V)
            let probs = softmax(s, order: order)
            var u = rng.uniform(), i = 0
            while i < probs.count - 1 && u >= probs[i] { u -= probs[i]; i += 1 }
            return Int32(order[i])
        }
    }
}
