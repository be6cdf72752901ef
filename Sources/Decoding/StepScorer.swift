/// One hypothesis row of a search step: it belongs to source `sentence`, extends row `origin` of the previous
/// call by `token` (nil on a sentence's first step, where `token` is the start token).
public struct BeamRow: Sendable, Equatable {
    public let sentence: Int
    public let origin: Int?
    public let token: Int32
    public init(sentence: Int, origin: Int?, token: Int32) { self.sentence = sentence; self.origin = origin; self.token = token }
}

/// What beam search needs from a model, and nothing more: next-token log-probabilities for the live rows of
/// a step, the rows of several sentences at once, a sentence's rows contiguous. A model adapter reorders its
/// self-attention cache by the rows' origins and keeps per-sentence state (a prompt, encoder outputs); rows of
/// sentences that finished simply stop appearing. Hand-written score tables implement it in tests.
public protocol StepScorer {
    var vocabularySize: Int { get }
    /// Log-probabilities of the next token for each row: `[rows.count, V]`.
    mutating func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>)
}
