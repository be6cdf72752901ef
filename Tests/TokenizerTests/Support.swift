import Foundation
import FileIO
import TestSupport
import Tokenizer
import TestSupport

func corpus(_ relative: String) -> String { corpusPath(relative) }

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
