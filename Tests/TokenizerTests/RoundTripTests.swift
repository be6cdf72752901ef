import Foundation
import Testing
import TestSupport
@testable import Tokenizer

@Suite struct RoundTripTests {
    static let bibleFiles = ["bible/bible.en-es.train.tsv", "bible/bible.en-es.valid.tsv", "bible/bible.en-es.test.tsv",
                             "bible/web.en.train.txt", "bible/web.en.valid.txt", "bible/web.en.test.txt"]

    @Test(arguments: bibleFiles)
    func wholeBibleCorpusRoundTrips(file: String) throws {
        let tok = try bibleTokenizer()
        let unk = tok.id(of: .unk)
        var failures = 0, tokens = 0
        for line in try textLines(file) {
            let ids = try tok.encode(line)
            tokens += ids.count
            #expect(!ids.contains(unk))
            if try tok.decode(ids) != (try Normalization.nfkc.apply(line)) { failures += 1 }
        }
        #expect(failures == 0)
        #expect(tokens > 0)
    }

    @Test(arguments: Normalization.allCases)
    func tinyCorpusRoundTripsUnderEveryNormalization(norm: Normalization) throws {
        let lines = try textLines("tiny/tiny.txt")
        var options = BPETrainingOptions(vocabularySize: 700)
        options.normalization = norm
        let own = try BPETrainer.train(lines: lines, options: options)
        // And through a model trained on other text, where most characters fall back to bytes.
        let bible = try BPETokenizer(vocabulary: bibleTokenizerModel.0, merges: bibleTokenizerModel.1, normalization: norm)
        for tok in [own, bible] {
            for line in lines {
                #expect(try tok.decode(try tok.encode(line)) == (try norm.apply(line)), "line: \(line.debugDescription)")
            }
        }
    }

    @Test func normalizationAgreesWithFoundation() throws {
        // Foundation carries its own ICU: an independent reference for what ICU's normaliser returns here.
        for line in try textLines("tiny/tiny.txt") {
            #expect(try Normalization.nfkc.apply(line) == line.precomposedStringWithCompatibilityMapping)
            #expect(try Normalization.nfc.apply(line) == line.precomposedStringWithCanonicalMapping)
            #expect(try Normalization.none.apply(line) == line)
        }
    }

    @Test func randomUnicodeNeverBecomesUnknownAndRoundTrips() throws {
        let tok = try bibleTokenizer()
        let seed = testSeed()
        var rng = SeededGenerator(seed: seed)
        let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0xA0...0x24F, 0x300...0x36F, 0x590...0x6FF, 0x4E00...0x9FFF,
                                             0x1F300...0x1FAFF, 0x2580...0x259F, 0x1...0x1F, 0x10000...0x10FFF]
        for _ in 0..<300 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                let r = ranges[Int.random(in: 0..<ranges.count, using: &rng)]
                if let u = Unicode.Scalar(UInt32.random(in: r, using: &rng)), u.value != 0x0A { s.append(u) }
            }
            let text = String(s)
            let ids = try tok.encode(text)
            #expect(!ids.contains(tok.id(of: .unk)), "seed \(seed)")
            #expect(try tok.decode(ids) == (try Normalization.nfkc.apply(text)), "seed \(seed): \(text.debugDescription)")
        }
    }

    @Test func emptyAndTinyInputs() throws {
        let tok = try bibleTokenizer()
        #expect(try tok.encode("") == [])
        #expect(try tok.decode([]) == "")
        for s in [" ", "  ", "a", " a", "a ", "\t", "▁", "😀", "e\u{301}"] {
            #expect(try tok.decode(try tok.encode(s)) == (try Normalization.nfkc.apply(s)), "\(s.debugDescription)")
        }
    }

    @Test func decodingAnIdOutsideTheVocabularyIsAnError() throws {
        let tok = try bibleTokenizer()
        #expect(throws: TokenizerError.unknownId(8000, vocabularySize: 8000)) { _ = try tok.decode([5, 8000]) }
    }
}
