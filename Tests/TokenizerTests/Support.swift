import Foundation
import Tokenizer

/// The package root, found from this file's path (tests run from any directory).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func corpus(_ relative: String) -> String { repoRoot.appendingPathComponent("corpora/" + relative).path }

/// Text lines of a corpus file, TSV text columns included.
func textLines(_ relative: String) throws -> [String] {
    let path = corpus(relative)
    return try TextFile.lines(path).flatMap { TextFile.textFields(of: $0, isTSV: TextFile.isTSV(path)).map(String.init) }
}

/// One tokenizer trained on the bible train split, shared by the tests that need a realistic model.
let bibleTokenizerModel: (Vocabulary, [(Int32, Int32)]) = {
    var options = BPETrainingOptions(vocabularySize: 8000)
    options.threads = 2
    let tok = try! BPETrainer.train(lines: try! textLines("bible/bible.en-es.train.tsv"), options: options)
    return (tok.vocabulary, tok.merges.map { ($0.0, $0.1) })
}()

func bibleTokenizer() throws -> BPETokenizer {
    try BPETokenizer(vocabulary: bibleTokenizerModel.0, merges: bibleTokenizerModel.1, normalization: .nfkc)
}

/// A seeded generator (SplitMix64) so a failing random case can be replayed from its printed seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
