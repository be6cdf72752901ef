import Foundation
import Kernels

/// Picks the next token from logits: greedy, or sampling with temperature, top-k and top-p (nucleus).
public struct Sampler {
    public var temperature: Float = 1
    public var topK = 0
    public var topP: Float = 1
    public var greedy = false
    var rng: SplitMix64

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, greedy: Bool = false, seed: UInt64) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.greedy = greedy
        rng = SplitMix64(seed: seed)
    }

    /// The chosen id, never one of `banned` (e.g. `<pad>`).
    public mutating func pick(_ logits: UnsafePointer<Float>, vocab V: Int, banned: Set<Int32> = []) -> Int32 {
        var order = (0..<V).filter { !banned.contains(Int32($0)) }
        if greedy || temperature <= 0 {
            return Int32(order.max { logits[$0] < logits[$1] }!)
        }
        order.sort { logits[$0] > logits[$1] }
        if topK > 0 && topK < order.count { order = Array(order.prefix(topK)) }
        let m = Double(logits[order[0]])
        var probs = order.map { Foundation.exp((Double(logits[$0]) - m) / Double(temperature)) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if topP < 1 {
            var acc = 0.0, keep = 0
            while keep < probs.count { acc += probs[keep]; keep += 1; if acc >= Double(topP) { break } }
            order = Array(order.prefix(keep)); probs = Array(probs.prefix(keep))
            let s = probs.reduce(0, +)
            probs = probs.map { $0 / s }
        }
        var u = rng.uniform(), i = 0
        while i < probs.count - 1 && u >= probs[i] { u -= probs[i]; i += 1 }
        return Int32(order[i])
    }
}
