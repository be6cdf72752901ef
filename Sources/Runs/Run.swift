import Foundation
import FileIO
import Kernels
import Model

/// What a run trains.
public enum RunTask: String, Codable, CaseIterable, Sendable {
    /// A GPT language model on text.
    case lm
    /// An encoder–decoder on sentence pairs.
    case translate
}

/// How the label-smoothing loss spreads its ε (saved under these names in RUN/config.json).
public enum LabelSmoothingStyle: String, Codable, CaseIterable, Sendable {
    /// PyTorch's `cross_entropy(label_smoothing=ε)`: ε/V on every class.
    case uniform
    /// fairseq's: ε/(V−1) on every class but the target.
    case fairseq
    /// ε spread by the training tokens' unigram frequencies.
    case unigram

    public var kernelStyle: SmoothingStyle {
        switch self {
        case .uniform: return .uniform
        case .fairseq: return .fairseq
        case .unigram: return .prior
        }
    }
}

/// The model of a run: its shape, by task.
public enum ModelShape: Sendable, Equatable {
    case gpt(GPTConfig)
    case seq2seq(Seq2SeqConfig)

    public var task: RunTask {
        switch self {
        case .gpt: return .lm
        case .seq2seq: return .translate
        }
    }

    public var vocabSize: Int {
        switch self {
        case .gpt(let c): return c.vocabSize
        case .seq2seq(let c): return c.vocabSize
        }
    }

    public var parameterCount: Int {
        switch self {
        case .gpt(let c): return c.parameterCount
        case .seq2seq(let c): return c.parameterCount
        }
    }

    /// Why this shape cannot be built, or nil.
    public var problem: String? {
        switch self {
        case .gpt(let c): return c.problem
        case .seq2seq(let c): return c.problem
        }
    }
}

/// Options of the training loop (saved in RUN/config.json so `--resume` continues with the same ones).
public struct TrainOptions: Codable, Sendable, Equatable {
    public var steps: Int? = nil
    /// Wall-clock budget in seconds (instead of, or as well as, steps).
    public var timeBudget: Double? = nil
    /// Language model: sequences per micro-batch. Translation batches by `DataOptions.batchTokens`; 0 there.
    public var batchSize = 16
    public var gradAccum = 1
    public var lr: Float = 1e-3
    public var warmup = 100
    public var weightDecay: Float = 0.1
    public var beta2: Float = 0.95
    public var clip: Float = 1.0
    public var smoothing: Float = 0.1
    public var smoothingStyle = LabelSmoothingStyle.uniform
    public var seed: UInt64 = 1337
    public var logEvery = 10
    public var evalEvery = 200
    /// Tokens of the validation set evaluated at each validation (all of it if smaller).
    public var evalTokens = 65_536
    public var checkpointEvery = 500
    /// Weight snapshots kept in RUN/checkpoints for averaging (nil or 0: none). Optional so older runs' configs load.
    public var keepCheckpoints: Int? = nil
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Optional so older runs' configs load (nil: fp32).
    public var matmulPrecision: MatmulPrecision? = nil
    /// Share of the corpus's last lines held out for validation when no validation file is given.
    public var validFraction = 0.02
    /// Early stopping: stop when the best-metric has not improved for this many validations (nil: never).
    public var patience: Int? = nil
    /// What "best" means for RUN/model.best.safetensors and early stopping (nil: validation NLL).
    public var bestMetric: BestMetric? = nil
    /// Translation: BPE-dropout probability of the training text (nil or 0: off). Optional so older runs' configs load.
    public var bpeDropout: Float? = nil

    public init() {}

    /// The defaults of a task. Translation: Vaswani et al.'s β2 = 0.98, batches by tokens, and the recipe chosen
    /// on the validation books for a time budget (BENCHMARKS.md, "Translation quality per CPU-hour"), which
    /// includes bf16 matrix products wherever the CPU has a bf16 kernel (as good on validation as FP32 at equal
    /// steps, and faster: "Translation recipe: ablations").
    public init(task: RunTask) {
        if task == .translate {
            beta2 = 0.98; batchSize = 0; warmup = 450; evalEvery = 1000
            matmulPrecision = MatmulPrecision.bf16.isAvailable ? .bf16 : .fp32
        }
    }

    public var precision: MatmulPrecision { matmulPrecision ?? .fp32 }
    public var best: BestMetric { bestMetric ?? .nll }

    /// What is wrong with these options for a run of `task`, as one line, or nil.
    public func problem(task: RunTask) -> String? {
        if let s = steps, s < 1 { return "--steps must be at least 1" }
        if let t = timeBudget, t <= 0 { return "--time must be positive" }
        if steps == nil && timeBudget == nil { return "give a budget: --steps N or --time DURATION" }
        if task == .lm && batchSize < 1 { return "--batch-size must be at least 1" }
        if gradAccum < 1 { return "--grad-accum must be at least 1" }
        if !(lr > 0) { return "--lr must be positive" }
        if !(0..<1).contains(smoothing) { return "--smoothing must be in [0, 1)" }
        if !(0..<1).contains(validFraction) { return "the validation fraction must be in [0, 1)" }
        if threads < 1 { return "--threads must be at least 1" }
        if logEvery < 1 || evalEvery < 1 || checkpointEvery < 1 { return "--eval-every, --checkpoint-every and --log-every must be at least 1" }
        if let k = keepCheckpoints, k < 0 { return "--keep-checkpoints must be 0 (none) or more" }
        if let p = patience, p < 1 { return "--patience must be at least 1 (validations without improvement)" }
        if let p = bpeDropout, !(0..<1).contains(p) { return "--bpe-dropout must be in [0, 1)" }
        if (bpeDropout ?? 0) > 0 && task != .translate { return "--bpe-dropout is for translation runs (a language model's training text is tokenised once)" }
        if best == .bleu && task != .translate { return "--best-metric bleu is for translation runs; a language model keeps its best by nll" }
        return precision.unavailableReason
    }
}

/// The validation measure that picks RUN/model.best.safetensors and drives `--patience`.
public enum BestMetric: String, Codable, Sendable, CaseIterable {
    /// Teacher-forced validation NLL, lower is better.
    case nll
    /// Greedy BLEU of the first `--bleu-sentences` validation pairs (translation), higher is better.
    case bleu

    /// Whether `score` beats `best` (nil: nothing yet).
    public func improves(_ score: Double, on best: Double?) -> Bool {
        guard let best else { return true }
        return self == .nll ? score < best : score > best
    }
}

/// Where a run's data comes from. A language model reads `corpus` (and `valid`); a translation model reads a
/// TSV `corpus` with `columns`, or two aligned files, and batches by `batchTokens`.
public struct DataOptions: Codable, Sendable, Equatable {
    /// Absolute path of the training text (LM) or of a TSV of pairs (translation).
    public var corpus: String?
    /// Translation: the (source, target) columns of a TSV corpus, 1-based.
    public var columns: [Int]?
    /// Translation: two line-aligned files instead of a TSV.
    public var sourceFile: String?
    public var targetFile: String?
    /// Validation text or TSV; without it (and without validSource/validTarget) the corpus's last lines are held out.
    public var valid: String?
    public var validSource: String?
    public var validTarget: String?
    /// Translation: padded tokens per batch (sentences × the longer padded side).
    public var batchTokens = 4096
    /// Translation: validation sentences translated greedily for BLEU at each validation.
    public var bleuSentences = 200

    public init() {}

    /// The files this run reads, for checking they exist before any work.
    public var inputs: [String] {
        [corpus, sourceFile, targetFile, valid, validSource, validTarget].compactMap { $0 }
    }

    public var columnPair: (Int, Int)? { columns.flatMap { $0.count == 2 ? ($0[0], $0[1]) : nil } }

    /// What is wrong with the saved columns, if anything (a damaged configuration, not user input).
    public var columnsProblem: String? {
        guard let c = columns else { return nil }
        return c.count == 2 && c.allSatisfy({ $0 >= 1 }) && c[0] != c[1] ? nil : "columns \(c) are not two different 1-based columns"
    }
}

/// A training run: RUN/config.json, everything needed to rebuild the model and continue training. One type for
/// both tasks, loaded and saved here only. Version 3 (a translation model names its position table, so an
/// older lmtrain refuses the file instead of decoding it with the wrong sinusoids); versions 2 and 1 (lmtrain
/// before the `Run` type: a language model's corpus at the top level, a translation run's under `data`) still
/// load, their translation models with the interleaved table they were trained with.
public struct Run: Sendable, Equatable {
    public static let format = "lmtrain-run"
    public static let version = 3

    public var model: ModelShape
    public var train: TrainOptions
    public var data: DataOptions
    /// The tokenizer file, relative to the run directory.
    public var tokenizer = "tokenizer.json"

    public var task: RunTask { model.task }

    public init(model: ModelShape, train: TrainOptions, data: DataOptions) {
        self.model = model; self.train = train; self.data = data
    }

    /// One line saying what is wrong with this run's settings, or nil.
    public var problem: String? {
        if let p = model.problem { return p }
        if let p = train.problem(task: task) { return p }
        if task == .translate && data.batchTokens < 16 { return "--batch-tokens must be at least 16" }
        if data.corpus == nil && (data.sourceFile == nil || data.targetFile == nil) { return "give a corpus to train on" }
        return nil
    }

    // MARK: - RUN/config.json

    /// The task of the run in `directory`, read before the whole file is decoded.
    public static func task(of directory: String) throws -> RunTask {
        try probe(directory).task
    }

    struct Probe: Decodable { var format: String?; var version: Int?; var task: String? }

    static func probe(_ directory: String) throws -> (task: RunTask, version: Int, data: Data) {
        let path = RunPaths(directory).config
        guard let d = FileManager.default.contents(atPath: path) else { throw RunError.notARun(directory) }
        guard let p = try? JSONDecoder().decode(Probe.self, from: d), p.format == format else { throw RunError.notARun(directory) }
        let version = p.version ?? 1
        guard (1...Self.version).contains(version) else {
            throw RunError.invalidOption("\(path) has run format version \(version); this lmtrain reads versions 1 to \(Self.version) (use a newer lmtrain, or train again)")
        }
        guard let task = RunTask(rawValue: p.task ?? "lm") else {
            throw RunError.badCheckpoint("\(path) names an unknown task '\(p.task ?? "")'")
        }
        return (task, version, d)
    }

    /// Loads RUN/config.json. `expecting` refuses, with one line saying which command fits, a run of the other task.
    public static func load(directory: String, expecting: RunTask? = nil) throws -> Run {
        let (task, version, d) = try probe(directory)
        if let expecting, expecting != task {
            switch task {
            case .translate:
                throw RunError.invalidOption("\(directory) is a translation model, not a language model: use `lmtrain translate \(directory)` with it")
            case .lm:
                throw RunError.invalidOption("\(directory) is a language-model run, not a translation model: use `lmtrain generate` or `lmtrain eval` with it, or train one with `lmtrain fit --task translate`")
            }
        }
        do {
            let file = try JSONDecoder().decode(File.self, from: d)
            var data = file.data ?? DataOptions()
            if version == 1 && task == .lm { data.corpus = file.corpus; data.valid = file.valid }
            let model: ModelShape
            switch task {
            case .lm: model = .gpt(try JSONDecoder().decode(ModelOf<GPTConfig>.self, from: d).model)
            case .translate: model = .seq2seq(try JSONDecoder().decode(ModelOf<Seq2SeqConfig>.self, from: d).model)
            }
            var run = Run(model: model, train: file.train, data: data)
            run.tokenizer = file.tokenizer
            // What loads must be usable: a model shape that cannot be built, or columns that cannot be read, is a
            // damaged file, refused here rather than trapping where it is used.
            if let p = model.problem ?? data.columnsProblem { throw RunError.badCheckpoint("\(RunPaths(directory).config) is damaged: \(p)") }
            return run
        } catch let e as RunError {
            throw e
        } catch {
            throw RunError.badCheckpoint("\(RunPaths(directory).config) is not a valid run configuration: \(error)")
        }
    }

    /// Writes RUN/config.json atomically, keys sorted (so equal runs give equal files).
    public func save(directory: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let d: Data
        switch model {
        case .gpt(let c): d = try enc.encode(Written(model: c, run: self))
        case .seq2seq(let c): d = try enc.encode(Written(model: c, run: self))
        }
        try writeRunFile(d, to: RunPaths(directory).config)
    }

    /// The file as written: the model's config under `model`, by task.
    struct Written<M: Encodable>: Encodable {
        var format = Run.format, version = Run.version
        var task: RunTask, model: M, train: TrainOptions, data: DataOptions, tokenizer: String
        init(model: M, run: Run) {
            task = run.task; self.model = model; train = run.train; data = run.data; tokenizer = run.tokenizer
        }
    }

    /// The fields of both versions (version 1 language-model runs kept their corpus at the top level).
    struct File: Decodable {
        var train: TrainOptions
        var data: DataOptions?
        var corpus: String?
        var valid: String?
        var tokenizer: String
    }

    struct ModelOf<M: Decodable>: Decodable { var model: M }
}

/// An atomic write of a run file; a failure is a FileError naming the file and saying why.
public func writeRunFile(_ d: Data, to path: String) throws {
    // FileError's line says why (a full disk with the sizes, permissions) and what to do.
    try writeAtomically(d, to: path)
}

/// The files of a run directory.
public struct RunPaths: Sendable {
    public let directory: String
    public init(_ directory: String) { self.directory = directory }

    public var config: String { directory + "/config.json" }
    public var weights: String { directory + "/model.safetensors" }
    public var optimizer: String { directory + "/optimizer.safetensors" }
    /// The optimizer state of the checkpoint before, kept while a new checkpoint goes in (see `Checkpoint`).
    public var previousOptimizer: String { directory + "/optimizer.previous.safetensors" }
    public var metrics: String { directory + "/metrics.jsonl" }
    /// Cached token ids of the corpora.
    public var idCache: String { directory + "/data" }
    /// The weights of the best validation so far (`BestMetric`).
    public var bestWeights: String { directory + "/model.best.safetensors" }
    /// The weights file a `--checkpoint` value names: "best" and "averaged" are the run's own best and
    /// averaged weights, "last" (or nil) its last checkpoint, anything else a path.
    public func weights(named name: String?) -> String {
        switch name {
        case nil, "last": return weights
        case "best": return bestWeights
        case "averaged": return averagedWeights
        case let path?: return path
        }
    }
    /// Weight snapshots kept for averaging.
    public var snapshots: String { directory + "/checkpoints" }
    public var averagedWeights: String { directory + "/model.averaged.safetensors" }
    public var calibration: String { directory + "/calibration.json" }
    public var reliabilityDiagram: String { directory + "/reliability.svg" }
    public var curves: String { directory + "/curves.svg" }
    public func tokenizer(_ run: Run) -> String { directory + "/" + run.tokenizer }
}
