import ArgumentParser
import Datasets
import Evaluation
import FileIO
import Foundation
import Kernels
import Model
import Runs
import Tokenizer

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

    @OptionGroup var runOptions: RunOptions
    @Argument(help: "Text file (language model) or TSV of pairs (translation model) to evaluate.") var file: String
    @Option(help: "Translation: source and target columns of the TSV, 1-based (default: as in training).", transform: ColumnPair.parse)
    var columns: ColumnPair?
    @Option(help: "Fit the temperature on this file instead of the run's validation data.") var temperatureFrom: String?
    @Flag(help: "Skip calibration (no temperature fit, no diagrams).") var noCalibration = false
    @Option(help: ArgumentHelp("Also write each target token's probability, top-1 confidence and top-1 correctness (JSON lines) to this file.",
                               discussion: "Translation: one line per pair, {\"pair\": index among the file's non-empty pairs, \"ids\", \"p\", \"confidence\", \"correct\"}; targets end in <eos>. Language model: one line per context window of the evaluated stream, {\"window\": index, …}. For confidence intervals by resampling sentences or windows, and for scoring a model's own translations (inference calibration)."))
    var tokens: String?
    @Option var batchSize: Int = 16
    @OptionGroup var threading: ThreadsOption

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let tokens {
            let dir = (tokens as NSString).deletingLastPathComponent
            if access(dir.isEmpty ? "." : dir, W_OK) != 0 { throw ValidationError("--tokens \(tokens): cannot write to \(dir.isEmpty ? "." : dir)") }
        }
    }

    var runDirectory: String { runOptions.runDirectory }

    /// The last line of `eval`: the measures of the file, then its calibration.
    struct Result: Encodable {
        var file: String
        var pairs: Int?
        var tokens: Int, words: Int
        var bytes: Int?
        var nll: Double, ppl: Double, wordPpl: Double
        var bitsPerByte: Double?
        var accuracy: Double
        var context: Int?, stride: Int?
        var confidence: Double?, entropy: Double?, ece: Double?, mce: Double?, temperature: Double?
        var nllScaled: Double?, eceScaled: Double?, mceScaled: Double?
        var bins: [ReliabilityBin]?
    }

    /// What calibration needs of a model: forward passes over the evaluated file and over the data the
    /// temperature is fitted on, showing every block of logits.
    struct Passes {
        let test: EvaluationPass, fit: EvaluationPass
        let vocab: Int, pool: ThreadPool
    }

    func run() throws {
        let t0 = Date()
        let task = try Run.task(of: runDirectory)
        var (result, passes) = task == .lm ? try languageModel() : try translation()
        if !noCalibration {
            let T0 = CalibrationEvaluator.fitTemperature(passes.fit, vocab: passes.vocab, pool: passes.pool)
            let rep = CalibrationEvaluator.report(passes.test, name: URL(fileURLWithPath: file).lastPathComponent, temperature: T0,
                                                  vocab: passes.vocab, pool: passes.pool)
            try report(rep)
            result.confidence = rep.meanConfidence; result.entropy = rep.entropy; result.ece = rep.ece; result.mce = rep.mce
            result.temperature = rep.temperature; result.nllScaled = rep.nllScaled; result.eceScaled = rep.eceScaled
            result.mceScaled = rep.mceScaled; result.bins = rep.bins
        }
        say(String(format: "time          %.1f s", Date().timeIntervalSince(t0)))
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        say(String(decoding: try enc.encode(result), as: UTF8.self))
    }

    /// Language model: the file as one token stream in windows of the context.
    func languageModel() throws -> (Result, Passes) {
        let r = try LoadedRun<GPT>(directory: runDirectory, threads: threading.threads, checkpoint: runOptions.checkpoint)
        let stream = try Self.stream(file, tokenizer: r.tokenizer, threads: threading.threads)
        let T = r.model.config.context, eos = r.tokenizer.id(of: .eos), B = batchSize, model = r.model
        let st = StreamEvaluator.evaluate(model: model, ids: stream.ids, eos: eos, B: B, T: T)
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
        say("context       \(T) tokens, stride \(T)")
        let result = Result(file: file, tokens: st.count, words: stream.words, bytes: stream.bytes, nll: nll, ppl: exp(nll),
                            wordPpl: perWord, bitsPerByte: bpb, accuracy: acc, context: T, stride: T)
        if let tokens {
            let scores = StreamEvaluator.tokenScores(model: model, ids: stream.ids, eos: eos, B: B, T: T)
            try writeAtomically(Data(scores.enumerated().map { Self.tokenLine("window", $0.offset, $0.element) }.joined().utf8), to: tokens)
            printErr("wrote \(tokens) (\(scores.count) windows of \(T) tokens)")
        }
        let fitIds = noCalibration ? [] : try temperatureFrom.map { try Self.stream($0, tokenizer: r.tokenizer, threads: threading.threads).ids }
            ?? r.run.validationTokens(tokenizer: r.tokenizer, threads: threading.threads)
        let ids = stream.ids
        return (result, Passes(test: { _ = StreamEvaluator.evaluate(model: model, ids: ids, eos: eos, B: B, T: T, inspect: $0) },
                               fit: { _ = StreamEvaluator.evaluate(model: model, ids: fitIds, eos: eos, B: B, T: T, inspect: $0) },
                               vocab: model.config.vocabSize, pool: model.pool))
    }

    /// One line of the --tokens dump: the unit's index under `key`, then its tokens' scores.
    static func tokenLine(_ key: String, _ index: Int, _ s: TokenScores) -> String {
        let f = { (x: [Float]) in x.map { String(format: "%.6g", $0) }.joined(separator: ",") }
        return "{\"\(key)\":\(index),\"ids\":[\(s.ids.map(String.init).joined(separator: ","))],\"p\":[\(f(s.probability))],"
            + "\"confidence\":[\(f(s.confidence))],\"correct\":[\(s.correct.map { $0 ? "1" : "0" }.joined(separator: ","))]}\n"
    }

    /// A text file (a TSV's text columns joined) as one token stream.
    static func stream(_ path: String, tokenizer: BPETokenizer, threads: Int) throws -> TokenStream {
        let s = try TokenStream.encode(lines: try Documents.lines(of: path), tokenizer: tokenizer, threads: threads)
        guard !s.ids.isEmpty else { throw TokenizerError.emptyCorpus([path]) }
        return s
    }

    /// Translation: teacher-forced NLL, perplexity and accuracy over the pairs.
    func translation() throws -> (Result, Passes) {
        let r = try LoadedRun<Seq2Seq>(directory: runDirectory, threads: threading.threads, checkpoint: runOptions.checkpoint)
        let tok = r.tokenizer, pad = tok.id(of: .pad), eos = tok.id(of: .eos), model = r.model
        let cols = columns?.pair ?? r.run.data.columnPair
        let maxLength = model.config.maxLength
        let data = try ParallelData.encode(try ParallelText.load(tsv: file, columns: cols), tokenizer: tok, maxLength: maxLength,
                                           threads: threading.threads)
        guard data.count > 0 else { throw CLIError("\(file) has no usable pairs") }
        let plain = LossOptions(smoothing: 0)
        let st = TranslationEvaluator.teacherForced(model: model, data: data, pad: pad, eos: eos, loss: plain)
        let nll = st.nll / Double(st.count), acc = Double(st.correct) / Double(st.count)
        let words = data.targetText.reduce(0) { $0 + $1.split(separator: " ").count }
        say("file          \(file) (\(data.count) pairs\(data.skippedLong + data.skippedEmpty > 0 ? ", \(data.skippedEmpty) empty and \(data.skippedLong) over-long skipped" : ""))")
        say("tokens        \(st.count) target tokens (EOS included), \(words) target words")
        say(String(format: "token NLL     %.4f nats (teacher forcing)", nll))
        say(String(format: "perplexity    %.3f per token, %.3f per word", exp(nll), exp(st.nll / Double(max(1, words)))))
        say(String(format: "accuracy      %.2f%% (top-1 next target token)", acc * 100))
        let result = Result(file: file, pairs: data.count, tokens: st.count, words: words, nll: nll, ppl: exp(nll),
                            wordPpl: exp(st.nll / Double(max(1, words))), accuracy: acc)
        if let tokens {
            let scores = TranslationEvaluator.tokenScores(model: model, data: data, pad: pad, eos: eos)
            let text = scores.enumerated().map { Self.tokenLine("pair", data.origins[$0.offset], $0.element) }.joined()
            try writeAtomically(Data(text.utf8), to: tokens)
            printErr("wrote \(tokens) (\(scores.count) pairs)")
        }
        // The temperature is fitted on --temperature-from, else on the validation pairs the run trained with.
        var fit = ParallelData()
        if !noCalibration {
            let validText = try temperatureFrom.map { try ParallelText.load(tsv: $0, columns: cols) } ?? r.run.pairSplit().valid
            fit = try ParallelData.encode(validText, tokenizer: tok, maxLength: maxLength, threads: threading.threads)
        }
        return (result, Passes(test: { _ = TranslationEvaluator.teacherForced(model: model, data: data, pad: pad, eos: eos, loss: plain, inspect: $0) },
                               fit: { [fit] in _ = TranslationEvaluator.teacherForced(model: model, data: fit, pad: pad, eos: eos, loss: plain, inspect: $0) },
                               vocab: model.config.vocabSize, pool: model.pool))
    }

    /// Prints the calibration lines and writes RUN/calibration.json and RUN/reliability.svg.
    func report(_ rep: CalibrationReport) throws {
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
        let paths = RunPaths(runDirectory)
        try writeAtomically(try enc.encode(rep), to: paths.calibration)
        let title = URL(fileURLWithPath: runDirectory).lastPathComponent
        try writeAtomically(Data(ReliabilityDiagram.pair(rep, title: title).utf8), to: paths.reliabilityDiagram)
        printErr("wrote \(paths.calibration) and \(paths.reliabilityDiagram)")
    }
}
