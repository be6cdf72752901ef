import Foundation
import Kernels
import Model
import Runs

/// What the training loop reports (the library never prints; the CLI draws progress from these).
public enum TrainingEvent {
    case step(StepReport)
    case validation(ValidationReport)
    case checkpoint(step: Int)
    case scheduleFixed(totalSteps: Int)
}

public struct StepReport: Sendable {
    public let step: Int, totalSteps: Int?
    public let loss: Double, nll: Double, lr: Float, gradNorm: Float
    public let tokensPerSecond: Double, tokens: Int, elapsed: Double
}

public struct ValidationReport: Sendable {
    public let step: Int
    public let loss: Double, nll: Double, accuracy: Double, tokens: Int
    /// Task-specific metrics (translation: "bleu" on a sample of the validation set).
    public var extra: [String: Double] = [:]
    public var perplexity: Double { exp(nll) }
}

/// How a run ended.
public enum TrainingOutcome: Equatable { case finished, interrupted }

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
    /// Training time after step 10 of a time-budgeted run (to measure the speed of steps 11–20).
    var elapsedAt10: Double? = nil

    /// A language-model run over token streams.
    public convenience init(model: GPT, options: TrainOptions, run: String, train: [Int32], valid: [Int32], eos: Int32,
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
        if resume {
            let step = try Checkpoint.loadWeights(run: run, into: model)
            state = try Checkpoint.loadOptimizer(run: run, into: optimizer, count: model.layout.count, weightsStep: step)
            try metrics.truncate(afterStep: state.step)
            checkpointStep = state.step
        } else {
            model.initialize(seed: options.seed)
            state = TrainState(batcherState: task.initialCursor(seed: options.seed))
            state.totalSteps = options.steps
            try metrics.truncate(afterStep: 0)
        }
    }

    var schedule: CosineSchedule {
        let total = state.totalSteps ?? Int.max / 2
        return CosineSchedule(peak: options.lr, warmup: min(options.warmup, max(1, total / 10)), total: total)
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
        let started = Date().timeIntervalSince1970 - state.elapsed
        var windowStart = Date().timeIntervalSince1970, windowTokens = 0
        var outcome = TrainingOutcome.finished
        while true {
            if let total = state.totalSteps, state.step >= total { break }
            if let budget = options.timeBudget, state.elapsed >= budget { break }
            if shouldStop() { outcome = .interrupted; break }
            let step = state.step
            let lr = schedule.lr(step)
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
            let now = Date().timeIntervalSince1970
            state.elapsed = now - started
            windowTokens += stepTokens
            // With only a time budget, fix the schedule's length once the speed is known: from the time of steps
            // 11–20, since the first steps also pay for allocation and page faults (counting them made a
            // 55-minute budget end its schedule ~20 % early).
            if state.totalSteps == nil, let budget = options.timeBudget {
                if state.step == 10 { elapsedAt10 = state.elapsed }
                if state.step == 20 {
                    let perStep = max(1e-6, (state.elapsed - (elapsedAt10 ?? 0)) / 10)
                    state.totalSteps = max(21, 20 + Int((budget - state.elapsed) / perStep))
                    onEvent(.scheduleFixed(totalSteps: state.totalSteps!))
                }
            }
            if state.step % options.logEvery == 0 || state.step == 1 || state.step == state.totalSteps {
                let rate = Double(windowTokens) / max(1e-9, now - windowStart)
                let r = StepReport(step: state.step, totalSteps: state.totalSteps, loss: meanLoss, nll: meanNLL, lr: lr,
                                   gradNorm: norm, tokensPerSecond: rate, tokens: state.tokens, elapsed: state.elapsed)
                metrics.write(["step": state.step, "loss": meanLoss, "nll": meanNLL, "lr": Double(lr),
                               "tokens_per_s": rate, "grad_norm": Double(norm), "tokens": state.tokens, "elapsed_s": state.elapsed])
                onEvent(.step(r))
                windowStart = now
                windowTokens = 0
            }
            if state.step % options.evalEvery == 0 {
                onEvent(.validation(validate()))
                // Validation time is not training time: restart the rate window after it.
                windowStart = Date().timeIntervalSince1970
                windowTokens = 0
            }
            if state.step % options.checkpointEvery == 0 { try saveCheckpoint(onEvent) }
        }
        // End with a validation of the final weights (unless the last step just had one).
        if state.step % options.evalEvery != 0 || state.step == 0 { onEvent(.validation(validate())) }
        try saveCheckpoint(onEvent)
        return outcome
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
        var fields: [String: Any] = ["step": state.step, "split": "valid", "loss": r.loss, "nll": r.nll, "ppl": r.perplexity,
                                     "accuracy": r.accuracy, "tokens": r.tokens]
        for (k, v) in extra { fields[k] = v }
        metrics.write(fields)
        return r
    }
}

/// RUN/metrics.jsonl: one JSON object per line, appended and flushed as they come.
final class MetricsLog {
    let path: String
    init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw RunError.unwritable(path) }
        }
    }

    func write(_ fields: [String: Any]) {
        guard let d = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]),
              let h = FileHandle(forWritingAtPath: path) else { return }
        h.seekToEndOfFile()
        h.write(d + Data("\n".utf8))
        try? h.close()
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
