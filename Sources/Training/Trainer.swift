import FileIO
import Datasets
import Foundation
import Kernels
import Model
import Runs

/// What the training loop reports (the library never prints; the CLI draws progress from these).
public enum TrainingEvent {
    case step(StepReport)
    case validation(ValidationReport)
    case checkpoint(step: Int)
    /// A validation beat every earlier one (on `TrainOptions.best`); RUN/model.best.safetensors now holds it.
    case best(step: Int, score: Double)
}

public struct StepReport: Sendable {
    /// `totalSteps`: the step budget, or with only a time budget the steps the remaining time is expected to hold.
    public let step: Int, totalSteps: Int
    public let loss: Double, nll: Double, lr: Float, gradNorm: Float
    public let tokensPerSecond: Double, tokens: Int, elapsed: Double
    /// Seconds left of a time budget (nil for a step budget).
    public var remaining: Double? = nil
}

public struct ValidationReport: Sendable {
    public let step: Int
    public let loss: Double, nll: Double, accuracy: Double, tokens: Int
    /// Task-specific metrics (translation: "bleu" on a sample of the validation set).
    public var extra: [String: Double] = [:]
    public var perplexity: Double { exp(nll) }
}

/// How a run ended.
public enum TrainingOutcome: Equatable {
    case finished, interrupted
    /// `--patience` validations in a row did not improve on the best.
    case stoppedEarly
}

/// The training loop, shared by language modelling and translation (a `TrainingTask` supplies batches and
/// validation): gradient accumulation, clipping, AdamW under a warm-up + cosine schedule, periodic
/// validation, atomic checkpoints, metrics as JSON lines. Seeded: the data cursor, the dropout seed of each
/// step (derived from the run seed and the step) and the optimizer are all in the checkpoint, so a resumed
/// run continues exactly as an uninterrupted one would.
public final class Trainer {
    public let task: TrainingTask
    public var model: TrainableModel { task.trainable }
    public let optimizer: AdamW
    public let options: TrainOptions
    public let run: String
    public private(set) var state: TrainState
    /// Step of the last checkpoint on disk (nil before the first).
    public private(set) var checkpointStep: Int? = nil
    let prior: [Float]?
    let metrics: MetricsLog
    /// The wall clock in seconds (a test drives a fake one).
    public var clock: () -> Double = { Date().timeIntervalSince1970 }
    /// Seconds this process spent before the loop (tokenizer, data): part of the run's time, so a `--time`
    /// budget covers the whole `fit`.
    public var setupSeconds = 0.0

    /// A language-model run over token streams.
    public convenience init(model: GPT, options: TrainOptions, run: String, train: [Int32], valid: [Int32], eos: Int32,
                            prior: [Float]?, resume: Bool) throws {
        try self.init(model: model, options: options, run: run, train: TokenIDs(train), valid: valid, eos: eos, prior: prior, resume: resume)
    }

    /// A language-model run over a training stream in memory or read from its id cache file.
    public convenience init(model: GPT, options: TrainOptions, run: String, train: TokenIDs, valid: [Int32], eos: Int32,
                            prior: [Float]?, resume: Bool) throws {
        let task = try LanguageModelTask(model: model, train: train, valid: valid, eos: eos, batchSize: options.batchSize,
                                         gradAccum: options.gradAccum)
        try self.init(task: task, options: options, run: run, prior: prior, resume: resume)
    }

    public init(task: TrainingTask, options: TrainOptions, run: String, prior: [Float]?, resume: Bool) throws {
        self.task = task
        self.options = options
        self.run = run
        self.prior = prior
        let model = task.trainable
        optimizer = AdamW(layout: model.layout)
        metrics = try MetricsLog(path: RunPaths(run).metrics)
        // A run killed before its first checkpoint has nothing to load: it starts again from its seed, which
        // gives the same run as if it had never been stopped.
        if resume && Checkpoint.exists(run: run) {
            let step = try Checkpoint.loadWeights(run: run, into: model)
            state = try Checkpoint.loadOptimizer(run: run, into: optimizer, count: model.layout.count, weightsStep: step)
            try metrics.truncate(afterStep: state.step)
            checkpointStep = state.step
        } else {
            model.initialize(seed: options.seed)
            state = TrainState(batcherState: task.initialCursor(seed: options.seed))
            try metrics.truncate(afterStep: 0)
        }
        // The step budget is the run's options'. A time-budgeted checkpoint of an older lmtrain holds instead a
        // step count estimated from its first steps: the clock schedule replaces it, with the end of that run's
        // warm-up placed in time as its steps were (so its rate does not jump back to the peak).
        if resume, options.steps == nil, state.warmupEnded == nil, let old = state.totalSteps, state.step > 0 {
            let warm = min(options.warmup, max(1, old / 10))
            if state.step >= warm { state.warmupEnded = state.elapsed * Double(warm) / Double(state.step) }
        }
        state.totalSteps = options.steps
    }

    /// The rate of the next step, starting `elapsed` seconds into the run: on the step schedule when there is
    /// a step budget (a time budget then only stops early), else on the clock.
    func learningRate(elapsed: Double) -> Float {
        if options.steps == nil, state.warmupEnded == nil,
           TimeBudgetSchedule(options).warmupFraction(step: state.step, elapsed: elapsed) >= 1 { state.warmupEnded = elapsed }
        return Self.learningRate(options, step: state.step, elapsed: elapsed, warmupEnded: state.warmupEnded)
    }

    /// The rate the schedule of `options` gives step `step` at `elapsed` seconds (warm-up ended at `warmupEnded`,
    /// or now if it is over but not yet recorded): what a resumed run with a changed budget reports.
    public static func learningRate(_ options: TrainOptions, step: Int, elapsed: Double, warmupEnded: Double?) -> Float {
        if let total = options.steps {
            return CosineSchedule(peak: options.lr, warmup: min(options.warmup, max(1, total / 10)), total: total).lr(step)
        }
        let s = TimeBudgetSchedule(options)
        let ended = warmupEnded ?? (s.warmupFraction(step: step, elapsed: elapsed) >= 1 ? elapsed : nil)
        return s.lr(step: step, elapsed: elapsed, warmupEnded: ended)
    }

    var lossOptions: LossOptions { LossOptions(smoothing: options.smoothing, style: options.smoothingStyle.kernelStyle, prior: prior) }

    /// Trains until the step count or time budget is reached, or `shouldStop()` (Ctrl-C) says so; then saves
    /// a checkpoint. Throws, without saving over the last good checkpoint, if the loss or the gradient stops
    /// being finite.
    public func run(shouldStop: () -> Bool, onEvent: (TrainingEvent) -> Void) throws -> TrainingOutcome {
        let model = task.trainable
        var cursor = state.batcherState
        let loss = lossOptions
        let hyper0 = AdamWHyper(lr: options.lr, beta1: 0.9, beta2: options.beta2, eps: 1e-8, weightDecay: options.weightDecay)
        let started = clock() - state.elapsed - setupSeconds
        setupSeconds = 0
        var windowStart = clock(), windowTokens = 0
        var outcome = TrainingOutcome.finished
        // What a time budget must leave room for, measured as the run goes: the final validation and
        // checkpoint, and half a step (so the run ends as near its budget as the step length allows).
        var stepSeconds = 0.0, validationSeconds = 0.0, checkpointSeconds = 0.0
        var expectedSteps: Int {
            if let total = state.totalSteps { return total }
            let left = options.timeBudget! - state.elapsed - validationSeconds - checkpointSeconds
            // A step's share of the periodic validations and checkpoints counts too.
            let perStep = stepSeconds + validationSeconds / Double(options.evalEvery) + checkpointSeconds / Double(options.checkpointEvery)
            return state.step + (perStep > 0 ? max(0, Int((left / perStep).rounded())) : 1)
        }
        /// Whether a time budget leaves no room for another step before the final validation and checkpoint.
        func budgetSpent() -> Bool {
            guard let budget = options.timeBudget else { return false }
            return state.elapsed + validationSeconds + checkpointSeconds + stepSeconds / 2 >= budget
        }
        while true {
            if let total = state.totalSteps, state.step >= total { break }
            if patienceRanOut { outcome = .stoppedEarly; break }
            let stepStart = clock()
            state.elapsed = stepStart - started
            if budgetSpent() { break }
            if shouldStop() { outcome = .interrupted; break }
            let step = state.step
            let lr = learningRate(elapsed: state.elapsed)
            model.grads.zero()
            // Draw the step's micro-batches first: the mean loss divides by the targets of all of them.
            var counted = 0, stepTokens = 0
            for micro in 0..<options.gradAccum {
                let (targets, tokens) = task.prepare(slot: micro, cursor: &cursor)
                counted += targets
                stepTokens += tokens
            }
            var stats = CrossEntropyStats()
            let gradScale = 1 / Float(max(1, counted))
            for micro in 0..<options.gradAccum {
                let seed = options.seed &+ UInt64(step) &* 0x9E37_79B9 &+ UInt64(micro)
                stats += task.train(slot: micro, loss: loss, gradScale: gradScale, dropoutSeed: seed)
            }
            let meanLoss = stats.loss / Double(max(1, stats.count)), meanNLL = stats.nll / Double(max(1, stats.count))
            let norm = options.clip > 0
                ? clipGradientNorm(model.grads.base, count: model.layout.count, maxNorm: options.clip, pool: model.pool)
                : Float(sumOfSquares(model.grads.base, count: model.layout.count, pool: model.pool).squareRoot())
            guard meanLoss.isFinite else { throw RunError.nonFinite(step: step + 1, what: "the loss", checkpointStep: checkpointStep) }
            guard norm.isFinite else { throw RunError.nonFinite(step: step + 1, what: "the gradient norm", checkpointStep: checkpointStep) }
            var hyper = hyper0
            hyper.lr = lr
            optimizer.update(params: model.params, grads: model.grads, hyper: hyper, pool: model.pool)
            state.step += 1
            state.tokens += stepTokens
            state.batcherState = cursor
            let now = clock()
            state.elapsed = now - started
            // A moving average of the step time (the first steps also pay for page faults, so they weigh little
            // once later ones come).
            let took = now - stepStart
            stepSeconds = stepSeconds == 0 ? took : 0.9 * stepSeconds + 0.1 * took
            windowTokens += stepTokens
            // The last step is always logged (for a time budget: the one after which the budget is spent).
            let last = state.step == state.totalSteps || budgetSpent()
            if state.step % options.logEvery == 0 || state.step == 1 || last {
                let rate = Double(windowTokens) / max(1e-9, now - windowStart)
                var r = StepReport(step: state.step, totalSteps: last ? state.step : expectedSteps, loss: meanLoss, nll: meanNLL, lr: lr,
                                   gradNorm: norm, tokensPerSecond: rate, tokens: state.tokens, elapsed: state.elapsed)
                r.remaining = options.timeBudget.map { max(0, $0 - state.elapsed) }
                metrics.write(["step": state.step, "loss": meanLoss, "nll": meanNLL, "lr": Double(lr),
                               "tokens_per_s": rate, "grad_norm": Double(norm), "tokens": state.tokens, "elapsed_s": state.elapsed])
                onEvent(.step(r))
                windowStart = now
                windowTokens = 0
            }
            if state.step % options.evalEvery == 0 {
                let t = clock()
                let v = validate()
                onEvent(.validation(v))
                try trackBest(v, onEvent)
                // Validation time is not training time: restart the rate window after it.
                windowStart = clock()
                windowTokens = 0
                validationSeconds = windowStart - t
            }
            if state.step % options.checkpointEvery == 0 {
                let t = clock()
                state.elapsed = t - started
                try saveCheckpoint(onEvent)
                checkpointSeconds = clock() - t
            }
            // The metrics log could not be written (a full disk): keep what can be kept, then stop.
            if let failure = metrics.failure {
                state.elapsed = clock() - started
                try? saveCheckpoint(onEvent)
                throw failure
            }
        }
        // End with a validation of the final weights (unless the last step just had one).
        if state.step % options.evalEvery != 0 || state.step == 0 {
            let v = validate()
            onEvent(.validation(v))
            try trackBest(v, onEvent)
        }
        state.elapsed = clock() - started
        try saveCheckpoint(onEvent)
        return outcome
    }

    /// Whether early stopping's patience is spent (then the loop stops, and a resumed run does not go on).
    var patienceRanOut: Bool {
        guard let patience = options.patience else { return false }
        return (state.validationsSinceBest ?? 0) >= patience
    }

    /// Keeps the best validation: when `v` improves on it, RUN/model.best.safetensors (written atomically)
    /// becomes these weights; otherwise one more validation without improvement counts towards `--patience`.
    /// A step validated twice (a finished run resumed) counts once.
    func trackBest(_ v: ValidationReport, _ onEvent: (TrainingEvent) -> Void) throws {
        let metric = options.best
        guard v.step > 0, v.step != state.trackedStep, let score = metric == .nll ? v.nll : v.extra["bleu"] else { return }
        state.trackedStep = v.step
        if metric.improves(score, on: state.bestScore) {
            try writeRunFile(try WeightsFile.serialize(task.trainable, step: v.step), to: RunPaths(run).bestWeights)
            state.bestScore = score
            state.bestStep = v.step
            state.validationsSinceBest = 0
            onEvent(.best(step: v.step, score: score))
        } else {
            state.validationsSinceBest = (state.validationsSinceBest ?? 0) + 1
        }
    }

    func saveCheckpoint(_ onEvent: (TrainingEvent) -> Void) throws {
        try Checkpoint.save(run: run, model: task.trainable, optimizer: optimizer, state: state, keep: options.keepCheckpoints ?? 0)
        checkpointStep = state.step
        onEvent(.checkpoint(step: state.step))
    }

    /// Validation NLL, perplexity and accuracy (and the task's own metrics), dropout off.
    public func validate() -> ValidationReport {
        let (st, extra) = task.validate(loss: lossOptions, maxTokens: options.evalTokens)
        var r = ValidationReport(step: state.step, loss: st.loss / Double(max(1, st.count)), nll: st.nll / Double(max(1, st.count)),
                                 accuracy: Double(st.correct) / Double(max(1, st.count)), tokens: st.count)
        r.extra = extra
        // Mean top-1 confidence beside accuracy: their gap over training shows when a model becomes over-confident.
        var fields: [String: Any] = ["step": state.step, "split": "valid", "loss": r.loss, "nll": r.nll, "ppl": r.perplexity,
                                     "accuracy": r.accuracy, "confidence": st.confidence / Double(max(1, st.count)), "tokens": r.tokens,
                                     "epoch": task.epochs(cursor: state.batcherState, tokens: state.tokens)]
        for (k, v) in extra { fields[k] = v }
        metrics.write(fields)
        return r
    }
}

/// RUN/metrics.jsonl: one JSON object per line, appended as they come, each line in one write(2) so a kill
/// never splits one. A write that fails (a full disk) is kept in `failure` for the training loop to stop on;
/// a partial line it may leave is dropped by `truncate` when the run resumes.
final class MetricsLog {
    let path: String
    private(set) var failure: Error?
    init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw RunError.unwritable(path) }
        }
    }

    func write(_ fields: [String: Any]) {
        guard failure == nil, let d = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        let line = d + Data("\n".utf8)
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { failure = FileError.unwritable(path, reason: String(cString: strerror(errno))); return }
        defer { close(fd) }
        let n = line.withUnsafeBytes { Foundation.write(fd, $0.baseAddress!, $0.count) }
        if n != line.count {
            let err = n < 0 ? errno : ENOSPC
            failure = err == ENOSPC ? FileError.diskFull(path, needed: line.count, available: freeBytes((path as NSString).deletingLastPathComponent))
                                    : FileError.unwritable(path, reason: String(cString: strerror(err)))
        }
    }

    /// Drops entries after `step` (a resumed run rewrites them), or everything for a fresh run (step 0).
    func truncate(afterStep step: Int) throws {
        guard let d = FileManager.default.contents(atPath: path) else { return }
        let kept = String(decoding: d, as: UTF8.self).split(separator: "\n").filter { line in
            guard step > 0, let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = o["step"] as? Int else { return false }
            return s <= step
        }
        try writeRunFile(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: path)
    }
}
