import ArgumentParser
import Datasets
import Decoding
import FileIO
import Foundation
import Kernels
import Model
import Runs
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
    var task: RunTask?
    @Option(help: "Translation: the source and target columns of a TSV corpus, 1-based (default 1,2 of two columns; 2,3 of three).",
            transform: ColumnPair.parse)
    var columns: ColumnPair?
    @Option(help: "Translation: source side of two line-aligned files (with --target).") var source: String?
    @Option(help: "Translation: target side of two line-aligned files.") var target: String?
    @Option(help: "Translation: validation source file (with --valid-target).") var validSource: String?
    @Option(help: "Translation: validation target file.") var validTarget: String?
    @Option(help: "Translation: padded tokens per batch (sentences × the longer padded side).") var batchTokens: Int = 1024
    @Option(help: "Translation: longest source or target kept, in tokens (longer pairs are skipped and counted).") var maxLength: Int?
    @Option(help: "Translation: validation sentences translated (greedy) for BLEU at each validation.") var bleuSentences: Int = 200
    @Option(help: "Run directory.") var output: String = "runs/lm"
    @Option(help: ArgumentHelp("Continue the run in this directory from its last checkpoint.",
                               discussion: "The run keeps the options it began with; only --steps and --time (a new budget, which counts the time already spent), --threads and --matmul-precision may be given with it."))
    var resume: String?
    @Option(help: "Tokenizer file to use; without it one is trained on the corpus.") var tokenizer: String?
    @Option(help: "Model preset: tiny, small or base.") var preset: GPTConfig.Preset = .small
    @Option(help: "Vocabulary size of the tokenizer trained when none is given.") var vocabSize: Int = 8000
    @Option var dModel: Int?
    @Option(help: "Layers (translation: of both stacks, unless --encoder-layers/--decoder-layers say otherwise).") var layers: Int?
    @Option(help: "Translation: encoder layers.") var encoderLayers: Int?
    @Option(help: "Translation: decoder layers.") var decoderLayers: Int?
    @Option var heads: Int?
    @Option(help: "Context length (tokens per window).") var context: Int?
    @Option var dropout: Float?
    @Option(help: "Optimizer steps (default 2000 without --time).") var steps: Int?
    @Option(help: ArgumentHelp("Wall-clock budget instead of steps, e.g. 10m, 1h30m, 90s.",
                               discussion: "It covers the whole run (tokenizer, data, validations, checkpoints); the learning rate decays over the time, not over steps, so the run ends at its budget however the machine's speed changes."),
            transform: Duration.parse) var time: Duration?
    @Option var batchSize: Int = 16
    @Option(help: "Micro-batches per optimizer step.") var gradAccum: Int = 1
    @Option(help: "Peak learning rate (default 1e-3).") var lr: Float?
    @Option(help: "Warm-up steps (default: lm 100, translate 450; at most a tenth of the budget).") var warmup: Int?
    @Option var weightDecay: Float = 0.1
    @Option(help: "Clip the global gradient norm to this (0: off).") var clip: Float = 1.0
    @Option(help: "Label smoothing ε.") var smoothing: Float = 0.1
    @Option(help: ArgumentHelp("Translation: BPE-dropout probability (Provilkov et al. 2020; 0.1 is usual): training text is re-segmented each epoch, dropping each merge with this probability.",
                               discussion: "Validation, BLEU and decoding keep the deterministic segmentation."))
    var bpeDropout: Float = 0
    @Option(help: "uniform (PyTorch), fairseq, or unigram (ε spread by token frequency).") var smoothingStyle: LabelSmoothingStyle = .uniform
    @Option(help: "Validate every N steps (default: lm 200, translate 1000).") var evalEvery: Int?
    @Option var checkpointEvery: Int = 500
    @Option(help: "Also keep the weights of the last N checkpoints in RUN/checkpoints (for `lmtrain average`).") var keepCheckpoints: Int = 0
    @Option var logEvery: Int = 10
    @OptionGroup var threading: ThreadsOption
    @Option(help: ArgumentHelp("Matrix products in fp32, or bf16: operands rounded to bfloat16, sums in FP32 (CPUs with AVX512-BF16 or AMX-BF16). Default: translate bf16 where the CPU has it, else fp32; lm fp32.",
                               discussion: "Like PyTorch's fp32 matmul precision 'bf16': weights, activations and the optimizer stay FP32. With --resume, the run's own unless given."))
    var matmulPrecision: MatmulPrecision?
    @Option var seed: UInt64 = 1337
    @Option(help: ArgumentHelp("Stop when the best metric has not improved for N validations in a row (default: never).",
                               discussion: "Whatever the patience, RUN/model.best.safetensors keeps the weights of the best validation; translate, eval and generate take them with --checkpoint best."))
    var patience: Int?
    @Option(help: "What the best validation is: nll (lower is better; default) or bleu (translation: greedy BLEU of the --bleu-sentences pairs).")
    var bestMetric: BestMetric?

    /// What `--resume` may be given with: a new budget, and how to run (not what to train).
    static let resumeOptions: Set<String> = ["--resume", "--steps", "--time", "--threads", "--matmul-precision"]

    func validate() throws {
        if resume == nil && corpus == nil && source == nil { throw ValidationError("give a corpus to train on, or --resume RUN") }
        if resume != nil {
            // Option values carry no "was given" flag, so read the command line: a changed model, data or
            // recipe on resume used to be ignored without a word.
            if corpus != nil { throw ValidationError("--resume continues a run on its own data: give no corpus with it") }
            let given = CommandLine.arguments.dropFirst().filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=")[0]) }
            if let fixed = given.first(where: { !Self.resumeOptions.contains($0) }) {
                throw ValidationError("\(fixed) cannot change when resuming: the run keeps the options it began with (with --resume give only --steps, --time, --threads or --matmul-precision); to train with other options, start a new run")
            }
        }
        if (source == nil) != (target == nil) { throw ValidationError("--source and --target go together (two line-aligned files)") }
        if (validSource == nil) != (validTarget == nil) { throw ValidationError("--valid-source and --valid-target go together") }
        if source != nil && corpus != nil { throw ValidationError("give either a TSV corpus or --source/--target, not both") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
        if vocabSize < 300 { throw ValidationError("--vocab-size must be at least 300") }
        if (encoderLayers != nil || decoderLayers != nil), (try? inferredTask()) == .lm {
            throw ValidationError("--encoder-layers and --decoder-layers are for translation; a language model takes --layers")
        }
        if let p = matmulPrecision?.unavailableReason { throw ValidationError(p) }
        if bestMetric == .bleu && bleuSentences == 0 { throw ValidationError("--best-metric bleu needs validation BLEU: give --bleu-sentences more than 0") }
        if resume == nil, let p = newRun(vocabSize: vocabSize, task: try inferredTask()).problem {
            throw ValidationError(p)
        }
    }

    func run() throws {
        installInterruptHandler()
        let metrics: TrainingSession.MetricsFactory = { tok, data in
            // A tokenizer copy cannot fail for a loaded tokenizer; without one, validation logs no BLEU.
            (try? greedyValidationBLEU(tokenizer: tok, sentences: data.bleuSentences)) ?? { _, _ in [:] }
        }
        var tokenizerBar: ProgressBar? = nil
        var encodingBar: (file: String, bar: ProgressBar)? = nil
        let onEvent: (SessionEvent) -> Void = { e in
            switch e {
            case .encodingProgress(let file, let done, let total):
                // Only a language model's corpus files are tokenised into the id cache, once per content.
                let mb = { (b: Int) in b / 1_000_000 }
                if encodingBar?.file != file {
                    encodingBar = (file, ProgressBar("ids of \((file as NSString).lastPathComponent)", total: max(1, mb(total)), unit: "MB"))
                }
                encodingBar!.bar.update(mb(done))
                if done >= total { encodingBar!.bar.finish(String(format: "%.1f MB tokenised into the id cache", Double(total) / 1e6)) }
            case .tokenizerProgress(let done, let total):
                if tokenizerBar == nil { tokenizerBar = ProgressBar("tokenizer", total: total, unit: "merges") }
                tokenizerBar!.update(done)
            case .tokenizerTrained(let v): (tokenizerBar ?? ProgressBar("tokenizer", total: v, unit: "merges")).finish("\(v) tokens")
            case .note(let s): printErr(s)
            }
        }
        let session: TrainingSession
        if let resume {
            session = try TrainingSession.resume(directory: resume, threads: threading.threads, matmulPrecision: matmulPrecision,
                                                 budget: .init(steps: steps, time: time?.seconds),
                                                 validationMetrics: metrics, onEvent: onEvent)
        } else {
            let run = newRun(vocabSize: vocabSize, task: try inferredTask())
            session = try TrainingSession.create(run: run, directory: output, tokenizer: tokenizer.map { .file($0) } ?? .train(vocabSize: vocabSize),
                                                 validationMetrics: metrics, onEvent: onEvent)
        }
        let opts = session.run.train
        printErr("model: \(session.modelSummary); data: \(session.dataSummary); ε = \(opts.smoothing) (\(opts.smoothingStyle.rawValue))")
        let budget = opts.timeBudget.map { "time budget \(formatDuration($0))" } ?? "\(opts.steps!) steps"
        var batch = ""
        if case .gpt(let c) = session.run.model { batch = ", batch \(opts.batchSize)×\(c.context) tokens × \(opts.gradAccum)" }
        printErr("training for \(budget)\(batch), \(opts.threads) thread\(opts.threads == 1 ? "" : "s")\(opts.precision == .bf16 ? ", bf16 matrix products" : "") → \(session.directory)")
        try trainWithProgress(session)
    }

    /// The task of a new run: --task, else inferred from the data (a .tsv of two or three columns, or two files).
    func inferredTask() throws -> RunTask {
        if let task { return task }
        if source != nil { return .translate }
        if let corpus, TextFile.isTSV(corpus) {
            try TextFile.checkReadable(corpus)
            if try columns != nil || ParallelText.defaultColumns(count: ParallelText.columnCount(tsv: corpus)) != nil { return .translate }
        }
        return .lm
    }

    /// The run these options describe, with the tokenizer's vocabulary size filled in later.
    func newRun(vocabSize: Int, task: RunTask) -> Run {
        var opts = TrainOptions(task: task)
        opts.steps = steps ?? (time == nil ? 2000 : nil)
        opts.timeBudget = time?.seconds
        if task == .lm { opts.batchSize = batchSize }
        opts.gradAccum = gradAccum
        if let lr { opts.lr = lr }
        if let warmup { opts.warmup = warmup }
        if let evalEvery { opts.evalEvery = evalEvery }
        opts.weightDecay = weightDecay; opts.clip = clip; opts.smoothing = smoothing; opts.smoothingStyle = smoothingStyle
        opts.seed = seed; opts.logEvery = logEvery; opts.checkpointEvery = checkpointEvery
        opts.keepCheckpoints = keepCheckpoints == 0 ? nil : keepCheckpoints   // a negative count is refused by `problem`
        opts.threads = threading.threads
        if let matmulPrecision { opts.matmulPrecision = matmulPrecision }
        opts.patience = patience
        if bpeDropout != 0 { opts.bpeDropout = bpeDropout }
        opts.bestMetric = bestMetric
        var data = DataOptions()
        let absolute = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
        data.corpus = corpus.map(absolute)
        data.valid = valid.map(absolute)
        data.columns = columns.map { [$0.source, $0.target] }
        data.sourceFile = source.map(absolute); data.targetFile = target.map(absolute)
        data.validSource = validSource.map(absolute); data.validTarget = validTarget.map(absolute)
        data.batchTokens = batchTokens
        data.bleuSentences = bleuSentences
        let model: ModelShape
        switch task {
        case .lm:
            var m = GPTConfig.preset(preset, vocabSize: vocabSize)
            if let dModel { m.dModel = dModel }
            if let layers { m.layers = layers }
            if let heads { m.heads = heads }
            if let context { m.context = context }
            if let dropout { m.dropout = dropout }
            model = .gpt(m)
        case .translate:
            // --layers sets both stacks.
            var m = Seq2SeqConfig.preset(preset, vocabSize: vocabSize)
            if let dModel { m.dModel = dModel }
            if let layers { m.encoderLayers = layers; m.decoderLayers = layers }
            if let encoderLayers { m.encoderLayers = encoderLayers }
            if let decoderLayers { m.decoderLayers = decoderLayers }
            if let heads { m.heads = heads }
            if let dropout { m.dropout = dropout }
            if let maxLength { m.maxLength = maxLength }
            model = .seq2seq(m)
        }
        return Run(model: model, train: opts, data: data)
    }

    /// Runs the trainer with a progress bar (a plain line per log step when stderr is not a terminal), then
    /// writes the curves and says where the run is.
    func trainWithProgress(_ session: TrainingSession) throws {
        let trainer = session.trainer, runDir = session.directory
        let bar = ProgressBar("train", total: trainer.state.totalSteps ?? 1, unit: "steps", done: trainer.state.step)
        var lastValid = ""
        var finalReport: ValidationReport? = nil
        let outcome = try trainer.run(shouldStop: { stopRequested != 0 }) { event in
            switch event {
            case .step(let r):
                // With only a time budget the total is what the remaining time is expected to hold.
                bar.total = r.totalSteps
                let tps = r.tokensPerSecond >= 1000 ? String(format: "%.1fk", r.tokensPerSecond / 1000) : String(format: "%.0f", r.tokensPerSecond)
                bar.update(r.step, status: String(format: "loss %.3f nll %.3f lr %.2e %@ tok/s%@", r.loss, r.nll, r.lr, tps, lastValid),
                           force: r.step == r.totalSteps, eta: r.remaining)
            case .validation(let v):
                finalReport = v
                lastValid = String(format: " | valid ppl %.2f acc %.1f%%", v.perplexity, v.accuracy * 100) + (v.extra["bleu"].map { String(format: " BLEU %.1f", $0) } ?? "")
            case .checkpoint:
                break
            case .best:
                lastValid += " (best)"
            }
        }
        let final = finalReport ?? trainer.validate()
        let how = outcome == .interrupted ? "interrupted" : outcome == .stoppedEarly ? "stopped early" : "done"
        bar.finish(String(format: "%@ at step %d: valid nll %.4f, perplexity %.2f, accuracy %.1f%%",
                          how, trainer.state.step, final.nll, final.perplexity, final.accuracy * 100)
                   + (final.extra["bleu"].map { String(format: ", greedy BLEU %.2f (first %d validation pairs)", $0, session.run.data.bleuSentences) } ?? ""))
        try writeCurves(run: runDir, to: RunPaths(runDir).curves)
        let opts = session.run.train
        if outcome == .stoppedEarly, let best = trainer.state.bestStep, let score = trainer.state.bestScore {
            printErr("validation \(opts.best.rawValue) has not improved for \(opts.patience ?? 0) validations; the best, \(String(format: "%.4f", score)) at step \(best), is in \(RunPaths(runDir).bestWeights) (--checkpoint best)")
        } else if let best = trainer.state.bestStep, best != trainer.state.step {
            printErr("the best validation \(opts.best.rawValue) was at step \(best): \(RunPaths(runDir).bestWeights) (--checkpoint best)")
        }
        printErr(outcome == .interrupted ? "checkpoint saved; continue with: lmtrain fit --resume \(runDir)" : "saved \(runDir)/model.safetensors and curves.svg")
    }
}
