import ArgumentParser
import Foundation
import FileIO
import Tokenizer

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks; each prints one JSON object as its last line.",
        subcommands: [TokenizerBench.self, GemmBench.self, SoftmaxBench.self, CrossEntropyBench.self, TrainBench.self]
    )
}

struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Time tokenizer training and one-thread encoding on text files.")
    @Argument(help: "Text files (.tsv: text columns).") var files: [String]
    @Option var vocabSize: Int = 8000
    @Option(help: "Threads for training (encoding is timed on one thread).") var threads: Int = 2
    @Option(help: "Repetitions; the median is reported.") var repeats: Int = 3

    func run() throws {
        var lines: [String] = []
        for f in files {
            for line in try TextFile.lines(f) {
                for field in TextFile.textFields(of: line, isTSV: TextFile.isTSV(f)) where !field.isEmpty { lines.append(String(field)) }
            }
        }
        let bytes = lines.reduce(0) { $0 + $1.utf8.count + 1 }
        var options = BPETrainingOptions(vocabularySize: vocabSize)
        options.threads = threads
        var trainTimes: [Double] = [], encodeTimes: [Double] = []
        var tok: BPETokenizer! = nil
        var tokens = 0
        for _ in 0..<repeats {
            let t0 = Date()
            tok = try BPETrainer.train(lines: lines, options: options)
            trainTimes.append(Date().timeIntervalSince(t0))
            // A fresh copy: an empty word cache, as for a new process.
            let enc = try tok.copy()
            let t1 = Date()
            var out: [Int32] = []
            out.reserveCapacity(bytes)
            for l in lines { try enc.encode(l, into: &out) }
            encodeTimes.append(Date().timeIntervalSince(t1))
            tokens = out.count
        }
        let train = median(trainTimes), enc = median(encodeTimes)
        struct Result: Encodable { let trainS, encodeS, encodeMbPerS: Double; let bytes, tokens, vocab, threads: Int }
        try sayJSON(Result(trainS: train, encodeS: enc, encodeMbPerS: Double(bytes) / enc / 1e6, bytes: bytes, tokens: tokens,
                           vocab: tok.vocabularySize, threads: threads))
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
