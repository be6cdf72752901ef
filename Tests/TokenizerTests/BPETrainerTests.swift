import FileIO
import Foundation
import Testing
@testable import Tokenizer

@Suite struct BPETrainerTests {
    @Test func textbookExampleMergesInWikipediaOrder() throws {
        // aaabdaaabac: aa -> Z, then ab -> Y (ties with Za at 2; a < Z), then ZY -> X (aaab), then nothing
        // occurs twice.
        var options = BPETrainingOptions(vocabularySize: 1000)
        options.normalization = .none
        options.minCharacterCount = 1
        let tok = try BPETrainer.train(lines: ["aaabdaaabac"], options: options)
        let merged = tok.merges.map { tok.vocabulary.pieces[Int($0.2)] }
        #expect(merged == ["aa", "ab", "aaab"])
        #expect(tok.pieces(try tok.encode("aaabdaaabac")) == ["aaab", "d", "aaab", "a", "c"])
        #expect(try tok.decode(try tok.encode("aaabdaaabac")) == "aaabdaaabac")
    }

    @Test func trainingIsDeterministicAcrossThreadCounts() throws {
        let lines = try textLines("tiny/tiny.txt")
        var one = BPETrainingOptions(vocabularySize: 600)
        one.threads = 1
        var two = one
        two.threads = 2
        let a = try BPETrainer.train(lines: lines, options: one)
        let b = try BPETrainer.train(lines: lines, options: two)
        #expect(a.vocabulary == b.vocabulary)
        #expect(a.merges.map { [$0.0, $0.1, $0.2] } == b.merges.map { [$0.0, $0.1, $0.2] })
    }

    /// Training on files streams them in blocks and adds up each block's word counts: the same tokenizer as
    /// training on all their text fields at once, for blocks that cut lines (and a TSV's columns) anywhere and
    /// for two files of both kinds; a corpus of only whitespace is refused as empty.
    @Test func trainingOnStreamedFilesEqualsTrainingOnTheirLines() throws {
        let files = [corpus("bible/bible.en-es.valid.tsv"), corpus("tiny/tiny.txt")]
        var options = BPETrainingOptions(vocabularySize: 700)
        options.threads = 2
        let whole = try BPETrainer.train(lines: try TextFile.textFields(ofFiles: files), options: options)
        for block in [4093, 65536, 1 << 24] {
            var last = 0
            let streamed = try BPETrainer.train(files: files, options: options, blockBytes: block) { p in
                if case .reading(let done, let total) = p { #expect(done >= last && done <= total); last = done }
            }
            #expect(streamed.vocabulary == whole.vocabulary, "block \(block)")
            #expect(streamed.merges.map { [$0.0, $0.1, $0.2] } == whole.merges.map { [$0.0, $0.1, $0.2] }, "block \(block)")
            #expect(last == files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) })
        }
        let blank = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-blank-\(UUID()).txt").path
        try " \n\t\n\n".write(toFile: blank, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: blank) }
        #expect(throws: TokenizerError.emptyCorpus([blank])) { _ = try BPETrainer.train(files: [blank], options: options) }
    }

    @Test func mergesFollowPairFrequency() throws {
        // Every merge's pair must have been at least as frequent (in the merged corpus so far) as the next
        // one's: check the first merges on real text by recounting from scratch.
        let lines = Array(try textLines("bible/web.en.valid.txt"))
        var options = BPETrainingOptions(vocabularySize: 257 + 4 + 200)
        options.minCharacterCount = 1
        let tok = try BPETrainer.train(lines: lines, options: options)
        let pre = try PreTokenizer(normalization: .nfkc)
        var words: [[Int32]: Int] = [:]
        for l in lines { try pre.forEachKey(in: l) { words[tok.initialSymbols($0), default: 0] += 1 } }
        for (a, b, id) in tok.merges.prefix(40) {
            var counts: [[Int32]: Int] = [:]
            for (w, f) in words where w.count > 1 {
                for i in 0..<(w.count - 1) where !tok.vocabulary.isByte(w[i]) && !tok.vocabulary.isByte(w[i + 1]) {
                    counts[[w[i], w[i + 1]], default: 0] += f
                }
            }
            let best = counts.values.max()!
            #expect(counts[[a, b]] == best, "merge \(tok.vocabulary.pieces[Int(id)]) was not the most frequent pair")
            var next: [[Int32]: Int] = [:]
            for (w, f) in words {
                var out: [Int32] = []
                var i = 0
                while i < w.count {
                    if i + 1 < w.count && w[i] == a && w[i + 1] == b { out.append(id); i += 2 } else { out.append(w[i]); i += 1 }
                }
                next[out, default: 0] += f
            }
            words = next
        }
    }

    @Test func vocabularySizeIsReachedOnRealText() throws {
        let tok = try bibleTokenizer()
        #expect(tok.vocabularySize == 8000)
        #expect(tok.merges.count > 7000)
    }

    @Test func tooSmallVocabularyIsRejected() throws {
        let options = BPETrainingOptions(vocabularySize: 100)
        #expect(throws: TokenizerError.vocabularyTooSmall(requested: 100, minimum: 261)) {
            _ = try BPETrainer.train(lines: ["hello world"], options: options)
        }
    }

    @Test func userSpecialTokensGetIdsAfterTheBuiltIns() throws {
        var options = BPETrainingOptions(vocabularySize: 400)
        options.extraSpecialTokens = ["<sep>", "<mask>", "<eos>"]
        let tok = try BPETrainer.train(lines: try textLines("tiny/tiny.txt"), options: options)
        #expect(Array(tok.vocabulary.pieces.prefix(6)) == ["<pad>", "<unk>", "<bos>", "<eos>", "<sep>", "<mask>"])
        #expect(tok.vocabulary.pieces[6] == "<0x00>")
        #expect(try tok.decode([4, 2], keepSpecial: true) == "<sep><bos>")
        #expect(try tok.decode([4, 2]) == "")
    }
}
