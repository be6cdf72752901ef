import Foundation
import Kernels
import Model
import Testing
import TestSupport
@testable import Decoding

/// Per-sentence score tables behind the batched protocol: it rebuilds each row's prefix from its origin (as a
/// cache would be reordered) and records how many rows each call had.
final class BatchTableScorer: StepScorer {
    let vocabularySize: Int
    let tables: [TableScorer]
    var prefixes: [[Int32]] = []
    var rowsPerCall: [Int] = []
    var sentencesPerCall: [Set<Int>] = []
    init(_ tables: [TableScorer]) { self.tables = tables; vocabularySize = tables[0].vocabularySize }

    func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        rowsPerCall.append(rows.count)
        sentencesPerCall.append(Set(rows.map(\.sentence)))
        prefixes = rows.map { $0.origin == nil ? [] : prefixes[$0.origin!] + [$0.token] }
        for (i, r) in rows.enumerated() {
            tables[r.sentence].write(prefixes[i], into: out + i * vocabularySize)
        }
    }
}

@Suite struct BatchBeamSearchTests {
    // Token 0 is EOS. Sentence 0 is the greedy trap of BeamSearchTests; sentence 1 ends at once; sentence 2
    // runs to its maximum length.
    let tables = [
        TableScorer(vocabularySize: 4, table: [
            []: [0.1, 0.5, 0.4, 0.0], [1]: [0.3, 0.3, 0.2, 0.2], [2]: [0.9, 0.05, 0.05, 0.0],
            [1, 1]: [0.2, 0.2, 0.3, 0.3], [1, 2]: [0.2, 0.2, 0.3, 0.3], [1, 3]: [0.2, 0.2, 0.3, 0.3],
        ], fallback: [1.0, 0, 0, 0]),
        TableScorer(vocabularySize: 4, table: [[]: [0.97, 0.01, 0.01, 0.01]], fallback: [1.0, 0, 0, 0]),
        TableScorer(vocabularySize: 4, table: [:], fallback: [0.01, 0.33, 0.33, 0.33]),
    ]

    /// The batch gives each sentence exactly what a search of that sentence alone gives, and sentences
    /// that finish leave the batch (the scorer sees fewer rows, and never their sentence again).
    @Test func batchEqualsOneByOneAndFinishedSentencesLeave() {
        for beam in [1, 2, 3] {
            var o = BeamOptions(eos: 0)
            o.beam = beam; o.nbest = beam; o.lengthPenalty = .power(1); o.maxLength = 6
            let scorer = BatchTableScorer(tables)
            var s = scorer
            let batched = batchBeamSearch(&s, sentences: 3, options: o, maxLengths: [6, 6, 5])
            for k in 0..<3 {
                var single = tables[k]
                var ok = o
                ok.maxLength = [6, 6, 5][k]
                let alone = beamSearch(&single, options: ok)
                #expect(batched[k] == alone, "beam \(beam) sentence \(k)")
            }
            #expect(scorer.rowsPerCall.first == 3, "the first step has one row per sentence")
            // Sentence 1 is done after its first step (beam 1: EOS 0.97 ranks first) or second (its other
            // hypotheses can only end), and is never scored again.
            #expect(scorer.sentencesPerCall.dropFirst(beam == 1 ? 1 : 2).allSatisfy { !$0.contains(1) })
            #expect(scorer.sentencesPerCall.last == [2], "the sentence running to its maximum length is the last one left")
            #expect(scorer.rowsPerCall.count == 5, "sentence 2 needs 5 steps (maximum length 5)")
            #expect(batched[2][0].tokens.count == 4)
        }
    }
}

/// A translation scorer without caches: the teacher-forced forward pass over each row's whole prefix.
final class FullSeq2SeqScorer: StepScorer {
    let model: Seq2Seq
    let sources: [[Int32]]
    let start: Int32
    var prefixes: [[Int32]] = []
    var vocabularySize: Int { model.config.vocabSize }
    init(model: Seq2Seq, sources: [[Int32]], start: Int32) { self.model = model; self.sources = sources; self.start = start }

    func logProbabilities(rows: [BeamRow], into out: UnsafeMutablePointer<Float>) {
        let V = vocabularySize
        prefixes = rows.map { $0.origin == nil ? [start] : prefixes[$0.origin!] + [$0.token] }
        for (i, r) in rows.enumerated() {
            let src = sources[r.sentence], tgt = prefixes[i]
            var logits = [Float](repeating: 0, count: tgt.count * V)
            model.logits(src: src, srcLengths: [Int32(src.count)], tgtIn: tgt, B: 1, Ts: src.count, Tt: tgt.count, into: &logits)
            Array(logits.suffix(V)).withUnsafeBufferPointer { logSoftmaxRowsNaive(out: out + i * V, input: $0.baseAddress!, rows: 1, cols: V) }
        }
    }
}

@Suite struct Seq2SeqBeamSearchTests {
    let config = Seq2SeqConfig(vocabSize: 37, maxLength: 24, dModel: 32, encoderLayers: 2, decoderLayers: 2, heads: 4)

    func model(seed: UInt64) -> Seq2Seq {
        let m = Seq2Seq(config: config, pool: ThreadPool(threads: 2))
        m.initialize(seed: seed)
        // Sharper distributions than the init gives, so the search has something to decide.
        let t = m.layout["shared.weight"]
        for i in t.offset..<(t.offset + t.count) { m.params.base[i] *= 6 }
        return m
    }

    /// The cached scorer (encoder once, per-row self-attention caches reordered by origin, finished sentences
    /// leaving) finds the same hypotheses with the same scores as recomputing every prefix from scratch.
    @Test func cachedBatchedSearchMatchesFullRecomputation() {
        let seed = testSeed()
        let m = model(seed: seed)
        var rng = GaussianRNG(seed: seed ^ 3)
        let sources: [[Int32]] = (0..<5).map { _ in (0..<(2 + Int(rng.uniform() * 8))).map { _ in Int32(4 + rng.uniform() * 33) } + [3] }
        var o = BeamOptions(eos: 3)
        o.beam = 3; o.nbest = 3; o.maxLength = 12; o.banned = [0, 1, 2]
        let cached = Seq2SeqScorer(model: m, sentences: 5, beam: 3, sourceLength: 24, steps: 24)
        cached.begin(sources: sources)
        var c = cached
        let a = batchBeamSearch(&c, sentences: 5, options: o)
        var f = FullSeq2SeqScorer(model: m, sources: sources, start: 3)
        let b = batchBeamSearch(&f, sentences: 5, options: o)
        for s in 0..<5 {
            #expect(a[s].map(\.tokens) == b[s].map(\.tokens), "seed \(seed) sentence \(s)")
            #expect(zip(a[s], b[s]).allSatisfy { abs($0.logProb - $1.logProb) < 1e-3 }, "seed \(seed) sentence \(s)")
        }
    }

    /// Beam 4's best model score is at least greedy's for these sentences. (Not a theorem of beam search, so
    /// this uses a fixed model and fixed sentences rather than fresh random ones.)
    @Test func beamScoresAtLeastGreedy() {
        let m = model(seed: 2024)
        var rng = GaussianRNG(seed: 77)
        let sources: [[Int32]] = (0..<8).map { _ in (0..<(3 + Int(rng.uniform() * 8))).map { _ in Int32(4 + rng.uniform() * 33) } + [3] }
        var o = BeamOptions(eos: 3)
        o.maxLength = 16; o.banned = [0, 1, 2]; o.lengthPenalty = .power(1)
        let greedy = Translator(model: m, batchSize: 8, beam: 1).translate(sources: sources, options: o, maxLenA: 0, maxLenB: 16)
        let beam = Translator(model: m, batchSize: 8, beam: 4).translate(sources: sources, options: o, maxLenA: 0, maxLenB: 16)
        for s in 0..<8 { #expect(beam[s][0].score >= greedy[s][0].score - 1e-5, "sentence \(s): beam \(beam[s][0].score) < greedy \(greedy[s][0].score)") }
    }
}
