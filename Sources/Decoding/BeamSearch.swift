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
    /// Stop a sentence as soon as `beam` hypotheses have finished (CTranslate2's rule, and HF `generate`'s
    /// `early_stopping=True`). Off: go on while the best live hypothesis, scored as if it ended now, could still
    /// beat the worst finished one (HF's default heuristic), which finds longer hypotheses under α > 0 and
    /// costs more steps.
    public var earlyStopping = false
    /// Tokens never chosen (pad, bos, unk, …).
    public var banned: Set<Int32> = []
    /// Further processors of each row's log-probabilities, after those of the options above.
    public var extraProcessors: [any LogitsProcessor] = []

    public init(eos: Int32) { self.eos = eos }

    /// The logits processors these options stand for, in order (no-ops left out).
    public var processors: [any LogitsProcessor] {
        var p: [any LogitsProcessor] = []
        if !banned.isEmpty { p.append(BanTokens(banned)) }
        if minLength > 1 { p.append(MinLength(eos: eos, minLength: minLength)) }
        if noRepeatNgram > 0 { p.append(NoRepeatNgram(noRepeatNgram)) }
        return p + extraProcessors
    }
}

/// A finished hypothesis: tokens (EOS excluded), total log-probability, and the score it was ranked by.
public struct Hypothesis: Sendable, Equatable {
    public let tokens: [Int32]
    public let logProb: Float
    public let score: Float
}

/// Beam search for one source (or one language-model prompt): the batched search with a batch of one.
public func beamSearch<S: StepScorer>(_ scorer: inout S, options o: BeamOptions) -> [Hypothesis] {
    batchBeamSearch(&scorer, sentences: 1, options: o)[0]
}

/// Beam search for a batch of sentences at once: every step scores all live hypotheses of all unfinished
/// sentences in one call (one model step for the whole batch). Per sentence, each step extends every live
/// hypothesis, keeps the best 2·beam candidates (so enough survive when some end in EOS), moves those ending
/// in EOS to the finished list (scored with the length penalty), and continues with the best `beam` that did
/// not. A sentence is done when `beam` hypotheses have finished and the best live one, scored as if it ended
/// now, does not beat the worst of them (HF's heuristic), or at its maximum length; done sentences leave the
/// batch, and the scorer reorders its caches by the rows' origins. Greedy search is beam 1.
/// `maxLengths[s]` overrides `options.maxLength` per sentence (a·source length + b).
public func batchBeamSearch<S: StepScorer>(_ scorer: inout S, sentences: Int, options o: BeamOptions,
                                                maxLengths: [Int]? = nil) -> [[Hypothesis]] {
    let V = scorer.vocabularySize
    let processors = o.processors
    var state = (0..<sentences).map { s in
        SentenceBeam(live: [LiveHypothesis(tokens: [], logProb: 0)], maxLength: max(1, maxLengths?[s] ?? o.maxLength))
    }
    var rows = (0..<sentences).map { BeamRow(sentence: $0, origin: nil, token: o.eos) }
    var buffer = [Float](repeating: 0, count: max(1, sentences) * o.beam * V)
    var length = 1
    while !rows.isEmpty {
        if buffer.count < rows.count * V { buffer = [Float](repeating: 0, count: rows.count * V) }
        buffer.withUnsafeMutableBufferPointer { b in scorer.logProbabilities(rows: rows, into: b.baseAddress!) }
        var next: [BeamRow] = []
        // Rows of one sentence are contiguous; walk them sentence by sentence.
        var r0 = 0
        while r0 < rows.count {
            let s = rows[r0].sentence
            var r1 = r0
            while r1 < rows.count && rows[r1].sentence == s { r1 += 1 }
            let extended = buffer.withUnsafeMutableBufferPointer { b in
                state[s].advance(logProbs: b.baseAddress! + r0 * V, V: V, length: length, options: o, processors: processors)
            }
            if !state[s].done {
                for (origin, token) in extended { next.append(BeamRow(sentence: s, origin: r0 + origin, token: token)) }
            }
            r0 = r1
        }
        rows = next
        length += 1
    }
    return state.map { $0.result(options: o) }
}

/// One sentence's search state.
struct SentenceBeam {
    var live: [LiveHypothesis]
    var finished: [Hypothesis] = []
    var done = false
    let maxLength: Int

    init(live: [LiveHypothesis], maxLength: Int) { self.live = live; self.maxLength = maxLength }

    /// One step from the live hypotheses' next-token log-probabilities ([live.count, V], changed in place by the
    /// logits processors); returns, for the new live hypotheses, the live row each extends and the token it adds.
    mutating func advance(logProbs: UnsafeMutablePointer<Float>, V: Int, length: Int, options o: BeamOptions,
                          processors: [any LogitsProcessor]) -> [(Int, Int32)] {
        // The best 2·beam candidates (total log-prob, row, token), best first, ties to the lower row and token:
        // kept by ordered insertion into a short list rather than by sorting all rows × V of them.
        let keep = 2 * o.beam
        var cands: [(Float, Int, Int32)] = []
        cands.reserveCapacity(keep + 1)
        @inline(__always) func better(_ a: (Float, Int, Int32), _ b: (Float, Int, Int32)) -> Bool {
            a.0 != b.0 ? a.0 > b.0 : (a.1, a.2) < (b.1, b.2)
        }
        for (r, h) in live.enumerated() {
            processors.apply(logProbs + r * V, vocab: V, tokens: h.tokens)
            let row = logProbs + r * V, hp = SIMD8<Float>(repeating: h.logProb)
            var v0 = 0
            while v0 < V {
                let v1 = min(V, v0 + 8)
                // Once the list is full, a block of 8 tokens whose totals are all strictly below the worst kept
                // candidate cannot enter it (the exact test below would reject each): skip it in one compare.
                // Most of the vocabulary goes this way. (A NaN lane fails the compare and takes the exact path.)
                if cands.count == keep && v1 - v0 == 8 {
                    let totals = hp + UnsafeRawPointer(row + v0).loadUnaligned(as: SIMD8<Float>.self)
                    if all(totals .< SIMD8<Float>(repeating: cands[keep - 1].0)) { v0 = v1; continue }
                }
                for v in v0..<v1 {
                    let lp = row[v]
                    if lp == -.infinity || lp.isNaN { continue }
                    let c = (h.logProb + lp, r, Int32(v))
                    if cands.count == keep && !better(c, cands[keep - 1]) { continue }
                    let tok = Int32(v)
                    // The maximum length is the sentence's own (a·source + b), so it stays a rule of the search.
                    if tok != o.eos && length >= maxLength { continue }
                    var i = cands.count
                    while i > 0 && better(c, cands[i - 1]) { i -= 1 }
                    cands.insert(c, at: i)
                    if cands.count > keep { cands.removeLast() }
                }
                v0 = v1
            }
        }
        var next: [LiveHypothesis] = []
        var extended: [(Int, Int32)] = []
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
                extended.append((r, tok))
            }
        }
        finished.sort { $0.score > $1.score }
        if finished.count >= o.beam {
            // Stop once `beam` hypotheses have finished and the best live one, scored as if it ended now, cannot
            // beat the worst of them (HF's heuristic; an exact bound would normalise at the maximum length and
            // almost never stop early).
            let worstKept = finished[o.beam - 1].score
            let bestLive = next.map { o.lengthPenalty.normalize($0.logProb, length: length + 1) }.max() ?? -.infinity
            if o.earlyStopping || bestLive <= worstKept { done = true }
        }
        if next.isEmpty || length >= maxLength { done = true }
        if !done { live = next }
        return extended
    }

    /// The n best finished hypotheses, or the live ones when none ended in EOS (max length 0, or every path masked).
    func result(options o: BeamOptions) -> [Hypothesis] {
        var out = finished
        if out.isEmpty {
            out = live.map { Hypothesis(tokens: $0.tokens, logProb: $0.logProb, score: o.lengthPenalty.normalize($0.logProb, length: max(1, $0.tokens.count))) }
            out.sort { $0.score > $1.score }
        }
        return Array(out.prefix(max(1, o.nbest)))
    }
}

/// A hypothesis still being extended.
struct LiveHypothesis {
    var tokens: [Int32]
    var logProb: Float
}
