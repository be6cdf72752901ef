import Foundation
import Kernels
import Model

/// Perplexity-style evaluation of a token stream: the stream (with an `<eos>` in front as context for the
/// first token) is cut into non-overlapping windows of T+1 tokens (stride T), so every token is predicted
/// exactly once from at most T−1 tokens of context. The last window is padded with ignored targets.
public enum StreamEvaluator {
    public static func evaluate(model: GPT, ids: [Int32], eos: Int32, B: Int, T: Int, maxTokens: Int? = nil,
                                loss: GPT.LossOptions = .init(smoothing: 0),
                                inspect: LogitsInspector? = nil) -> CrossEntropyStats {
        var stream = [eos] + ids
        if let maxTokens, stream.count > maxTokens + 1 { stream = Array(stream.prefix(maxTokens + 1)) }
        let windows = max(0, (stream.count - 1 + T - 1) / T)
        var inputs = [Int32](repeating: 0, count: B * T), targets = [Int32](repeating: -100, count: B * T)
        var total = CrossEntropyStats()
        var w = 0
        while w < windows {
            let batch = min(B, windows - w)
            for b in 0..<B {
                for t in 0..<T {
                    let i = (w + b) * T + t
                    let valid = b < batch && i + 1 < stream.count
                    inputs[b * T + t] = valid ? stream[i] : 0
                    targets[b * T + t] = valid ? stream[i + 1] : -100
                }
            }
            let st = inputs.withUnsafeBufferPointer { inp in
                targets.withUnsafeBufferPointer { tg in
                    model.evaluate(ids: inp.baseAddress!, targets: tg.baseAddress!, B: B, T: T, loss: loss, inspect: inspect)
                }
            }
            total += st
            w += batch
        }
        return total
    }
}
