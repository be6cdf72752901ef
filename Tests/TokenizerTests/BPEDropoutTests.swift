import Foundation
import Testing
import TestSupport
@testable import Tokenizer

/// BPE-dropout (`encode(_:dropout:using:)`): lossless, seeded, a no-op at p = 0, and dropping each merge at the
/// rate asked.
@Suite struct BPEDropoutTests {
    @Test func zeroDropoutIsTheDeterministicSegmentation() throws {
        let tok = try bibleTokenizer()
        var rng = SeededGenerator(seed: testSeed())
        for line in try textLines("bible/bible.en-es.valid.tsv").prefix(500) {
            #expect(try tok.encode(line, dropout: 0, using: &rng) == (try tok.encode(line)))
        }
    }

    /// At p = 0.1 every line still decodes to its normalised text, the segmentations differ from the
    /// deterministic one on many lines and are longer in total; one seed gives one segmentation, another seed
    /// another; near p = 1 words fall apart towards characters.
    @Test func dropoutKeepsTextAndVariesTheSegmentation() throws {
        let tok = try bibleTokenizer()
        let lines = Array(try textLines("bible/bible.en-es.valid.tsv").prefix(1000))
        let seed = testSeed()
        var a = SeededGenerator(seed: seed), b = SeededGenerator(seed: seed), c = SeededGenerator(seed: seed &+ 1)
        var high = SeededGenerator(seed: seed)
        var plain = 0, dropped = 0, heavy = 0, differing = 0, reseeded = 0, lossy = 0
        for line in lines {
            let base = try tok.encode(line)
            let x = try tok.encode(line, dropout: 0.1, using: &a)
            let y = try tok.encode(line, dropout: 0.1, using: &b)
            let z = try tok.encode(line, dropout: 0.1, using: &c)
            let h = try tok.encode(line, dropout: 0.99, using: &high)
            #expect(x == y, "same seed, other segmentation: \(line) (\(seedNote(seed)))")
            if try tok.decode(x) != (try Normalization.nfkc.apply(line)) || tok.decode(h) != (try Normalization.nfkc.apply(line)) { lossy += 1 }
            plain += base.count; dropped += x.count; heavy += h.count
            if x != base { differing += 1 }
            if x != z { reseeded += 1 }
        }
        #expect(lossy == 0)
        #expect(differing > lines.count / 2, "only \(differing) of \(lines.count) lines segmented differently at p = 0.1")
        #expect(reseeded > lines.count / 2, "another seed changed only \(reseeded) of \(lines.count) lines")
        #expect(Double(dropped) > 1.05 * Double(plain), "\(dropped) tokens at p = 0.1 vs \(plain) without dropout")
        #expect(Double(heavy) > 2.5 * Double(plain), "\(heavy) tokens at p = 0.99 vs \(plain) without dropout")
    }

    /// A two-symbol word with one merge: the merge is skipped in a share p of 20,000 draws (within 5 standard
    /// errors).
    @Test func aMergeIsDroppedWithProbabilityP() throws {
        let tok = try bibleTokenizer()
        let p = 0.3, n = 20_000
        var rng = SeededGenerator(seed: testSeed())
        let pair = try #require(twoSymbolWord(tok))
        var unmerged = 0
        for _ in 0..<n {
            var s = pair
            tok.applyMerges(&s, dropout: p, using: &rng)
            if s.count == 2 { unmerged += 1 }
        }
        let rate = Double(unmerged) / Double(n), se = (p * (1 - p) / Double(n)).squareRoot()
        #expect(abs(rate - p) < 5 * se, "merge skipped in \(rate) of draws, expected \(p) ± \(5 * se)")
    }

    /// The initial symbols of a word of two alphabet symbols that BPE merges into one.
    func twoSymbolWord(_ tok: BPETokenizer) -> [Int32]? {
        for key in [" a", " y", " e", "de", "la", "of"] {
            let s = tok.initialSymbols(key)
            if s.count == 2 && tok.encodeKey(key).count == 1 { return s }
        }
        return nil
    }
}
