/// What beam search needs from a model, and nothing more: next-token log-probabilities for a set of
/// hypotheses. Hand-written score tables implement it in tests; a model adapter implements it with a
/// key/value cache.
public protocol StepScorer {
    var vocabularySize: Int { get }
    /// Log-probabilities of the next token, row i for hypothesis i: `[hypotheses.count, V]`.
    /// `origins[i]` is the row of the previous call that hypothesis i extends (nil on the first call), so a
    /// cached implementation can reorder its state; `hypotheses[i]` is the whole prefix, for those without one.
    mutating func logProbabilities(hypotheses: [[Int32]], origins: [Int]?, into out: UnsafeMutablePointer<Float>)
}

/// One hypothesis row of a batched search step: it belongs to source `sentence`, extends row `origin` of
/// the previous call by `token` (nil on a sentence's first step, where `token` is the start token).
public struct BeamRow: Sendable, Equatable {
    public let sentence: Int
    public let origin: Int?
    public let token: Int32
    public init(sentence: Int, origin: Int?, token: Int32) { self.sentence = sentence; self.origin = origin; self.token = token }
}

/// The batched form: rows of several sentences at once, a sentence's rows contiguous. A model adapter
/// reorders its self-attention cache by the rows' origins and keeps per-sentence encoder state; rows of
/// sentences that finished simply stop appearing.
public protocol BatchStepScorer {
    var vocabularySize: Int { get }
    /// Log-probabilities of the next token for each row: `[rows.count, V]`.
    mutating func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>)
}

/// Adapts a prefix-based `StepScorer` to the batched protocol (one sentence), rebuilding each row's prefix
/// from its origin.
struct PrefixScorer<S: StepScorer>: BatchStepScorer {
    var inner: S
    let prompt: [Int32]
    var prefixes: [[Int32]] = []
    var vocabularySize: Int { inner.vocabularySize }

    init(inner: S, prompt: [Int32]) { self.inner = inner; self.prompt = prompt }

    mutating func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        if rows.first?.origin == nil {
            prefixes = rows.map { _ in prompt }
            inner.logProbabilities(hypotheses: prefixes, origins: nil, into: out)
        } else {
            prefixes = rows.map { prefixes[$0.origin!] + [$0.token] }
            inner.logProbabilities(hypotheses: prefixes, origins: rows.map { $0.origin! }, into: out)
        }
    }
}
