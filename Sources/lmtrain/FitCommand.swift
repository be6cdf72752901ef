import ArgumentParser
import Foundation
import Kernels
import Model
import Tokenizer
import Training

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Train a language model (text file) or a translation model (parallel text), with label smoothing.",
        discussion: """
        Writes RUN/config.json, RUN/tokenizer.json, RUN/metrics.jsonl and checkpoints (RUN/model.safetensors, \
        RUN/optimizer.safetensors). Ctrl-C saves a checkpoint and stops; `lmtrain fit --resume RUN` continues.
        """)

    @Argument(help: "Training text (UTF-8, one document per line; .tsv: text columns).") var corpus: String?
    @Option(help: "Validation text (or pairs); without it the last 2% of the corpus's lines are held out.") var valid: String?
    @Option(help: ArgumentHelp("lm or translate.", discussion: "Without it, a .tsv corpus or --source/--target means translate, other text lm."))
    var task: String?
    @Option(help: "Translation: the source and target columns of a TSV corpus, 1-based (default 1,2 of two columns; 2,3 of three).")
    var columns: String?
    @Option(help: "Translation: source side of two line-aligned files (with --target).") var source: String?
    @Option(help: "Translation: target side of two line-aligned files.") var target: String?
    @Option(help: "Translation: validation source file (with --valid-target).") var validSource: String?
    @Option(help: "Translation: validation target file.") var validTarget: String?
    @Option(help: "Translation: padded tokens per batch (sentences × the longer padded side).") var batchTokens: Int = 4096
    @Option(help: "Translation: longest source or target kept, in tokens (longer pairs are skipped and counted).") var maxLength: Int?
    @Option(help: "Translation: validation sentences translated (greedy) for BLEU at each validation.") var bleuSentences: Int = 200
    @Option(help: "Run directory.") var output: String = "runs/lm"
    @Option(help: ArgumentHelp("Continue the run in this directory from its last checkpoint.",
                               discussion: "The run's saved options are used (other training options are ignored, except --threads); a --time budget counts the time already spent."))
    var resume: String?
    @Option(help: "Tokenizer file to use; without it one is trained on the corpus.") var tokenizer: String?
    @Option(help: "Model preset: tiny, small or base.") var preset: String = "small"
    @Option(help: "Vocabulary size of the tokenizer trained when none is given.") var vocabSize: Int = 8000
    @Option var dModel: Int?
    @Option var layers: Int?
    @Option var heads: Int?
    @Option(help: "Context length (tokens per window).") var context: Int?
    @Option var dropout: Float?
    @Option(help: "Optimizer steps.") var steps: Int?
    @Option(help: "Wall-clock budget instead of steps, e.g. 10m, 1h30m, 90s.") var time: String?
    @Option var batchSize: Int = 16
    @Option(help: "Micro-batches per optimizer step.") var gradAccum: Int = 1
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Warm-up steps.") var warmup: Int = 100
    @Option var weightDecay: Float = 0.1
    @Option(help: "Clip the global gradient norm to this (0: off).") var clip: Float = 1.0
    @Option(help: "Label smoothing ε.") var smoothing: Float = 0.1
    @Option(help: "uniform (PyTorch), fairseq, or unigram (ε spread by token frequency).") var smoothingStyle: String = "uniform"
    @Option var evalEvery: Int = 200
    @Option var checkpointEvery: Int = 500
    @Option(help: "Also keep the weights of the last N checkpoints in RUN/checkpoints (for `lmtrain average`).") var keepCheckpoints: Int = 0
    @Option var logEvery: Int = 10
    @Option var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: ArgumentHelp("Matrix products in fp32, or bf16: operands rounded to bfloat16, sums in FP32 (AMX-BF16 CPUs).",
                               discussion: "Like PyTorch's fp32 matmul precision 'bf16': weights, activations and the optimizer stay FP32. With --resume, the run's own unless given."))
    var matmulPrecision: MatmulPrecision?
    @Option var seed: UInt64 = 1337

    func validate() throws {
        if resume == nil && corpus == nil && source == nil { throw ValidationError("give a corpus to train on, or --resume RUN") }
        if let task, !["lm", "translate"].contains(task) { throw ValidationError("--task must be lm or translate") }
        if (source == nil) != (target == nil) { throw ValidationError("--source and --target go together (two line-aligned files)") }
        if (validSource == nil) != (validTarget == nil) { throw ValidationError("--valid-source and --valid-target go together") }
        if source != nil && corpus != nil { throw ValidationError("give either a TSV corpus or --source/--target, not both") }
        if let columns, parseColumns(columns) == nil { throw ValidationError("--columns '\(columns)' is not two different column numbers such as 2,3") }
        if batchTokens < 16 { throw ValidationError("--batch-tokens must be at least 16") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
        if let time, parseDuration(time) == nil { throw ValidationError("--time '\(time)' is not a duration such as 10m, 1h30m or 90s") }
        if GPTConfig.Preset(rawValue: preset) == nil { throw ValidationError("--preset must be tiny, small or base") }
        if vocabSize < 300 { throw ValidationError("--vocab-size must be at least 300") }
        if keepCheckpoints < 0 { throw ValidationError("--keep-checkpoints must be 0 (none) or more") }
        if evalEvery < 1 || checkpointEvery < 1 || logEvery < 1 { throw ValidationError("--eval-every, --checkpoint-every and --log-every must be at least 1") }
    }

    /// The task of this invocation: the run's own when resuming, else --task, else inferred from the data.
    func resolvedTask() throws -> String {
        if let resume { return try RunKind.of(run: resume) }
        if let task { return task }
        if source != nil { return "translate" }
        if let corpus, TextFile.isTSV(corpus) {
            _ = try TextFile.bytes(corpus)
            let n = try ParallelText.columnCount(tsv: corpus)
            if ParallelText.defaultColumns(count: n) != nil || columns != nil { return "translate" }
        }
        return "lm"
    }

    func run() throws {
        installInterruptHandler()
        if try resolvedTask() == "translate" { return try runTranslation() }
        let runDir: String
        var config: RunConfig
        let tok: BPETokenizer
        if let resume {
            runDir = resume
            config = try RunConfig.load(run: runDir)
            config.train.threads = threads
            if let matmulPrecision { config.train.matmulPrecision = matmulPrecision.rawValue }
            if let p = config.train.precisionProblem { throw ValidationError(p) }
            tok = try TokenizerFile.load(runDir + "/" + config.tokenizer)
            guard tok.vocabularySize == config.model.vocabSize else {
                throw TrainingError.vocabularyMismatch(tokenizer: tok.vocabularySize, model: config.model.vocabSize)
            }
            printErr("resuming \(runDir)")
        } else {
            runDir = output
            let corpusPath = URL(fileURLWithPath: corpus!).standardizedFileURL.path
            _ = try TextFile.bytes(corpusPath)   // missing file, directory, permissions: clear errors first
            if let valid { _ = try TextFile.bytes(valid) }
            // Check the model's shape before spending time on a tokenizer (the vocabulary is filled in after).
            if let p = modelConfig(vocabSize: vocabSize).problem { throw ValidationError(p) }
            // Never train over an earlier run: its model would be lost.
            if FileManager.default.fileExists(atPath: runDir + "/config.json") {
                throw CLIError("\(runDir) already holds a run: continue it with `lmtrain fit --resume \(runDir)`, or choose another --output")
            }
            try prepareDirectory(runDir)
            tok = try obtainTokenizer(corpus: corpusPath, runDir: runDir)
            var opts = TrainOptions()
            opts.steps = steps ?? (time == nil ? 2000 : nil)
            opts.timeBudget = time.flatMap(parseDuration)
            opts.batchSize = batchSize; opts.gradAccum = gradAccum; opts.lr = lr; opts.warmup = warmup
            opts.weightDecay = weightDecay; opts.clip = clip; opts.smoothing = smoothing; opts.smoothingStyle = smoothingStyle
            opts.seed = seed; opts.logEvery = logEvery; opts.evalEvery = evalEvery; opts.checkpointEvery = checkpointEvery
            opts.keepCheckpoints = keepCheckpoints > 0 ? keepCheckpoints : nil
            opts.threads = threads
            opts.matmulPrecision = matmulPrecision?.rawValue
            if let p = opts.problem { throw ValidationError(p) }
            let model = modelConfig(vocabSize: tok.vocabularySize)
            config = RunConfig(model: model, train: opts, corpus: corpusPath,
                               valid: valid.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        }
        let opts = config.train
        // Data: token ids cached in RUN/data.
        let cacheDir = runDir + "/data"
        try? FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        let key = contentKey(runDir + "/" + config.tokenizer)
        let (train, valid) = try loadData(config: config, tokenizer: tok, key: key, cacheDir: cacheDir)
        let T = config.model.context
        guard train.count > T + 1 else {
            throw TrainingError.corpusTooSmall(file: config.corpus, tokens: train.count, needed: T + 2)
        }
        var prior: [Float]? = nil
        if opts.smoothingStyle == "unigram" {
            // Unigram frequencies of the training tokens, add-one smoothed so every token keeps some mass.
            var counts = [Double](repeating: 1, count: config.model.vocabSize)
            for id in train { counts[Int(id)] += 1 }
            let total = counts.reduce(0, +)
            prior = counts.map { Float($0 / total) }
        }
        let model = GPT(config: config.model, pool: ThreadPool(threads: opts.threads, matmulPrecision: opts.precision))
        let trainer = try Trainer(model: model, options: opts, run: runDir, train: train, valid: valid,
                                  eos: tok.id(of: .eos), prior: prior, resume: resume != nil)
        // Only now is this a run (a failure above leaves no config.json, so the directory stays usable).
        if resume == nil { try config.save(run: runDir) }
        let params = config.model.parameterCount
        printErr("model: \(params.formatted()) parameters (d \(config.model.dModel), \(config.model.layers) layers, \(config.model.heads) heads, context \(T), vocabulary \(config.model.vocabSize)); data: \(train.count.formatted()) training / \(valid.count.formatted()) validation tokens; ε = \(opts.smoothing) (\(opts.smoothingStyle))")
        let budgetText = opts.timeBudget.map { "time budget \(formatDuration($0))" } ?? "\(opts.steps!) steps"
        printErr("training for \(budgetText), batch \(opts.batchSize)×\(T) tokens × \(opts.gradAccum), \(opts.threads) threads\(opts.precision == .bf16 ? ", bf16 matrix products" : "") → \(runDir)")
        try trainWithProgress(trainer, runDir: runDir)
    }
}

/// "2,3" → (2, 3).
func parseColumns(_ s: String) -> (Int, Int)? {
    let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 1, b >= 1, a != b else { return nil }
    return (a, b)
}

extension FitCommand {
    /// Runs the trainer with a progress bar (a plain line per log step when stderr is not a terminal), then
    /// writes the curves and says where the run is.
    func trainWithProgress(_ trainer: Trainer, runDir: String) throws {
        var bar = ProgressBar("train", total: trainer.state.totalSteps ?? 1, unit: "steps", done: trainer.state.step)
        var lastValid = ""
        var finalReport: ValidationReport? = nil
        let outcome = try trainer.run(shouldStop: { stopRequested != 0 }) { event in
            switch event {
            case .step(let r):
                // With only a time budget the length is unknown for the first 10 steps: say so, no bar yet.
                if r.totalSteps == nil {
                    printErr(String(format: "train: step %d, loss %.3f nll %.3f (measuring speed to fix the schedule)", r.step, r.loss, r.nll))
                    return
                }
                let tps = r.tokensPerSecond >= 1000 ? String(format: "%.1fk", r.tokensPerSecond / 1000) : String(format: "%.0f", r.tokensPerSecond)
                bar.update(r.step, status: String(format: "loss %.3f nll %.3f lr %.2e %@ tok/s%@", r.loss, r.nll, r.lr, tps, lastValid),
                           force: r.step == r.totalSteps)
            case .validation(let v):
                finalReport = v
                lastValid = String(format: " | valid ppl %.2f acc %.1f%%", v.perplexity, v.accuracy * 100) + (v.extra["bleu"].map { String(format: " BLEU %.1f", $0) } ?? "")
            case .checkpoint:
                break
            case .scheduleFixed(let total):
                bar = ProgressBar("train", total: total, unit: "steps", done: trainer.state.step)
            }
        }
        let final = finalReport ?? trainer.validate()
        bar.finish(String(format: "%@ at step %d: valid nll %.4f, perplexity %.2f, accuracy %.1f%%",
                          outcome == .interrupted ? "interrupted" : "done", trainer.state.step, final.nll, final.perplexity, final.accuracy * 100)
                   + (final.extra["bleu"].map { String(format: ", greedy BLEU %.2f (first %d validation pairs)", $0, bleuSentences) } ?? ""))
        try writeCurves(run: runDir, to: runDir + "/curves.svg")
        printErr(outcome == .interrupted ? "checkpoint saved; continue with: lmtrain fit --resume \(runDir)" : "saved \(runDir)/model.safetensors and curves.svg")
    }

    /// The preset with the command line's overrides.
    func modelConfig(vocabSize: Int) -> GPTConfig {
        var model = GPTConfig.preset(GPTConfig.Preset(rawValue: preset)!, vocabSize: vocabSize)
        if let dModel { model.dModel = dModel }
        if let layers { model.layers = layers }
        if let heads { model.heads = heads }
        if let context { model.context = context }
        if let dropout { model.dropout = dropout }
        return model
    }

    func obtainTokenizer(corpus: String, runDir: String) throws -> BPETokenizer {
        try obtainTokenizer(corpora: [corpus], runDir: runDir)
    }

    /// The --tokenizer given (copied into the run), or one trained on the text of `corpora` (a joint
    /// vocabulary when there are several, e.g. both sides of a parallel corpus).
    func obtainTokenizer(corpora: [String], runDir: String) throws -> BPETokenizer {
        let dest = runDir + "/tokenizer.json"
        if let tokenizer {
            let tok = try TokenizerFile.load(tokenizer)
            try TokenizerFile.save(tok, to: dest)
            return tok
        }
        var lines: [String] = []
        for corpus in corpora {
            let tsv = TextFile.isTSV(corpus)
            for l in try TextFile.lines(corpus) { for f in TextFile.textFields(of: l, isTSV: tsv) where !f.isEmpty { lines.append(String(f)) } }
        }
        if !lines.contains(where: { !$0.allSatisfy(\.isWhitespace) }) { throw TokenizerError.emptyCorpus(corpora) }
        var o = BPETrainingOptions(vocabularySize: vocabSize)
        o.threads = threads
        let bar = ProgressBar("tokenizer", total: vocabSize, unit: "merges")
        let tok = try BPETrainer.train(lines: lines, options: o) { p in
            if case .merging(let done, _, _, _) = p { bar.update(done) }
        }
        bar.finish("\(tok.vocabularySize) tokens")
        try TokenizerFile.save(tok, to: dest)
        return tok
    }

    func loadData(config: RunConfig, tokenizer tok: BPETokenizer, key: String, cacheDir: String) throws -> ([Int32], [Int32]) {
        if let v = config.valid {
            let train = try TokenStream.load(file: config.corpus, tokenizer: tok, tokenizerKey: key, threads: config.train.threads, cacheDir: cacheDir)
            let valid = try TokenStream.load(file: v, tokenizer: tok, tokenizerKey: key, threads: config.train.threads, cacheDir: cacheDir)
            return (train.ids, valid.ids)
        }
        // Hold out the last lines (whole documents) of the corpus.
        let all = try TextFile.lines(config.corpus)
        let tsv = TextFile.isTSV(config.corpus)
        let lines = all.map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 }
        let held = max(1, Int(Double(lines.count) * config.train.validFraction))
        guard lines.count > held else {
            throw TrainingError.invalidOption("\(config.corpus) has \(lines.count) line(s): too few to hold out validation lines and still train (use more text, or pass --valid FILE)")
        }
        let train = try TokenStream.encode(lines: Array(lines.dropLast(held)), tokenizer: tok, threads: config.train.threads)
        let valid = try TokenStream.encode(lines: Array(lines.suffix(held)), tokenizer: tok, threads: config.train.threads)
        return (train.ids, valid.ids)
    }
}
