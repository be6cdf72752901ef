import Foundation
import Datasets
import FileIO
import Kernels
import Model
import Runs
import Tokenizer

/// Where a new run's tokenizer comes from.
public enum TokenizerSource: Sendable {
    /// A tokenizer file, copied into the run.
    case file(String)
    /// One trained on the run's corpora (both sides of a parallel corpus: a joint vocabulary).
    case train(vocabSize: Int)
}

/// What a session tells its caller while it sets up (the library never prints).
public enum SessionEvent {
    /// Tokenizer training: merges done of the vocabulary size.
    case tokenizerProgress(done: Int, total: Int)
    /// Building a corpus's id cache: bytes of the file tokenised so far, of its size.
    case encodingProgress(file: String, done: Int, total: Int)
    case tokenizerTrained(vocabularySize: Int)
    /// A note worth a line (skipped pairs, a resumed run).
    case note(String)
}

/// A run ready to train: its configuration, tokenizer, data and trainer. Everything `fit` does between
/// parsing its options and the training loop lives here (task defaults, the validation hold-out, the unigram
/// prior, tokenizer acquisition, the id cache), for both tasks.
public final class TrainingSession {
    public let directory: String
    public private(set) var run: Run
    public let tokenizer: BPETokenizer
    public let trainer: Trainer
    /// One line on the model and one on the data, for the log.
    public let modelSummary: String, dataSummary: String
    /// This process's hold on the run directory (RUN/lock), for the session's life: a second `fit` or
    /// `--resume` on the run is refused meanwhile, naming this pid.
    private var lock: DirectoryLock?

    /// A function of a run's tokenizer giving translation validation metrics (e.g. greedy BLEU).
    public typealias MetricsFactory = (BPETokenizer, DataOptions) -> ValidationMetrics

    /// Starts a new run in `directory`: checks the options and the inputs before any work, refuses a
    /// directory that already holds a run, acquires the tokenizer, and writes RUN/config.json only once the
    /// trainer is built (a failure before leaves no run, so the directory stays usable).
    public static func create(run: Run, directory: String, tokenizer source: TokenizerSource,
                              validationMetrics: MetricsFactory? = nil,
                              onEvent: (SessionEvent) -> Void = { _ in }) throws -> TrainingSession {
        let began = Date()
        if let p = run.problem { throw RunError.invalidOption(p) }
        for f in run.data.inputs { try TextFile.checkReadable(f) }
        if case .file(let f) = source { try TextFile.checkReadable(f) }
        // Never train over an earlier run: its model would be lost.
        if FileManager.default.fileExists(atPath: RunPaths(directory).config) {
            throw RunError.invalidOption("\(directory) already holds a run: continue it with `lmtrain fit --resume \(directory)`, or choose another --output")
        }
        // Read the pairs before training a tokenizer: a malformed file fails in a second, not after minutes.
        let pairs = run.task == .translate ? try run.pairSplit { onEvent(.note("skipped \($0) line(s) with an empty side")) } : nil
        try prepareDirectory(directory)
        // Two `fit`s given the same new --output: the second waits for nothing and is refused here, or, if the
        // first has finished its set-up meanwhile, by the check below.
        let lock = try DirectoryLock(directory: directory)
        if FileManager.default.fileExists(atPath: RunPaths(directory).config) {
            throw RunError.invalidOption("\(directory) already holds a run: continue it with `lmtrain fit --resume \(directory)`, or choose another --output")
        }
        let tok = try obtainTokenizer(source, corpora: run.data.corpus.map { [$0] } ?? [run.data.sourceFile!, run.data.targetFile!],
                                      into: RunPaths(directory).tokenizer(run), threads: run.train.threads, onEvent: onEvent)
        var run = run
        switch run.model {
        case .gpt(var c): c.vocabSize = tok.vocabularySize; run.model = .gpt(c)
        case .seq2seq(var c): c.vocabSize = tok.vocabularySize; run.model = .seq2seq(c)
        }
        let s = try TrainingSession(run: run, directory: directory, tokenizer: tok, resume: false, pairs: pairs,
                                    validationMetrics: validationMetrics, onEvent: onEvent)
        s.lock = lock
        try run.save(directory: directory)
        s.trainer.setupSeconds = Date().timeIntervalSince(began)
        return s
    }

    /// A new budget for a resumed run: a step count, a wall-clock budget (seconds, counting the time already
    /// spent), or both, replacing the run's own.
    public struct Budget: Sendable, Equatable {
        public var steps: Int?, time: Double?
        public init(steps: Int?, time: Double?) { self.steps = steps; self.time = time }
    }

    /// Continues the run in `directory` from its last checkpoint, with its saved options except the thread
    /// count and, when given, the matrix-product precision and the budget. A new budget must lie beyond what
    /// the run has done; the schedule is then the one the new budget would have had from the start (so the
    /// rate at the current step moves, and a note says from what to what), and RUN/config.json records it.
    public static func resume(directory: String, threads: Int, matmulPrecision: MatmulPrecision? = nil, budget: Budget? = nil,
                              validationMetrics: MetricsFactory? = nil,
                              onEvent: (SessionEvent) -> Void = { _ in }) throws -> TrainingSession {
        let began = Date()
        _ = try Run.load(directory: directory)   // a missing or damaged run says so before any lock is taken
        let lock = try DirectoryLock(directory: directory)
        if let pid = lock.previousHolder {
            onEvent(.note("took over the lock of lmtrain process \(pid), which ended without releasing it"))
        }
        // Writes a killed trainer left half done: the files they were replacing are intact, the halves useless.
        let abandoned = removeAbandonedTemporaries(in: directory) + removeAbandonedTemporaries(in: RunPaths(directory).snapshots)
        if abandoned > 0 { onEvent(.note("removed \(abandoned) half-written file(s) of an interrupted write")) }
        var run = try Run.load(directory: directory)   // as the last holder left it
        run.train.threads = threads
        if let matmulPrecision { run.train.matmulPrecision = matmulPrecision }
        if let p = run.train.precision.unavailableReason { throw RunError.invalidOption(p) }
        var budgetNote: String? = nil
        if let budget, budget.steps != nil || budget.time != nil {
            let state = try Checkpoint.loadState(run: directory)
            let before = run.train
            run.train.steps = budget.steps
            run.train.timeBudget = budget.time
            if let p = run.train.problem(task: run.task) { throw RunError.invalidOption(p) }
            if let steps = budget.steps, steps <= state.step {
                throw RunError.invalidOption("the run is at step \(state.step) already: give --steps more than \(state.step)")
            }
            if let time = budget.time, time <= state.elapsed {
                throw RunError.invalidOption("the run has spent \(formatDuration(state.elapsed)) already: give a --time longer than that (it counts the time spent)")
            }
            let old = Trainer.learningRate(before, step: state.step, elapsed: state.elapsed, warmupEnded: state.warmupEnded)
            let new = Trainer.learningRate(run.train, step: state.step, elapsed: state.elapsed, warmupEnded: state.warmupEnded)
            budgetNote = "budget changed from \(describe(before)) to \(describe(run.train)) at step \(state.step): the schedule is the new budget's, so the learning rate goes from \(String(format: "%.2e", old)) to \(String(format: "%.2e", new))"
        }
        let tok = try run.loadTokenizer(directory: directory)
        onEvent(.note("resuming \(directory)"))
        if let budgetNote { onEvent(.note(budgetNote)) }
        let s = try TrainingSession(run: run, directory: directory, tokenizer: tok, resume: true, pairs: nil,
                                    validationMetrics: validationMetrics, onEvent: onEvent)
        s.lock = lock
        if budgetNote != nil { try run.save(directory: directory) }
        s.trainer.setupSeconds = Date().timeIntervalSince(began)
        return s
    }

    static func describe(_ o: TrainOptions) -> String {
        [o.steps.map { "\($0) steps" }, o.timeBudget.map { formatDuration($0) }].compactMap { $0 }.joined(separator: " and ")
    }


    init(run: Run, directory: String, tokenizer tok: BPETokenizer, resume: Bool, pairs: (train: ParallelText, valid: ParallelText)?,
         validationMetrics: MetricsFactory?, onEvent: (SessionEvent) -> Void) throws {
        self.run = run
        self.directory = directory
        tokenizer = tok
        let opts = run.train
        let pool = ThreadPool(threads: opts.threads, matmulPrecision: opts.precision)
        let style = opts.smoothingStyle
        switch run.model {
        case .gpt(let config):
            let (train, valid) = try Self.languageModelData(run, tokenizer: tok, directory: directory, onEvent: onEvent)
            let T = config.context
            guard train.count > T + 1 else {
                throw RunError.corpusTooSmall(file: run.data.corpus!, tokens: train.count, needed: T + 2)
            }
            let prior = style == .unigram ? unigramPrior(vocab: config.vocabSize, stream: train) : nil
            let model = GPT(config: config, pool: pool)
            trainer = try Trainer(model: model, options: opts, run: directory, train: train, valid: valid,
                                  eos: tok.id(of: .eos), prior: prior, resume: resume)
            modelSummary = "\(config.parameterCount.formatted()) parameters (d \(config.dModel), \(config.layers) layers, \(config.heads) heads, context \(T), vocabulary \(config.vocabSize))"
            dataSummary = "\(train.count.formatted()) training / \(valid.count.formatted()) validation tokens"
        case .seq2seq(let config):
            let (trainText, validText) = try pairs ?? run.pairSplit { onEvent(.note("skipped \($0) line(s) with an empty side")) }
            let trainData = try ParallelData.encode(trainText, tokenizer: tok, maxLength: config.maxLength, threads: opts.threads)
            let validData = try ParallelData.encode(validText, tokenizer: tok, maxLength: config.maxLength, threads: opts.threads)
            for (name, d) in [("training", trainData), ("validation", validData)] where d.skippedEmpty + d.skippedLong > 0 {
                onEvent(.note("\(name) data: skipped \(d.skippedEmpty) pair(s) with an empty side and \(d.skippedLong) longer than \(config.maxLength) tokens"))
            }
            let eos = tok.id(of: .eos)
            let prior = style == .unigram ? unigramPrior(vocab: config.vocabSize, sequences: trainData.targets, eosPerSequence: eos) : nil
            let model = Seq2Seq(config: config, pool: pool)
            // BPE-dropout: each epoch's training text segmented afresh, seeded by the run's seed and the epoch.
            // The same text encoded without error just above, so a failure here could only be ICU running out of
            // memory; the epoch then keeps the deterministic segmentation.
            let dropout = Double(opts.bpeDropout ?? 0), threads = opts.threads, maxLength = config.maxLength
            let resegment: ((Int) -> ParallelData)? = dropout > 0 ? { epoch in
                (try? ParallelData.encode(trainText, tokenizer: tok, maxLength: maxLength, threads: threads, dropout: dropout,
                                          seed: SplitMix64.mix(opts.seed ^ (UInt64(epoch) &* 0xBF58_476D_1CE4_E5B9)))) ?? trainData
            } : nil
            let task = try TranslationTask(model: model, train: trainData, valid: validData, tokenizer: tok,
                                           maxTokens: run.data.batchTokens, gradAccum: opts.gradAccum, seed: opts.seed,
                                           validationMetrics: validationMetrics?(tok, run.data), resegment: resegment)
            trainer = try Trainer(task: task, options: opts, run: directory, prior: prior, resume: resume)
            modelSummary = "\(config.parameterCount.formatted()) parameters (encoder–decoder, d \(config.dModel), \(config.encoderLayers)+\(config.decoderLayers) layers, \(config.heads) heads, vocabulary \(config.vocabSize))"
            dataSummary = "\(trainData.count.formatted()) training pairs (\(trainData.targetTokens.formatted()) target tokens, \(task.buckets.batches.count) batches of ≤ \(run.data.batchTokens) tokens) / \(validData.count.formatted()) validation pairs"
        }
    }

    /// A language model's training and validation token streams. Whole files are tokenised once, streamed in
    /// blocks, into an id cache in RUN/data that training reads windows from: a corpus of gigabytes costs disk
    /// and page cache, not the process's memory, and a second start reads nothing but the file's hash.
    static func languageModelData(_ run: Run, tokenizer tok: BPETokenizer, directory: String,
                                  onEvent: (SessionEvent) -> Void) throws -> (TokenIDs, [Int32]) {
        let threads = run.train.threads
        let cacheDir = RunPaths(directory).idCache
        try? FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        let key = contentKey(RunPaths(directory).tokenizer(run))
        switch try run.textSplit() {
        case .files(let trainFile, let validFile):
            let ids = try withoutActuallyEscaping(onEvent) { onEvent in
                try [trainFile, validFile].map { f in
                    try TokenStream.cached(file: f, tokenizer: tok, tokenizerKey: key, threads: threads, cacheDir: cacheDir) { done, total in
                        onEvent(.encodingProgress(file: f, done: done, total: total))
                    }.ids
                }
            }
            return (ids[0], ids[1].array)
        case .heldOut(let corpus, let trainLines, let lines):
            // The training lines go through the id cache like a training file; the held-out lines are few.
            let train = try withoutActuallyEscaping(onEvent) { onEvent in
                try TokenStream.cached(file: corpus, tokenizer: tok, tokenizerKey: key, threads: threads, cacheDir: cacheDir,
                                       lines: 0..<trainLines) { done, total in
                    onEvent(.encodingProgress(file: corpus, done: done, total: total))
                }.ids
            }
            let valid = try TokenStream.encode(lines: try Documents.lines(of: corpus, range: trainLines..<lines), tokenizer: tok,
                                               threads: threads).ids
            return (train, valid)
        }
    }

    /// The given tokenizer (copied into the run), or one trained on the text of `corpora`.
    static func obtainTokenizer(_ source: TokenizerSource, corpora: [String], into dest: String, threads: Int,
                                onEvent: (SessionEvent) -> Void) throws -> BPETokenizer {
        switch source {
        case .file(let path):
            let tok = try TokenizerFile.load(path)
            try TokenizerFile.save(tok, to: dest)
            return tok
        case .train(let vocabSize):
            var o = BPETrainingOptions(vocabularySize: vocabSize)
            o.threads = threads
            let tok = try withoutActuallyEscaping(onEvent) { onEvent in
                try BPETrainer.train(files: corpora, options: o) { p in
                    if case .merging(let done, _, _, _) = p { onEvent(.tokenizerProgress(done: done, total: vocabSize)) }
                }
            }
            onEvent(.tokenizerTrained(vocabularySize: tok.vocabularySize))
            try TokenizerFile.save(tok, to: dest)
            return tok
        }
    }
}

/// Unigram frequencies of a token stream, add-one smoothed: the prior of `--smoothing-style unigram`.
func unigramPrior(vocab V: Int, stream: TokenIDs) -> [Float] {
    var counts = [Double](repeating: 1, count: V)
    stream.forEachChunk { for id in $0 { counts[Int(id)] += 1 } }
    let total = counts.reduce(0, +)
    return counts.map { Float($0 / total) }
}

/// Unigram frequencies of `sequences` (plus one `eosPerSequence` each, when given), add-one smoothed so every
/// token keeps some mass: the prior of `--smoothing-style unigram`.
func unigramPrior(vocab V: Int, sequences: TokenSequences, eosPerSequence eos: Int32?) -> [Float] {
    var counts = [Double](repeating: 1, count: V)
    for id in sequences.ids { counts[Int(id)] += 1 }
    if let eos { counts[Int(eos)] += Double(sequences.count) }
    let total = counts.reduce(0, +)
    return counts.map { Float($0 / total) }
}

/// Makes `dir` (and parents) and checks a file can be written in it.
func prepareDirectory(_ dir: String) throws {
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw RunError.unwritable(dir)
    }
    let probe = dir + "/.write-test-\(getpid())"
    guard FileManager.default.createFile(atPath: probe, contents: Data()) else { throw RunError.unwritable(dir) }
    try? FileManager.default.removeItem(atPath: probe)
}

/// A stable key of a tokenizer file's content, for the token-id cache.
func contentKey(_ path: String) -> String {
    String((try? contentHash(ofFile: path)) ?? 0, radix: 16)
}
