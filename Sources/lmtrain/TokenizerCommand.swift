import ArgumentParser
import Foundation
import FileIO
import Tokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train, apply and export the ICU + byte-fallback BPE tokenizer.",
        subcommands: [Train.self, Encode.self, Decode.self, Export.self]
    )
}

extension TokenizerCommand {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train one joint BPE vocabulary on text files (.tsv files: the text columns).")

        @Argument(help: "Text files, one sentence or document per line; several make one joint vocabulary.")
        var files: [String]
        @Option(help: "Vocabulary size, special and byte tokens included.") var vocabSize: Int = 8000
        @Option(help: "Where to write the tokenizer.") var output: String
        @Option(help: "Stop merging when the best pair is rarer than this.") var minFrequency: Int = 2
        @Option(help: "Unicode normalisation: nfkc, nfc or none.") var normalization: Normalization = .nfkc
        @Option(parsing: .upToNextOption, help: "Extra special tokens, e.g. --special '<sep>' '<mask>'.")
        var special: [String] = []
        @Option(help: "Threads for counting words.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func validate() throws {
            if minFrequency < 1 { throw ValidationError("--min-frequency must be at least 1") }
            if threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            var options = BPETrainingOptions(vocabularySize: vocabSize)
            options.minPairFrequency = minFrequency
            options.normalization = normalization
            options.extraSpecialTokens = special
            options.threads = threads
            // Check the cheap things before reading tens of megabytes.
            guard vocabSize >= options.minimumVocabularySize else {
                throw TokenizerError.vocabularyTooSmall(requested: vocabSize, minimum: options.minimumVocabularySize)
            }
            // The files are streamed (words counted block by block), so a corpus of gigabytes fits in memory.
            var counting: ProgressBar? = nil, bytes = 0
            var merging: ProgressBar? = nil
            let tok = try BPETrainer.train(files: files, options: options) { p in
                switch p {
                case .counting: break
                case .reading(let done, let total):
                    if counting == nil { counting = ProgressBar("counting words", total: max(1, total / 1_000_000), unit: "MB") }
                    counting!.update(done / 1_000_000)
                    bytes = done
                case .merging(let done, let total, let piece, let freq):
                    if merging == nil {
                        counting?.finish(String(format: "%.1f MB", Double(bytes) / 1e6))
                        merging = ProgressBar("merging", total: total, unit: "merges")
                    }
                    merging!.update(done, status: piece.isEmpty ? "" : "last \(piece) ×\(freq)")
                }
            }
            merging?.finish("\(tok.merges.count) merges, vocabulary \(tok.vocabularySize)")
            try TokenizerFile.save(tok, to: output)
            printErr("wrote \(output)")
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Text lines on stdin -> space-separated token ids per line on stdout.")
        @Option(help: "Tokenizer file.") var tokenizer: String
        @Flag(help: "Print JSON lines with the pre-tokens and their ids instead (for cross-checks).")
        var jsonl = false
        @Flag(help: "Print pieces instead of ids.") var pieces = false

        func run() throws {
            let tok = try TokenizerFile.load(tokenizer)
            var out = OutputBuffer()
            var lineNo = 0
            while let line = readRawLine() {
                lineNo += 1
                guard let text = String(validating: line, as: UTF8.self) else {
                    throw FileError.invalidUTF8(file: "<stdin>", line: lineNo)
                }
                if jsonl {
                    let parts = try tok.encodeWithPreTokens(text)
                    let pre = parts.map { jsonString($0.preToken) }.joined(separator: ",")
                    let ids = parts.map { "[" + $0.ids.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",")
                    out.write("{\"pretokens\":[\(pre)],\"ids\":[\(ids)]}\n")
                } else if pieces {
                    out.write(tok.pieces(try tok.encode(text)).joined(separator: " ") + "\n")
                } else {
                    out.write(try tok.encode(text).map(String.init).joined(separator: " ") + "\n")
                }
            }
            out.flush()
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Space-separated token ids per line on stdin -> text lines on stdout.")
        @Option(help: "Tokenizer file.") var tokenizer: String
        @Flag(help: "Print special tokens such as <eos> instead of dropping them.") var keepSpecial = false

        func run() throws {
            let tok = try TokenizerFile.load(tokenizer)
            var out = OutputBuffer()
            var lineNo = 0
            while let line = readRawLine() {
                lineNo += 1
                var ids: [Int32] = []
                for field in line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }) {
                    guard let id = Int32(String(decoding: field, as: UTF8.self)) else {
                        throw CLIError("<stdin>:\(lineNo): '\(String(decoding: field, as: UTF8.self))' is not a token id (decode expects space-separated integers)")
                    }
                    ids.append(id)
                }
                do {
                    out.write(try tok.decode(ids, keepSpecial: keepSpecial) + "\n")
                } catch let e as TokenizerError {
                    throw CLIError("<stdin>:\(lineNo): \(e)")
                }
            }
            out.flush()
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export the tokenizer for other toolkits.")
        enum Format: String, ExpressibleByArgument { case hf }
        @Option(help: "Tokenizer file.") var tokenizer: String
        @Option(help: "Format: hf (Hugging Face tokenizer.json, vocab.json, merges.txt).") var format: Format = .hf
        @Option(help: "Output directory.") var output: String

        func run() throws {
            let tok = try TokenizerFile.load(tokenizer)
            try HuggingFaceExport.write(tok, to: output)
            printErr("wrote \(output)/tokenizer.json, vocab.json, merges.txt")
        }
    }
}
