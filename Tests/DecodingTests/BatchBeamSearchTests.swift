import Foundation
import Kernels
import Model
import Testing
@testable import Decoding

/// Per-sentence score tables behind the batched protocol: it rebuilds each row's prefix from its origin (as a
/// cache would be reordered) and records how many rows each call had.
final class BatchTableScorer: BatchStepScorer {
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
            var t = tables[r.sentence]
            t.logProbabilities(hypotheses: [prefixes[i]], origins: nil, into: out + i * vocabularySize)
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
