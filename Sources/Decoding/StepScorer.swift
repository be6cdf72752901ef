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
