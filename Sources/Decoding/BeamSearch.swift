import Foundation

/// How finished hypotheses are ranked.
public enum LengthPenalty: Sendable, Equatable {
    /// score / len^α, len counting the EOS (fairseq, HF, CTranslate2, Marian); α = 0 ranks by raw log-probability.
    case power(Float)
    /// score / ((5 + len)/6)^α (GNMT, Wu et al. 2016; Vaswani et al. used α = 0.6).
    case gnmt(Float)

    func normalize(_ logProb: Float, length: Int) -> Float {
        switch self {
        case .power(let a): return a == 0 ? logProb : logProb / Float(pow(Double(length), Double(a)))
        case .gnmt(let a): return logProb / Float(pow((5 + Double(length)) / 6, Double(a)))
        }
    }
}

/// Options of a search (one struct, not a dozen arguments).
public struct BeamOptions: Sendable {
    public var beam = 4
    public var nbest = 1
    public var lengthPenalty = LengthPenalty.power(1)
    /// Hypotheses end by length `maxLength` (then only EOS is allowed) and not before `minLength` (EOS masked).
    public var maxLength = 200
    public var minLength = 1
    /// Forbid any n-gram of this size from appearing twice in a hypothesis (0: off).
    public var noRepeatNgram = 0
    public var eos: Int32
    /// Tokens never chosen (pad, bos, unk, …).
    public var banned: Set<Int32> = []

    public init(eos: Int32) { self.eos = eos }
}

/// A finished hypothesis: tokens (EOS excluded), total log-probability, and the score it was ranked by.
public struct Hypothesis: Sendable, Equatable {
    public let tokens: [Int32]
    public let logProb: Float
    public let score: Float
}

/// Beam search over a `StepScorer`: each step extends every live hypothesis, keeps the best 2·beam
/// candidates (so enough survive when some end in EOS), moves those ending in EOS to the finished list
/// (scored with the length penalty), and continues with the best `beam` that did not. The search ends when
/// `beam` hypotheses have finished and the best live one, scored as if it ended now, does not beat the worst
/// of them, or at the maximum length. Greedy search is beam 1. One source at a time: batching several
/// sentences (finished ones leaving the batch) is the caller's loop for now.
public func beamSearch<S: StepScorer>(_ scorer: inout S, prompt: [Int32] = [], options o: BeamOptions) -> [Hypothesis] {
    let V = scorer.vocabularySize
    var live = [LiveHypothesis(tokens: [], logProb: 0)]
    var finished: [Hypothesis] = []
    var buffer = [Float](repeating: 0, count: o.beam * V)
    var origins: [Int]? = nil
    for length in 1...max(1, o.maxLength) {
        let rows = live.count
        if buffer.count < rows * V { buffer = [Float](repeating: 0, count: rows * V) }
        buffer.withUnsafeMutableBufferPointer { b in
            scorer.logProbabilities(hypotheses: live.map { prompt + $0.tokens }, origins: origins, into: b.baseAddress!)
        }
        // The best 2·beam candidates (total log-prob, row, token), best first, ties to the lower row and token:
        // kept by ordered insertion into a short list rather than by sorting all rows × V of them.
        let keep = 2 * o.beam
        var cands: [(Float, Int, Int32)] = []
        cands.reserveCapacity(keep + 1)
        @inline(__always) func better(_ a: (Float, Int, Int32), _ b: (Float, Int, Int32)) -> Bool {
            a.0 != b.0 ? a.0 > b.0 : (a.1, a.2) < (b.1, b.2)
        }
        for (r, h) in live.enumerated() {
            let banned = blockedByNgram(h.tokens, n: o.noRepeatNgram)
            for v in 0..<V {
                let lp = buffer[r * V + v]
                if lp == -.infinity || lp.isNaN { continue }
                let c = (h.logProb + lp, r, Int32(v))
                if cands.count == keep && !better(c, cands[keep - 1]) { continue }
                let tok = Int32(v)
                if o.banned.contains(tok) || banned.contains(tok) { continue }
                if tok == o.eos && length < o.minLength { continue }
                if tok != o.eos && length >= o.maxLength { continue }
                var i = cands.count
                while i > 0 && better(c, cands[i - 1]) { i -= 1 }
                cands.insert(c, at: i)
                if cands.count > keep { cands.removeLast() }
            }
        }
        var next: [LiveHypothesis] = []
        var nextOrigins: [Int] = []
        for (rank, (lp, r, tok)) in cands.enumerated() {
            if tok == o.eos {
                // An EOS candidate finishes only if it ranks within the top `beam` (fairseq's rule): one further
                // down would not have survived as a live hypothesis either.
                if rank < o.beam {
                    let toks = live[r].tokens
                    finished.append(Hypothesis(tokens: toks, logProb: lp, score: o.lengthPenalty.normalize(lp, length: toks.count + 1)))
                }
            } else if next.count < o.beam {
                next.append(LiveHypothesis(tokens: live[r].tokens + [tok], logProb: lp))
                nextOrigins.append(r)
            }
        }
        finished.sort { $0.score > $1.score }
        if finished.count >= o.beam {
            // Stop once `beam` hypotheses have finished and the best live one, scored as if it ended now, cannot
            // beat the worst of them (HF's heuristic; an exact bound would normalise at the maximum length and
            // almost never stop early).
            let worstKept = finished[o.beam - 1].score
            let bestLive = next.map { o.lengthPenalty.normalize($0.logProb, length: length + 1) }.max() ?? -.infinity
            if bestLive <= worstKept { break }
        }
        if next.isEmpty { break }
        live = next
        origins = nextOrigins
    }
    if finished.isEmpty {
        // Nothing ended in EOS (max length 0, or every path masked): return the live hypotheses as they are.
        finished = live.map { Hypothesis(tokens: $0.tokens, logProb: $0.logProb, score: o.lengthPenalty.normalize($0.logProb, length: max(1, $0.tokens.count))) }
        finished.sort { $0.score > $1.score }
    }
    return Array(finished.prefix(max(1, o.nbest)))
}

/// A hypothesis still being extended.
struct LiveHypothesis {
    var tokens: [Int32]
    var logProb: Float
}

/// Tokens that would complete an n-gram already present in `tokens`.
func blockedByNgram(_ tokens: [Int32], n: Int) -> Set<Int32> {
    guard n > 0, tokens.count >= n else { return [] }
    if n == 1 { return Set(tokens) }
    let prefix = Array(tokens.suffix(n - 1))
    var out: Set<Int32> = []
    for i in 0...(tokens.count - n) where Array(tokens[i..<(i + n - 1)]) == prefix {
        out.insert(tokens[i + n - 1])
    }
    return out
}
