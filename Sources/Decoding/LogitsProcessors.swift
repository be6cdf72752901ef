import Foundation

/// A change to one row's next-token scores before a token is chosen from it: small values that sampling and
/// beam search share (CTranslate2's split of `LogitsProcessor`s from the search). A processor may only lower
/// scores to −∞ (forbid a token) or, for `Temperature`, rescale them; beam search applies them to
/// log-probabilities, sampling to logits.
public protocol LogitsProcessor: Sendable {
    /// `scores`: [V], changed in place. `tokens`: what the row has generated so far (prompt excluded);
    /// choosing now makes a hypothesis of `tokens.count + 1` tokens.
    func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens: [Int32])
}

/// Never choose these tokens (pad, bos, unk, …).
public struct BanTokens: LogitsProcessor {
    public let tokens: Set<Int32>
    public init(_ tokens: Set<Int32>) { self.tokens = tokens }
    public func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens _: [Int32]) {
        for t in tokens where Int(t) < V && t >= 0 { scores[Int(t)] = -.infinity }
    }
}

/// No EOS before a hypothesis has `minLength` tokens (EOS counted).
public struct MinLength: LogitsProcessor {
    public let eos: Int32, minLength: Int
    public init(eos: Int32, minLength: Int) { self.eos = eos; self.minLength = minLength }
    public func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens: [Int32]) {
        if tokens.count + 1 < minLength { scores[Int(eos)] = -.infinity }
    }
}

/// No n-gram of size `n` twice in a hypothesis (fairseq's and HF's `no_repeat_ngram_size`).
public struct NoRepeatNgram: LogitsProcessor {
    public let n: Int
    public init(_ n: Int) { self.n = n }
    public func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens: [Int32]) {
        for t in Self.blocked(tokens, n: n) { scores[Int(t)] = -.infinity }
    }

    /// Tokens that would complete an n-gram already present in `tokens`.
    static func blocked(_ tokens: [Int32], n: Int) -> Set<Int32> {
        guard n > 0, tokens.count >= n else { return [] }
        if n == 1 { return Set(tokens) }
        let prefix = tokens.suffix(n - 1)
        var out: Set<Int32> = []
        for i in 0...(tokens.count - n) where tokens[i..<(i + n - 1)].elementsEqual(prefix) {
            out.insert(tokens[i + n - 1])
        }
        return out
    }
}

/// Logits divided by T (T < 1 sharpens, T > 1 flattens). For sampling; beam search ranks log-probabilities.
public struct Temperature: LogitsProcessor {
    public let t: Float
    public init(_ t: Float) { self.t = t }
    public func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens _: [Int32]) {
        guard t > 0, t != 1 else { return }
        for v in 0..<V { scores[v] /= t }
    }
}

/// Keep the k best tokens (ties to the lower id), forbid the rest (k = 0: off).
public struct TopK: LogitsProcessor {
    public let k: Int
    public init(_ k: Int) { self.k = k }
    public func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens _: [Int32]) {
        guard k > 0, k < V else { return }
        let order = descendingOrder(scores, V)
        for i in order[k...] { scores[i] = -.infinity }
    }
}

/// Nucleus sampling (Holtzman et al. 2020): keep the smallest set of best tokens whose probability reaches p.
public struct TopP: LogitsProcessor {
    public let p: Float
    public init(_ p: Float) { self.p = p }
    public func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens _: [Int32]) {
        guard p < 1 else { return }
        let order = descendingOrder(scores, V)
        let probs = softmax(scores, order: order)
        var acc = 0.0, keep = 0
        while keep < order.count { acc += probs[keep]; keep += 1; if acc >= Double(p) { break } }
        for i in order[keep...] { scores[i] = -.infinity }
    }
}

/// Indices of the finite scores, best first (ties to the lower index).
func descendingOrder(_ scores: UnsafePointer<Float>, _ V: Int) -> [Int] {
    (0..<V).filter { scores[$0] > -.infinity }.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
}

/// Probabilities (in Double) of the tokens in `order`, whose first entry is the largest score.
func softmax(_ scores: UnsafePointer<Float>, order: [Int]) -> [Double] {
    guard let top = order.first else { return [] }
    let m = Double(scores[top])
    var probs = order.map { Foundation.exp(Double(scores[$0]) - m) }
    let total = probs.reduce(0, +)
    for i in probs.indices { probs[i] /= total }
    return probs
}

extension Array where Element == any LogitsProcessor {
    /// Applies each processor in order.
    func apply(_ scores: UnsafeMutablePointer<Float>, vocab V: Int, tokens: [Int32]) {
        for p in self { p.apply(scores, vocab: V, tokens: tokens) }
    }
}
