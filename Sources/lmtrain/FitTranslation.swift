import ArgumentParser
import Foundation
import Kernels
import Model
import Tokenizer
import Training

extension FitCommand {
    /// `fit --task translate`: an encoder–decoder on sentence pairs, with the same loop, progress, metrics,
    /// checkpoints and resume as the language model.
    func runTranslation() throws {
        let runDir: String
        var config: TranslationRunConfig
        let tok: BPETokenizer
        if let resume {
            runDir = resume
            config = try TranslationRunConfig.load(run: runDir)
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
            var data = TranslationDataOptions()
            let absolute = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
            data.corpus = corpus.map(absolute)
            data.columns = columns.flatMap(parseColumns).map { [$0.0, $0.1] }
            data.sourceFile = source.map(absolute); data.targetFile = target.map(absolute)
            data.valid = valid.map(absolute)
            data.validSource = validSource.map(absolute); data.validTarget = validTarget.map(absolute)
            data.batchTokens = batchTokens
            data.bleuSentences = bleuSentences
            let inputs = [data.corpus, data.sourceFile, data.targetFile, data.valid, data.validSource, data.validTarget].compactMap { $0 }
            for f in inputs { _ = try TextFile.bytes(f) }   // missing files, directories, permissions: clear errors first
            if let p = translationConfig(vocabSize: vocabSize).problem { throw ValidationError(p) }
            if FileManager.default.fileExists(atPath: runDir + "/config.json") {
                throw CLIError("\(runDir) already holds a run: continue it with `lmtrain fit --resume \(runDir)`, or choose another --output")
            }
            // Read the pairs before training a tokenizer: a malformed file fails in a second, not after minutes.
            _ = try loadPairs(data, validFraction: TrainOptions().validFraction)
            try prepareDirectory(runDir)
            tok = try obtainTokenizer(corpora: data.corpus.map { [$0] } ?? [data.sourceFile!, data.targetFile!], runDir: runDir)
            var opts = TrainOptions()
            opts.steps = steps ?? (time == nil ? 2000 : nil)
            opts.timeBudget = time.flatMap(parseDuration)
            opts.batchSize = 0; opts.gradAccum = gradAccum; opts.lr = lr; opts.warmup = warmup
            opts.weightDecay = weightDecay; opts.clip = clip; opts.smoothing = smoothing; opts.smoothingStyle = smoothingStyle
            opts.seed = seed; opts.logEvery = logEvery; opts.evalEvery = evalEvery; opts.checkpointEvery = checkpointEvery
            opts.keepCheckpoints = keepCheckpoints > 0 ? keepCheckpoints : nil
            opts.threads = threads
            opts.matmulPrecision = matmulPrecision?.rawValue
            opts.beta2 = 0.98   // Vaswani et al.'s β2 for translation
            var check = opts
            check.batchSize = 1
            if let p = check.problem { throw ValidationError(p) }
            config = TranslationRunConfig(model: translationConfig(vocabSize: tok.vocabularySize), train: opts, data: data)
        }
        let opts = config.train
        let (trainText, validText) = try loadPairs(config.data, validFraction: opts.validFraction)
        let trainData = try ParallelData.encode(trainText, tokenizer: tok, maxLength: config.model.maxLength, threads: opts.threads)
        let validData = try ParallelData.encode(validText, tokenizer: tok, maxLength: config.model.maxLength, threads: opts.threads)
        for (name, d) in [("training", trainData), ("validation", validData)] where d.skippedEmpty + d.skippedLong > 0 {
            printErr("\(name) data: skipped \(d.skippedEmpty) pair(s) with an empty side and \(d.skippedLong) longer than \(config.model.maxLength) tokens")
        }
        var prior: [Float]? = nil
        if opts.smoothingStyle == "unigram" {
            // Unigram frequencies of the target tokens (EOS included), add-one smoothed.
            var counts = [Double](repeating: 1, count: config.model.vocabSize)
            for t in trainData.targets { for id in t { counts[Int(id)] += 1 } }
            counts[Int(tok.id(of: .eos))] += Double(trainData.count)
            let total = counts.reduce(0, +)
            prior = counts.map { Float($0 / total) }
        }
        let model = Seq2Seq(config: config.model, pool: ThreadPool(threads: opts.threads, matmulPrecision: opts.precision))
        let task = try TranslationTask(model: model, train: trainData, valid: validData, tokenizer: tok,
                                       maxTokens: config.data.batchTokens, gradAccum: opts.gradAccum, seed: opts.seed,
                                       bleuSentences: config.data.bleuSentences)
        let trainer = try Trainer(task: task, options: opts, run: runDir, prior: prior, resume: resume != nil)
        if resume == nil { try config.save(run: runDir) }
        let m = config.model
        printErr("model: \(m.parameterCount.formatted()) parameters (encoder–decoder, d \(m.dModel), \(m.encoderLayers)+\(m.decoderLayers) layers, \(m.heads) heads, vocabulary \(m.vocabSize)); data: \(trainData.count.formatted()) training pairs (\(trainData.targetTokens.formatted()) target tokens, \(task.buckets.batches.count) batches of ≤ \(config.data.batchTokens) tokens) / \(validData.count.formatted()) validation pairs; ε = \(opts.smoothing) (\(opts.smoothingStyle))")
        let budgetText = opts.timeBudget.map { "time budget \(formatDuration($0))" } ?? "\(opts.steps!) steps"
        printErr("training for \(budgetText), \(opts.threads) threads\(opts.precision == .bf16 ? ", bf16 matrix products" : "") → \(runDir)")
        try trainWithProgress(trainer, runDir: runDir)
    }

    /// The translation preset with the command line's overrides (--layers sets both stacks).
    func translationConfig(vocabSize: Int) -> Seq2SeqConfig {
        var m = Seq2SeqConfig.preset(GPTConfig.Preset(rawValue: preset)!, vocabSize: vocabSize)
        if let dModel { m.dModel = dModel }
        if let layers { m.encoderLayers = layers; m.decoderLayers = layers }
        if let heads { m.heads = heads }
        if let dropout { m.dropout = dropout }
        if let maxLength { m.maxLength = maxLength }
        return m
    }

    func loadPairs(_ d: TranslationDataOptions, validFraction: Double) throws -> (ParallelText, ParallelText) {
        try loadTranslationPairs(d, validFraction: validFraction)
    }
}

/// Training and validation pairs as text: the validation file(s) when given, else the corpus's last lines
/// (the split `fit` trains with, which `eval` reuses to fit its temperature).
func loadTranslationPairs(_ d: TranslationDataOptions, validFraction: Double) throws -> (ParallelText, ParallelText) {
    let cols = d.columns.map { ($0[0], $0[1]) }
    let all: ParallelText = try d.corpus.map { try ParallelText.load(tsv: $0, columns: cols) }
        ?? ParallelText.load(source: d.sourceFile!, target: d.targetFile!)
    if all.skippedEmpty > 0 { printErr("skipped \(all.skippedEmpty) line(s) with an empty side") }
    if let v = d.valid { return (all, try ParallelText.load(tsv: v, columns: cols)) }
    if let vs = d.validSource, let vt = d.validTarget { return (all, try ParallelText.load(source: vs, target: vt)) }
    let held = max(1, Int(Double(all.sources.count) * validFraction))
    guard all.sources.count > held else {
        throw TrainingError.invalidOption("the corpus has \(all.sources.count) usable pair(s): too few to hold out validation pairs and still train (use more text, or pass --valid)")
    }
    var train = ParallelText(), valid = ParallelText()
    let cut = all.sources.count - held
    train.sources = Array(all.sources[..<cut]); train.targets = Array(all.targets[..<cut])
    valid.sources = Array(all.sources[cut...]); valid.targets = Array(all.targets[cut...])
    return (train, valid)
}
