import Foundation
import Kernels
import Model
import Testing
@testable import Decoding

/// The prefix of each row of a one-sentence search, rebuilt from the rows' origins (for test scorers that
/// look their scores up by prefix).
func prefixes(of rows: [BeamRow], previous: [[Int32]]) -> [[Int32]] {
    rows.first?.origin == nil ? rows.map { _ in [] } : rows.map { previous[$0.origin!] + [$0.token] }
}

/// Next-token probabilities looked up by prefix; prefixes not in the table get `fallback`.
struct TableScorer: StepScorer {
    let vocabularySize: Int
    let table: [[Int32]: [Float]]
    let fallback: [Float]
    var calls = 0
    var rowPrefixes: [[Int32]] = []
    init(vocabularySize: Int, table: [[Int32]: [Float]], fallback: [Float]) {
        self.vocabularySize = vocabularySize; self.table = table; self.fallback = fallback
    }
    mutating func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        calls += 1
        rowPrefixes = prefixes(of: rows, previous: rowPrefixes)
        for (i, h) in rowPrefixes.enumerated() { write(h, into: out + i * vocabularySize) }
    }
    /// The log-probabilities after `prefix`: [V].
    func write(_ prefix: [Int32], into out: UnsafeMutablePointer<Float>) {
        let p = table[prefix] ?? fallback
        for v in 0..<vocabularySize { out[v] = p[v] > 0 ? log(p[v]) : -.infinity }
    }
}

// Token 0 is EOS in these tables.
@Suite struct BeamSearchTests {
    /// Greedy takes 1 (0.5) and then can only end at 0.3; beam 2 keeps 2 (0.4) whose EOS is 0.9: 0.36 > 0.15.
    let trap = TableScorer(vocabularySize: 4, table: [
        []: [0.1, 0.5, 0.4, 0.0],
        [1]: [0.3, 0.3, 0.2, 0.2],
        [2]: [0.9, 0.05, 0.05, 0.0],
        [1, 1]: [0.2, 0.2, 0.3, 0.3], [1, 2]: [0.2, 0.2, 0.3, 0.3], [1, 3]: [0.2, 0.2, 0.3, 0.3],
    ], fallback: [1.0, 0, 0, 0])

    func options(beam: Int, alpha: Float = 0) -> BeamOptions {
        var o = BeamOptions(eos: 0)
        o.beam = beam; o.lengthPenalty = .power(alpha); o.maxLength = 6
        return o
    }

    @Test func beamFindsTheBestSequenceGreedyMisses() {
        var s = trap
        let greedy = beamSearch(&s, options: options(beam: 1))[0]
        var t = trap
        let beam = beamSearch(&t, options: options(beam: 2))[0]
        #expect(beam.tokens == [2])
        #expect(abs(beam.logProb - log(0.36)) < 1e-5)
        #expect(greedy.tokens.first == 1)
        #expect(beam.logProb > greedy.logProb)
    }

    @Test func minimumLengthMasksEOS() {
        var s = trap
        var o = options(beam: 2)
        o.minLength = 3
        let best = beamSearch(&s, options: o)[0]
        #expect(best.tokens.count >= 2)
        #expect(!best.tokens.contains(0))
    }

    @Test func maximumLengthForcesEOS() {
        var s = TableScorer(vocabularySize: 3, table: [:], fallback: [0.01, 0.9, 0.09])
        var o = options(beam: 2)
        o.maxLength = 4
        let best = beamSearch(&s, options: o)[0]
        #expect(best.tokens.count == 3)   // three tokens, then EOS forced at step 4
    }

    /// Short: [1] then EOS, 0.5·0.9 = 0.45 (log −0.80; per token of 2: −0.40). Long: [2,2,2] then EOS,
    /// 0.5·0.9·0.9·0.95 = 0.385 (log −0.95; per token of 4: −0.24). Raw log-probability (α = 0) prefers the
    /// short one, the α = 1 average the long one.
    @Test func lengthPenaltyChangesTheWinner() {
        let table: [[Int32]: [Float]] = [
            []: [0.0, 0.5, 0.5], [1]: [0.9, 0.1, 0.0], [2]: [0.1, 0.0, 0.9], [2, 2]: [0.1, 0.0, 0.9],
            [2, 2, 2]: [0.95, 0.0, 0.05], [1, 1]: [1.0, 0, 0], [2, 2, 2, 2]: [1.0, 0, 0],
        ]
        var a = TableScorer(vocabularySize: 3, table: table, fallback: [1.0, 0, 0])
        let raw = beamSearch(&a, options: options(beam: 3, alpha: 0))[0]
        var b = TableScorer(vocabularySize: 3, table: table, fallback: [1.0, 0, 0])
        let normalised = beamSearch(&b, options: options(beam: 3, alpha: 1))[0]
        #expect(raw.tokens == [1])
        #expect(normalised.tokens == [2, 2, 2])
    }

    /// Beam 2, α = 1. Step 2 finishes [1] (0.5·0.6: −0.60 per token) and [2] (0.5·0.55: −0.65). The live [2,2]
    /// (0.225) could still win, and does: ending at step 3 it scores 0.225·0.95 = 0.214, −0.51 per token. Early
    /// stopping ends the search at step 2 with [1], after fewer model calls.
    @Test func earlyStoppingEndsOnceBeamHypothesesFinish() {
        let table: [[Int32]: [Float]] = [
            []: [0.0, 0.5, 0.5], [1]: [0.6, 0.4, 0.0], [2]: [0.55, 0.0, 0.45],
            [1, 1]: [0.95, 0.05, 0.0], [2, 2]: [0.95, 0.0, 0.05],
        ]
        var a = TableScorer(vocabularySize: 3, table: table, fallback: [1.0, 0, 0])
        let thorough = beamSearch(&a, options: options(beam: 2, alpha: 1))[0]
        var o = options(beam: 2, alpha: 1)
        o.earlyStopping = true
        var b = TableScorer(vocabularySize: 3, table: table, fallback: [1.0, 0, 0])
        let early = beamSearch(&b, options: o)[0]
        #expect(thorough.tokens == [2, 2] && abs(thorough.logProb - log(0.21375)) < 1e-5)
        #expect(early.tokens == [1] && abs(early.logProb - log(0.3)) < 1e-5)
        #expect(b.calls == 2 && a.calls > b.calls, "calls \(a.calls) and \(b.calls)")
    }

    @Test func nbestComesSortedAndDistinct() {
        var s = trap
        var o = options(beam: 4)
        o.nbest = 3
        let list = beamSearch(&s, options: o)
        #expect(list.count == 3)
        #expect(zip(list, list.dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(Set(list.map(\.tokens)).count == 3)
        #expect(list[0].tokens == [2])
    }

    @Test func noRepeatNgramBlocksRepeats() {
        var s = TableScorer(vocabularySize: 4, table: [:], fallback: [0.05, 0.8, 0.1, 0.05])
        var o = options(beam: 2)
        o.noRepeatNgram = 1
        o.maxLength = 4
        let best = beamSearch(&s, options: o)[0]
        #expect(Set(best.tokens).count == best.tokens.count, "\(best.tokens)")
        #expect(NoRepeatNgram.blocked([1, 2, 1], n: 2) == [2])
        #expect(NoRepeatNgram.blocked([1, 2, 3], n: 2) == [])
    }

    @Test func bannedTokensAreNeverChosen() {
        var s = TableScorer(vocabularySize: 4, table: [:], fallback: [0.1, 0.2, 0.6, 0.1])
        var o = options(beam: 2)
        o.banned = [2]
        o.maxLength = 3
        #expect(!beamSearch(&s, options: o)[0].tokens.contains(2))
    }
}

/// A scorer without a cache: the full forward pass over each whole prefix.
struct FullPrefixScorer: StepScorer {
    let model: GPT
    let prompt: [Int32]
    var rowPrefixes: [[Int32]] = []
    init(model: GPT, prompt: [Int32]) { self.model = model; self.prompt = prompt }
    var vocabularySize: Int { model.config.vocabSize }
    mutating func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        let V = vocabularySize
        rowPrefixes = prefixes(of: rows, previous: rowPrefixes)
        for (i, h) in rowPrefixes.enumerated() {
            let seq = prompt + h
            var logits = [Float](repeating: 0, count: seq.count * V)
            logits.withUnsafeMutableBufferPointer { model.logits(ids: seq, B: 1, T: seq.count, into: $0.baseAddress!) }
            let last = Array(logits.suffix(V))
            last.withUnsafeBufferPointer { logSoftmaxRowsNaive(out: out + i * V, input: $0.baseAddress!, rows: 1, cols: V) }
        }
    }
}

@Suite struct ModelBeamSearchTests {
    let config = GPTConfig(vocabSize: 40, context: 24, dModel: 32, layers: 2, heads: 4, dropout: 0)

    @Test func cachedScorerMatchesFullRecomputationAndBeamBeatsGreedy() {
        let model = GPT(config: config, pool: ThreadPool(threads: 2))
        model.initialize(seed: 11)
        // Sharper distributions than GPT-2's tiny init, so the search has something to decide.
        for t in model.layout.tensors where t.name == "wte.weight" {
            for i in t.offset..<(t.offset + t.count) { model.params.base[i] *= 40 }
        }
        for p in 0..<6 {
            let prompt: [Int32] = [3, Int32(4 + p), Int32(10 + p)]
            var o = BeamOptions(eos: 3)
            o.maxLength = 10; o.lengthPenalty = .power(0); o.banned = [0, 1, 2]
            o.beam = 4
            var cached = GPTScorer(model: model, prompt: prompt, beam: 4)
            let fromCache = beamSearch(&cached, options: o)[0]
            var full = FullPrefixScorer(model: model, prompt: prompt)
            let fromFull = beamSearch(&full, options: o)[0]
            #expect(fromCache.tokens == fromFull.tokens)
            #expect(abs(fromCache.logProb - fromFull.logProb) < 1e-3)
            o.beam = 1
            var g = GPTScorer(model: model, prompt: prompt, beam: 1)
            let greedy = beamSearch(&g, options: o)[0]
            #expect(fromCache.logProb >= greedy.logProb - 1e-5, "prompt \(prompt): beam \(fromCache.logProb) < greedy \(greedy.logProb)")
        }
    }
}
