import Foundation
import Testing
import Datasets
import FileIO
import Tokenizer

/// A corpus given without a validation file is split by counting its lines and streaming it, never by reading
/// it whole: the parts must be exactly those of the in-memory split they replace.
@Suite struct HeldOutStreamTests {
    static let texts = ["", "\n", "one", "one\n", "one\n\ntwo", "a\r\nb\r\n", "x\ny\nz\n\n\n", "the cat sat\r\n\na dog ran on the mat\nél comió  dos\tveces\nlast line"]

    @Test(arguments: texts)
    func lineCountIsTheNumberOfLinesRead(text: String) throws {
        let dir = tempRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = dir + "/c.txt"
        try text.write(toFile: f, atomically: false, encoding: .utf8)
        #expect(try TextFile.lineCount(f) == (try TextFile.lines(f)).count)
    }

    /// Over files of many lines (empty ones, CRLF, no final newline, TSV columns), small cache blocks that cut
    /// lines, and several fractions: the cached training part and the held-out lines equal the in-memory split.
    @Test(arguments: ["corpus.txt", "corpus.tsv"])
    func streamedSplitEqualsTheInMemorySplit(name: String) throws {
        let dir = tempRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = try BPETrainer.train(lines: ["the cat sat on the mat", "a dog ran", "él comió"], options: BPETrainingOptions(vocabularySize: 300))
        var lines: [String] = []
        for i in 0..<157 {
            let text = i % 11 == 0 ? "" : "line \(i) the cat\(i % 3 == 0 ? " sat on the mat" : "") él"
            lines.append(name.hasSuffix(".tsv") ? "ref\(i)\t\(text)\tdog \(i)" : text)
        }
        let corpus = dir + "/" + name
        try (lines.joined(separator: "\r\n")).write(toFile: corpus, atomically: false, encoding: .utf8)
        for (k, fraction) in [0.02, 0.1, 0.5].enumerated() {
            let (expectTrain, expectValid) = try Holdout.split(try Documents.lines(of: corpus), fraction: fraction, what: corpus)
            let (trainLines, n) = try Holdout.split(file: corpus, fraction: fraction)
            #expect(trainLines == expectTrain.count && n - trainLines == expectValid.count)
            let cache = dir + "/cache\(k)"
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            let train = try TokenStream.cached(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 2, cacheDir: cache,
                                               lines: 0..<trainLines, blockBytes: 97)
            let fresh = try TokenStream.encode(lines: expectTrain, tokenizer: tok, threads: 1)
            #expect(train.ids.array == fresh.ids && train.lines == fresh.lines && train.words == fresh.words && train.bytes == fresh.bytes)
            #expect(try Documents.lines(of: corpus, range: trainLines..<n) == expectValid)
            // The whole file's cache and a part's are different entries.
            let whole = try TokenStream.cached(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 2, cacheDir: cache)
            #expect(whole.ids.count > train.ids.count)
            #expect(try FileManager.default.contentsOfDirectory(atPath: cache).count == 2)
        }
    }

    @Test func tooFewLinesAreRefusedAsBefore() throws {
        let dir = tempRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = dir + "/one.txt"
        try "only line\n".write(toFile: f, atomically: false, encoding: .utf8)
        #expect(throws: DataError.self) { try Holdout.split(file: f, fraction: 0.02) }
    }
}
