import ArgumentParser
import Foundation
import Decoding
import Evaluation
import Kernels
import Model
import Tokenizer
import Training

/// A trained translation run loaded for inference: config, tokenizer (checked against the model) and weights.
struct LoadedTranslationRun {
    let config: TranslationRunConfig
    let tokenizer: BPETokenizer
    let model: Seq2Seq

    /// `checkpoint`: a weights file to use instead of RUN/model.safetensors (a kept snapshot, or an average).
    init(_ run: String, threads: Int, checkpoint: String? = nil) throws {
        config = try TranslationRunConfig.load(run: run)
        tokenizer = try TokenizerFile.load(run + "/" + config.tokenizer)
        guard tokenizer.vocabularySize == config.model.vocabSize else {
            throw TrainingError.vocabularyMismatch(tokenizer: tokenizer.vocabularySize, model: config.model.vocabSize)
        }
        model = Seq2Seq(config: config.model, pool: ThreadPool(threads: threads))
        _ = try Checkpoint.loadWeights(path: checkpoint ?? run + "/model.safetensors", into: model)
    }
}

struct TranslateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate",
        abstract: "Translate text with a trained translation model (beam search), one output line per input line.",
        discussion: """
        Reads standard input (or --input FILE) and writes each batch's translations as soon as they are done. \
        An empty input line gives an empty output line, so outputs stay aligned with inputs. \
        With --nbest K > 1 each input gives K lines `ID ||| translation ||| score ||| logprob` (ID counts input \
        lines from 0; score is the length-normalised log-probability the hypotheses are ranked by, logprob the \
        total, both natural logs); an empty input gives one line `ID |||  ||| 0 ||| 0`. \
        Speed (sentences/s, target tokens/s) goes to standard error at the end.
        """)

    @Argument(help: "Run directory of `lmtrain fit --task translate`.") var runDirectory: String
    @Option(help: "Read this file instead of standard input.") var input: String?
    @Option(help: "Beam size (1 = greedy).") var beam: Int = 4
    @Option(help: "Hypotheses written per input.") var nbest: Int = 1
    @Option(help: "Length penalty α: score = logprob / len^α (len counts EOS).") var lenpen: Float = 1.0
    @Option(help: "power (fairseq/HF: len^α) or gnmt (((5 + len)/6)^α).") var lenpenStyle: String = "power"
    @Option(help: "Sentences decoded together.") var batchSize: Int = 32
    @Option(help: "Maximum output length a·source tokens + b …") var maxLenA: Double = 1.5
    @Option(help: "… with this b (capped by the model's maximum length).") var maxLenB: Double = 10
    @Option(help: "Minimum output length in tokens (EOS counts).") var minLen: Int = 1
    @Option(help: "Forbid repeating any n-gram of this size (0: off).") var noRepeatNgram: Int = 0
    @Option(help: "Weights file to use instead of RUN/model.safetensors (e.g. from `lmtrain average`).") var checkpoint: String?
    @Option var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if beam < 1 { throw ValidationError("--beam must be at least 1") }
        if nbest < 1 || nbest > beam { throw ValidationError("--nbest must be between 1 and --beam (\(beam))") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if !["power", "gnmt"].contains(lenpenStyle) { throw ValidationError("--lenpen-style must be power or gnmt") }
        if maxLenA < 0 || maxLenB < 0 || (maxLenA == 0 && maxLenB < 1) { throw ValidationError("--max-len-a and --max-len-b must allow at least one token") }
        if minLen < 1 { throw ValidationError("--min-len must be at least 1") }
        if noRepeatNgram < 0 { throw ValidationError("--no-repeat-ngram must be 0 (off) or positive") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let r = try LoadedTranslationRun(runDirectory, threads: threads, checkpoint: checkpoint)
        let lines = try LineSource(path: input)
        let tok = r.tokenizer
        let eos = tok.id(of: .eos)
        var o = BeamOptions(eos: eos)
        o.beam = beam; o.nbest = nbest; o.minLength = minLen; o.noRepeatNgram = noRepeatNgram
        o.lengthPenalty = lenpenStyle == "gnmt" ? .gnmt(lenpen) : .power(lenpen)
        o.banned = [tok.id(of: .pad), tok.id(of: .bos), tok.id(of: .unk)]
        let translator = Translator(model: r.model, batchSize: batchSize, beam: beam)
        let maxSource = r.config.model.maxLength
        var lineNo = 0, sentences = 0, targetTokens = 0, truncated = 0
        let t0 = Date()
        while true {
            let chunk = try lines.next(batchSize)
            if chunk.isEmpty { break }
            // Encode the non-empty lines; empty ones are answered with empty lines in place.
            var sources: [[Int32]] = [], where_: [Int] = []
            for (i, line) in chunk.enumerated() where !line.allSatisfy(\.isWhitespace) {
                var ids = try tok.encode(line)
                if ids.count + 1 > maxSource { ids = Array(ids.prefix(maxSource - 1)); truncated += 1 }
                sources.append(ids + [eos])
                where_.append(i)
            }
            let results = sources.isEmpty ? [] : translator.translate(sources: sources, options: o, maxLenA: maxLenA, maxLenB: maxLenB)
            var out = [[Hypothesis]?](repeating: nil, count: chunk.count)
            for (k, i) in where_.enumerated() { out[i] = results[k] }
            var text = ""
            for (i, hyps) in out.enumerated() {
                let id = lineNo + i
                guard let hyps else {
                    text += nbest > 1 ? "\(id) |||  ||| 0 ||| 0\n" : "\n"
                    continue
                }
                sentences += 1
                targetTokens += hyps[0].tokens.count + 1
                if nbest > 1 {
                    for h in hyps {
                        text += "\(id) ||| \(try tok.decode(h.tokens)) ||| \(String(format: "%.4f", h.score)) ||| \(String(format: "%.4f", h.logProb))\n"
                    }
                } else {
                    text += (try tok.decode(hyps[0].tokens)) + "\n"
                }
            }
            FileHandle.standardOutput.write(Data(text.utf8))
            lineNo += chunk.count
        }
        let dt = Date().timeIntervalSince(t0)
        if truncated > 0 { printErr("note: \(truncated) input line(s) were longer than the model's \(maxSource - 1) source tokens and were cut") }
        printErr(String(format: "translated %d sentences (%d lines) in %.1f s: %.1f sentences/s, %.0f target tokens/s (beam %d, batch %d, %d threads)",
                        sentences, lineNo, dt, Double(sentences) / max(dt, 1e-9), Double(targetTokens) / max(dt, 1e-9), beam, batchSize, threads))
    }
}

/// Lines from a file or standard input, read as they come (so `translate` streams), each checked to be
/// UTF-8 (an error names the line).
final class LineSource {
    let handle: FileHandle
    let name: String
    var buffer: [UInt8] = []
    var eof = false
    var lineNo = 0

    init(path: String?) throws {
        if let path {
            _ = try TextFile.bytes(path)   // missing, directory, unreadable: the tokenizer module's clear errors
            guard let h = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
            handle = h; name = path
        } else {
            handle = FileHandle.standardInput; name = "standard input"
        }
    }

    /// Up to `n` lines; fewer only at the end of the input.
    func next(_ n: Int) throws -> [String] {
        var out: [String] = []
        while out.count < n {
            if let nl = buffer.firstIndex(of: 0x0A) {
                out.append(try decode(Array(buffer[..<nl])))
                buffer.removeSubrange(...nl)
                continue
            }
            if eof {
                if !buffer.isEmpty { out.append(try decode(buffer)); buffer = [] }
                break
            }
            // Return what is complete rather than wait for a full batch when input is interactive.
            if !out.isEmpty && isatty(handle.fileDescriptor) != 0 { break }
            let d = handle.availableData
            if d.isEmpty { eof = true } else { buffer += d }
        }
        return out
    }

    private func decode(_ bytes: [UInt8]) throws -> String {
        lineNo += 1
        var b = bytes
        if b.last == 0x0D { b.removeLast() }
        guard let s = String(validating: b, as: UTF8.self) else {
            throw CLIError("\(name) line \(lineNo) is not valid UTF-8: convert the input to UTF-8 (e.g. with iconv)")
        }
        return s
    }
}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Corpus BLEU and chrF2 of translations against references, as sacreBLEU computes them.",
        discussion: """
        BLEU: sacreBLEU's defaults (13a tokenisation, exp smoothing, mixed case); chrF2: character 6-grams, β = 2. \
        The signatures are printed; the last line is one JSON object with both scores.
        """)

    @Option(help: "Reference translations, one per line.") var ref: String
    @Argument(help: "Hypotheses, one per line (default: standard input).") var hypotheses: String?

    func run() throws {
        let refs = try TextFile.lines(ref)
        let hyps = try LineSource(path: hypotheses).next(Int.max)
        guard refs.count == hyps.count else {
            throw CLIError("\(ref) has \(refs.count) lines but \(hypotheses ?? "the hypotheses") has \(hyps.count): they must be aligned line by line")
        }
        guard !refs.isEmpty else { throw CLIError("\(ref) is empty: nothing to score") }
        let bleu = Metrics.bleu(hypotheses: hyps, references: refs)
        let chrf = Metrics.chrF(hypotheses: hyps, references: refs)
        say("\(bleu.formatted)")
        say("  signature: \(BLEUScore.signature)")
        say(String(format: "chrF2 = %.2f", chrf))
        say("  signature: \(Metrics.chrFSignature)")
        say(String(format: "{\"bleu\": %.4f, \"chrf2\": %.4f, \"sentences\": %d, \"hyp_len\": %d, \"ref_len\": %d, \"bleu_signature\": \"%@\", \"chrf_signature\": \"%@\"}",
                   bleu.score, chrf, refs.count, bleu.hypothesisLength, bleu.referenceLength, BLEUScore.signature, Metrics.chrFSignature))
    }
}
