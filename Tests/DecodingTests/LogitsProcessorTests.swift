import Foundation
import Testing
import TestSupport
@testable import Decoding

/// The logits processors on hand-made rows, and the sampler built from them.
@Suite struct LogitsProcessorTests {
    func applied(_ p: any LogitsProcessor, _ row: [Float], tokens: [Int32] = []) -> [Float] {
        var r = row
        r.withUnsafeMutableBufferPointer { p.apply($0.baseAddress!, vocab: row.count, tokens: tokens) }
        return r
    }

    let ninf = -Float.infinity

    @Test func masksForbidExactlyTheirTokens() {
        let row: [Float] = [0.5, 1, 2, 3, 4]
        #expect(applied(BanTokens([0, 3]), row) == [ninf, 1, 2, ninf, 4])
        // EOS (0) is forbidden while the hypothesis would be shorter than 3 tokens, EOS counted.
        #expect(applied(MinLength(eos: 0, minLength: 3), row, tokens: [4]) == [ninf, 1, 2, 3, 4])
        #expect(applied(MinLength(eos: 0, minLength: 3), row, tokens: [4, 4]) == row)
        // After 1 2 … 1 the bigram (1, 2) exists, so 2 may not follow the last 1; trigrams block nothing yet.
        #expect(applied(NoRepeatNgram(2), row, tokens: [1, 2, 3, 1]) == [0.5, 1, ninf, 3, 4])
        #expect(applied(NoRepeatNgram(3), row, tokens: [1, 2, 3, 1]) == row)
        #expect(applied(NoRepeatNgram(1), row, tokens: [4, 1]) == [0.5, ninf, 2, 3, ninf])
    }

    @Test func temperatureTopKAndTopP() {
        #expect(applied(Temperature(0.5), [1, -2, 4]) == [2, -4, 8])
        // Top-2 keeps the two largest, ties to the lower id.
        #expect(applied(TopK(2), [1, 3, 3, 2]) == [ninf, 3, 3, ninf])
        #expect(applied(TopK(0), [1, 3]) == [1, 3])
        // Probabilities 0.5, 0.3, 0.2 (as log-probabilities): p = 0.7 needs the first two, p = 0.5 the first.
        let lp = [0.2, 0.5, 0.3].map { Float(log($0)) }
        #expect(applied(TopP(0.7), lp) == [ninf, lp[1], lp[2]])
        #expect(applied(TopP(0.5), lp) == [ninf, lp[1], ninf])
        #expect(applied(TopP(1), lp) == lp)
    }

    /// Greedy is the argmax of what is allowed; sampling at a known temperature draws each token with its
    /// probability (a chi-square-style bound over 20,000 draws), and never a banned one.
    @Test func samplerFollowsTheProcessedDistribution() {
        let logits: [Float] = [0, 2, 1, 3, 0.5]
        var greedy = Sampler(greedy: true, banned: [3], seed: 1)
        #expect(logits.withUnsafeBufferPointer { greedy.pick($0.baseAddress!, vocab: 5) } == 1)
        let seed = testSeed()
        var sampler = Sampler(temperature: 2, banned: [3], seed: seed)
        var counts = [Int](repeating: 0, count: 5)
        let n = 20_000
        for _ in 0..<n { counts[Int(logits.withUnsafeBufferPointer { sampler.pick($0.baseAddress!, vocab: 5) })] += 1 }
        #expect(counts[3] == 0, "a banned token was drawn (\(seedNote(seed)))")
        let allowed = [0, 1, 2, 4], z = allowed.map { exp(Double(logits[$0]) / 2) }.reduce(0, +)
        for k in allowed {
            let p = exp(Double(logits[k]) / 2) / z, sd = (Double(n) * p * (1 - p)).squareRoot()
            #expect(abs(Double(counts[k]) - Double(n) * p) < 5 * sd, "token \(k): \(counts[k]) draws, expected \(Double(n) * p) (\(seedNote(seed)))")
        }
    }
}
