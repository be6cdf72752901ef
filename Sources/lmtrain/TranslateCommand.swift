import ArgumentParser
import Decoding
import Foundation
import Kernels
import Model
import Runs

/// How the length penalty grows with the hypothesis length.
enum LengthPenaltyStyle: String, ExpressibleByArgument {
    /// fairseq/HF: len^α.
    case power
    /// GNMT: ((5 + len)/6)^α.
    case gnmt
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

    @OptionGroup var runOptions: RunOptions
    @Option(help: "Read this file instead of standard input.") var input: String?
    @Option(help: "Beam size (1 = greedy).") var beam: Int = 4
    @Option(help: "Hypotheses written per input.") var nbest: Int = 1
    @Option(help: "Length penalty α: score = logprob / len^α (len counts EOS).") var lenpen: Float = 1.0
    @Option(help: "power (fairseq/HF: len^α) or gnmt (((5 + len)/6)^α).") var lenpenStyle: LengthPenaltyStyle = .power
    @Option(help: "Sentences decoded together.") var batchSize: Int = 32
    @Option(help: "Maximum output length a·source tokens + b …") var maxLenA: Double = 1.5
    @Option(help: "… with this b (capped by the model's maximum length).") var maxLenB: Double = 10
    @Option(help: "Minimum output length in tokens (EOS counts).") var minLen: Int = 1
    @Option(help: "Forbid repeating any n-gram of this size (0: off).") var noRepeatNgram: Int = 0
    @Flag(help: "Stop a sentence once --beam hypotheses have finished (CTranslate2's rule; HF early_stopping=True).")
    var earlyStopping = false
    @Option(help: "Products: fp32 (weights packed once) or int8 (weights quantised per output column, activations per row; VNNI where the CPU has it).")
    var computeType: ComputeType = .fp32
    @OptionGroup var threading: ThreadsOption

    func validate() throws {
        if beam < 1 { throw ValidationError("--beam must be at least 1") }
        if nbest < 1 || nbest > beam { throw ValidationError("--nbest must be between 1 and --beam (\(beam))") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if maxLenA < 0 || maxLenB < 0 || (maxLenA == 0 && maxLenB < 1) { throw ValidationError("--max-len-a and --max-len-b must allow at least one token") }
        if minLen < 1 { throw ValidationError("--min-len must be at least 1") }
        if noRepeatNgram < 0 { throw ValidationError("--no-repeat-ngram must be 0 (off) or positive") }
    }

    func run() throws {
        let r = try LoadedRun<Seq2Seq>(directory: runOptions.runDirectory, threads: threading.threads, checkpoint: runOptions.checkpoint)
        let lines = try LineSource(path: input)
        let tok = r.tokenizer
        let translator = TextTranslator(model: r.model, tokenizer: tok, beam: beam, batchSize: batchSize, computeType: computeType)
        translator.options.nbest = nbest; translator.options.minLength = minLen; translator.options.noRepeatNgram = noRepeatNgram
        translator.options.earlyStopping = earlyStopping
        translator.options.lengthPenalty = lenpenStyle == .gnmt ? .gnmt(lenpen) : .power(lenpen)
        translator.maxLenA = maxLenA; translator.maxLenB = maxLenB
        var lineNo = 0, sentences = 0, targetTokens = 0
        let t0 = Date()
        while true {
            let chunk = try lines.next(batchSize)
            if chunk.isEmpty { break }
            var text = ""
            for (i, hyps) in try translator.hypotheses(chunk).enumerated() {
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
        if translator.truncated > 0 {
            printErr("note: \(translator.truncated) input line(s) were longer than the model's \(r.model.config.maxLength - 1) source tokens and were cut")
        }
        printErr(String(format: "translated %d sentences (%d lines) in %.1f s: %.1f sentences/s, %.0f target tokens/s (beam %d, batch %d, %d threads)",
                        sentences, lineNo, dt, Double(sentences) / max(dt, 1e-9), Double(targetTokens) / max(dt, 1e-9), beam, batchSize, threading.threads))
    }
}
