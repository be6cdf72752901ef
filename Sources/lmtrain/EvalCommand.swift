import ArgumentParser
import Foundation
import Kernels
import Model
import Tokenizer
import Training
import Decoding
import Evaluation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained model on held-out text: NLL, perplexity, accuracy and calibration (ECE, MCE, confidence, entropy).",
        discussion: """
        Language model: the text (each line followed by <eos>, an <eos> in front as context) is cut into \
        non-overlapping windows of the model's context (stride = context), so each token is predicted once. \
        Per-word perplexity is exp(total NLL / whitespace-separated words); bits per byte = total NLL / ln 2 / \
        UTF-8 bytes (newlines included). Translation model: a TSV of pairs (or --columns), under teacher forcing.
        Calibration is token-level over top-1 predictions: 15 equal-width confidence bins (Guo et al. 2017), \
        before and after temperature scaling with one T fitted on the run's validation data. RUN/calibration.json \
        and RUN/reliability.svg (before/after diagrams) are written. The last line is one JSON object.
        """)

    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Argument(help: "Text file (language model) or TSV of pairs (translation model) to evaluate.") var file: String
    @Option(help: "Translation: source and target columns of the TSV, 1-based (default: as in training).") var columns: String?
    @Option(help: "Fit the temperature on this file instead of the run's validation data.") var temperatureFrom: String?
    @Flag(help: "Skip calibration (no temperature fit, no diagrams).") var noCalibration = false
    @Option var batchSize: Int = 16
    @Option(help: "Weights file to use instead of RUN/model.safetensors (e.g. from `lmtrain average`).") var checkpoint: String?
    @Option var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let columns, parseColumns(columns) == nil { throw ValidationError("--columns '\(columns)' is not two different column numbers such as 2,3") }
        if batchSize < 1 || threads < 1 { throw ValidationError("--batch-size and --threads must be at least 1") }
    }

    func run() throws {
        if try RunKind.of(run: runDirectory) == "translate" { return try evaluateTranslation() }
        let r = try LoadedRun(runDirectory, threads: threads, checkpoint: checkpoint)
        let stream = try Self.stream(file, tokenizer: r.tokenizer, threads: threads)
        let T = r.config.model.context, eos = r.tokenizer.id(of: .eos), B = batchSize
        let t0 = Date()
        let st = StreamEvaluator.evaluate(model: r.model, ids: stream.ids, eos: eos, B: B, T: T)
        let nll = st.nll / Double(st.count)
        let perWord = exp(st.nll / Double(max(1, stream.words)))
        let bpb = st.nll / log(2) / Double(max(1, stream.bytes))
        let acc = Double(st.correct) / Double(st.count)
        say("file          \(file)")
        say("tokens        \(st.count) (\(stream.words) words, \(stream.bytes) bytes, \(stream.lines) lines)")
        say(String(format: "token NLL     %.4f nats", nll))
        say(String(format: "perplexity    %.3f per token, %.3f per word", exp(nll), perWord))
        say(String(format: "bits/byte     %.4f", bpb))
        say(String(format: "accuracy      %.2f%% (top-1 next token)", acc * 100))
        var json = String(format: "{\"file\": %@, \"tokens\": %d, \"words\": %d, \"bytes\": %d, \"nll\": %.6f, \"ppl\": %.4f, \"word_ppl\": %.4f, \"bits_per_byte\": %.6f, \"accuracy\": %.6f, \"context\": %d, \"stride\": %d",
                          jsonString(file), st.count, stream.words, stream.bytes, nll, exp(nll), perWord, bpb, acc, T, T)
        if !noCalibration {
            let valid = try temperatureFrom.map { try Self.stream($0, tokenizer: r.tokenizer, threads: threads).ids }
                ?? validationStream(config: r.config, tokenizer: r.tokenizer, threads: threads)
            let V = r.config.model.vocabSize
            let T0 = CalibrationEvaluator.fitTemperature({ inspect in
                _ = StreamEvaluator.evaluate(model: r.model, ids: valid, eos: eos, B: B, T: T, inspect: inspect)
            }, vocab: V, pool: r.model.pool)
            let rep = CalibrationEvaluator.report({ inspect in
                _ = StreamEvaluator.evaluate(model: r.model, ids: stream.ids, eos: eos, B: B, T: T, inspect: inspect)
            }, name: URL(fileURLWithPath: file).lastPathComponent, temperature: T0, vocab: V, pool: r.model.pool)
            json += try reportCalibration(rep)
        }
        say(String(format: "context       %d tokens, stride %d; %.1f s", T, T, Date().timeIntervalSince(t0)))
        say(json + "}")
    }

    /// A text file (a TSV's text columns joined) as one token stream.
    static func stream(_ path: String, tokenizer: BPETokenizer, threads: Int) throws -> TokenStream {
        let text = try TextFile.lines(path)
        let tsv = TextFile.isTSV(path)
        let lines = text.map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 }
        let s = try TokenStream.encode(lines: lines, tokenizer: tokenizer, threads: threads)
        guard !s.ids.isEmpty else { throw TokenizerError.emptyCorpus([path]) }
        return s
    }

    /// Translation: teacher-forced NLL, perplexity and accuracy over the pairs, and calibration.
    func evaluateTranslation() throws {
        let r = try LoadedTranslationRun(runDirectory, threads: threads, checkpoint: checkpoint)
        let tok = r.tokenizer, pad = tok.id(of: .pad), eos = tok.id(of: .eos)
        let cols = columns.flatMap(parseColumns) ?? r.config.data.columns.map { ($0[0], $0[1]) }
        let text = try ParallelText.load(tsv: file, columns: cols)
        let data = try ParallelData.encode(text, tokenizer: tok, maxLength: r.config.model.maxLength, threads: threads)
        guard data.count > 0 else { throw CLIError("\(file) has no usable pairs") }
        let t0 = Date()
        let st = TranslationEvaluator.teacherForced(model: r.model, data: data, pad: pad, eos: eos, loss: LossOptions(smoothing: 0))
        let nll = st.nll / Double(st.count), acc = Double(st.correct) / Double(st.count)
        let words = data.targetText.reduce(0) { $0 + $1.split(separator: " ").count }
        say("file          \(file) (\(data.count) pairs\(data.skippedLong + data.skippedEmpty > 0 ? ", \(data.skippedEmpty) empty and \(data.skippedLong) over-long skipped" : ""))")
        say("tokens        \(st.count) target tokens (EOS included), \(words) target words")
        say(String(format: "token NLL     %.4f nats (teacher forcing)", nll))
        say(String(format: "perplexity    %.3f per token, %.3f per word", exp(nll), exp(st.nll / Double(max(1, words)))))
        say(String(format: "accuracy      %.2f%% (top-1 next target token)", acc * 100))
        var json = String(format: "{\"file\": %@, \"pairs\": %d, \"tokens\": %d, \"words\": %d, \"nll\": %.6f, \"ppl\": %.4f, \"word_ppl\": %.4f, \"accuracy\": %.6f",
                          jsonString(file), data.count, st.count, words, nll, exp(nll), exp(st.nll / Double(max(1, words))), acc)
        if !noCalibration {
            // The temperature is fitted on --temperature-from, else on the validation pairs the run trained with.
            let validText = try temperatureFrom.map { try ParallelText.load(tsv: $0, columns: cols) }
                ?? loadTranslationPairs(r.config.data, validFraction: r.config.train.validFraction).1
            let valid = try ParallelData.encode(validText, tokenizer: tok, maxLength: r.config.model.maxLength, threads: threads)
            let V = r.config.model.vocabSize
            let T0 = CalibrationEvaluator.fitTemperature({ inspect in
                _ = TranslationEvaluator.teacherForced(model: r.model, data: valid, pad: pad, eos: eos, loss: LossOptions(smoothing: 0), inspect: inspect)
            }, vocab: V, pool: r.model.pool)
            let rep = CalibrationEvaluator.report({ inspect in
                _ = TranslationEvaluator.teacherForced(model: r.model, data: data, pad: pad, eos: eos, loss: LossOptions(smoothing: 0), inspect: inspect)
            }, name: URL(fileURLWithPath: file).lastPathComponent, temperature: T0, vocab: V, pool: r.model.pool)
            json += try reportCalibration(rep)
        }
        say(String(format: "time          %.1f s", Date().timeIntervalSince(t0)))
        say(json + "}")
    }

    /// Prints the calibration lines, writes RUN/calibration.json and RUN/reliability.svg, and returns the
    /// JSON fields to append.
    func reportCalibration(_ rep: CalibrationReport) throws -> String {
        say(String(format: "confidence    %.2f%% mean top-1; entropy %.3f nats", rep.meanConfidence * 100, rep.entropy))
        say(String(format: "ECE           %.2f%% (15 bins), MCE %.2f%%", rep.ece * 100, rep.mce * 100))
        say(String(format: "temperature   T = %.3f fitted on validation NLL: NLL %.4f → %.4f, ECE %.2f%% → %.2f%%, MCE %.2f%% → %.2f%%",
                   rep.temperature, rep.nll, rep.nllScaled, rep.ece * 100, rep.eceScaled * 100, rep.mce * 100, rep.mceScaled * 100))
        say("bins          (lo, hi]  count  accuracy  confidence")
        for b in rep.bins where b.count > 0 {
            say(String(format: "              (%.3f, %.3f]  %d  %.4f  %.4f", b.lo, b.hi, b.count, b.accuracy, b.confidence))
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try enc.encode(rep), to: runDirectory + "/calibration.json")
        let title = URL(fileURLWithPath: runDirectory).lastPathComponent
        try writeAtomically(Data(ReliabilityDiagram.pair(rep, title: title).utf8), to: runDirectory + "/reliability.svg")
        printErr("wrote \(runDirectory)/calibration.json and \(runDirectory)/reliability.svg")
        let bins = String(decoding: try JSONEncoder().encode(rep.bins), as: UTF8.self)
        return String(format: ", \"confidence\": %.6f, \"entropy\": %.6f, \"ece\": %.6f, \"mce\": %.6f, \"temperature\": %.4f, \"nll_scaled\": %.6f, \"ece_scaled\": %.6f, \"mce_scaled\": %.6f, \"bins\": %@",
                      rep.meanConfidence, rep.entropy, rep.ece, rep.mce, rep.temperature, rep.nllScaled, rep.eceScaled, rep.mceScaled, bins)
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a trained language model (greedy, or sampling with temperature, top-k, top-p).")

    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Option(help: "Text to continue.") var prompt: String = ""
    @Option(help: "Tokens to generate at most (stops at <eos>).") var maxTokens: Int = 100
    @Flag(help: "Always take the most likely token.") var greedy = false
    @Option var temperature: Float = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK: Int = 0
    @Option(help: "Sample from the smallest set of tokens whose probability reaches p.") var topP: Float = 0.95
    @Option var seed: UInt64 = 1
    @Option(help: "Beam search with this many hypotheses instead of sampling (length penalty α = 1).") var beam: Int?
    @Option(help: "With --beam: print this many best continuations, each with its scores.") var nbest: Int = 1
    @Option(help: "Weights file to use instead of RUN/model.safetensors (e.g. from `lmtrain average`).") var checkpoint: String?
    @Option var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let beam, beam < 1 { throw ValidationError("--beam must be at least 1") }
        if nbest < 1 || nbest > (beam ?? 1) { throw ValidationError("--nbest must be between 1 and --beam") }
        if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if temperature < 0 { throw ValidationError("--temperature must not be negative") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if topK < 0 { throw ValidationError("--top-k must not be negative") }
    }

    func run() throws {
        let r = try LoadedRun(runDirectory, threads: threads, checkpoint: checkpoint)
        let gen = Generator(model: r.model)
        var sampler = Sampler(temperature: temperature, topK: topK, topP: topP, greedy: greedy, seed: seed)
        let eos = r.tokenizer.id(of: .eos)
        let promptIds = [eos] + (try r.tokenizer.encode(prompt))
        var out: [Int32] = []
        let banned: Set<Int32> = [r.tokenizer.id(of: .pad), r.tokenizer.id(of: .bos), r.tokenizer.id(of: .unk)]
        if let beam {
            // Beam search over the model's key/value cache; the prompt and the continuation must fit the context.
            let context = Array(promptIds.suffix(r.config.model.context - 1))
            var scorer = GPTScorer(model: r.model, prompt: context, beam: beam)
            var o = BeamOptions(eos: eos)
            o.beam = beam; o.nbest = nbest; o.banned = banned
            o.maxLength = min(maxTokens, r.config.model.context - context.count)
            for h in beamSearch(&scorer, options: o) {
                let text = try r.tokenizer.decode(h.tokens)
                say(nbest > 1 ? String(format: "%.4f\t%.4f\t%@%@", h.score, h.logProb, prompt, text) : prompt + text)
            }
            return
        }
        print(prompt, terminator: "")
        var printed = ""
        try gen.generate(prompt: promptIds, maxTokens: maxTokens) { logits in
            let id = sampler.pick(logits, vocab: r.config.model.vocabSize, banned: banned)
            if id == eos { return nil }
            out.append(id)
            // Print the text as it grows (decoding whole so multi-byte characters come out whole).
            let text = try r.tokenizer.decode(out)
            if text.hasPrefix(printed) { print(text.dropFirst(printed.count), terminator: ""); fflush(stdout) }
            printed = text
            return id
        }
        print("")
    }
}
