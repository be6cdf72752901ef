import Foundation
import Kernels
import Model
import Tokenizer

/// Options of a training run (saved in RUN/config.json so `--resume` continues with the same ones).
public struct TrainOptions: Codable, Sendable, Equatable {
    public var steps: Int? = nil
    /// Wall-clock budget in seconds (instead of, or as well as, steps).
    public var timeBudget: Double? = nil
    public var batchSize = 16
    public var gradAccum = 1
    public var lr: Float = 1e-3
    public var warmup = 100
    public var weightDecay: Float = 0.1
    public var beta2: Float = 0.95
    public var clip: Float = 1.0
    public var smoothing: Float = 0.1
    /// uniform | fairseq | unigram
    public var smoothingStyle = "uniform"
    public var seed: UInt64 = 1337
    public var logEvery = 10
    public var evalEvery = 200
    /// Tokens of the validation set evaluated at each validation (all of it if smaller).
    public var evalTokens = 65_536
    public var checkpointEvery = 500
    /// Weight snapshots kept in RUN/checkpoints for averaging (nil or 0: none). Optional so older runs' configs load.
    public var keepCheckpoints: Int? = nil
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// fp32 or bf16 (`MatmulPrecision`); optional so older runs' configs load (nil: fp32).
    public var matmulPrecision: String? = nil
    /// Share of the corpus's last lines held out for validation when no --valid file is given.
    public var validFraction = 0.02

    public init() {}

    public var precision: MatmulPrecision { matmulPrecision.flatMap(MatmulPrecision.init(rawValue:)) ?? .fp32 }

    public var kernelStyle: SmoothingStyle {
        switch smoothingStyle {
        case "fairseq": return .fairseq
        case "unigram": return .prior
        default: return .uniform
        }
    }

    public var problem: String? {
        if let s = steps, s < 1 { return "--steps must be at least 1" }
        if let t = timeBudget, t <= 0 { return "--time must be positive" }
        if batchSize < 1 || gradAccum < 1 { return "--batch-size and --grad-accum must be at least 1" }
        if !(lr > 0) { return "--lr must be positive" }
        if !(0..<1).contains(smoothing) { return "--smoothing must be in [0, 1)" }
        if !["uniform", "fairseq", "unigram"].contains(smoothingStyle) { return "--smoothing-style must be uniform, fairseq or unigram" }
        if !(0..<1).contains(validFraction) { return "the validation fraction must be in [0, 1)" }
        if threads < 1 { return "--threads must be at least 1" }
        return precisionProblem
    }

    /// What is wrong with the matmul precision, if anything (checked on its own when a run resumes).
    public var precisionProblem: String? {
        if let m = matmulPrecision, MatmulPrecision(rawValue: m) == nil { return "--matmul-precision must be fp32 or bf16" }
        return precision.unavailableReason
    }
}

/// RUN/config.json: everything needed to rebuild and continue a run.
public struct RunConfig: Codable, Sendable {
    public var format = "lmtrain-run"
    public var version = 1
    public var task = "lm"
    public var model: GPTConfig
    public var train: TrainOptions
    /// Absolute paths of the corpora.
    public var corpus: String
    public var valid: String?
    public var tokenizer = "tokenizer.json"

    public init(model: GPTConfig, train: TrainOptions, corpus: String, valid: String?) {
        self.model = model; self.train = train; self.corpus = corpus; self.valid = valid
    }

    public static func load(run: String) throws -> RunConfig {
        let path = run + "/config.json"
        guard let d = FileManager.default.contents(atPath: path) else { throw TrainingError.notARun(run) }
        if RunKind.of(data: d) == "translate" {
            throw TrainingError.invalidOption("\(run) is a translation model, not a language model: use `lmtrain translate \(run)` with it")
        }
        do {
            let c = try JSONDecoder().decode(RunConfig.self, from: d)
            guard c.format == "lmtrain-run" else { throw TrainingError.notARun(run) }
            guard c.version == 1 else {
                throw TrainingError.invalidOption("\(path) has run format version \(c.version); this lmtrain reads version 1 (train again)")
            }
            return c
        } catch let e as TrainingError { throw e } catch {
            throw TrainingError.badCheckpoint("\(path) is not a valid run configuration: \(error)")
        }
    }

    public func save(run: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFile(try enc.encode(self), to: run + "/config.json")
    }
}

/// Atomic write with the training error for an unwritable place.
func writeFile(_ d: Data, to path: String) throws {
    do { try writeAtomically(d, to: path) } catch { throw TrainingError.unwritable(path) }
}

/// Where a translation run's data comes from and how it is batched (saved in RUN/config.json).
public struct TranslationDataOptions: Codable, Sendable, Equatable {
    /// A TSV corpus and its (source, target) columns, 1-based; or two aligned files.
    public var corpus: String?
    public var columns: [Int]?
    public var sourceFile: String?
    public var targetFile: String?
    public var valid: String?
    public var validSource: String?
    public var validTarget: String?
    /// Padded tokens per batch (sentences × the longer padded side).
    public var batchTokens = 4096
    /// Validation sentences translated greedily for BLEU at each validation.
    public var bleuSentences = 200
    public init() {}
}

/// RUN/config.json of a translation run (`task` = "translate").
public struct TranslationRunConfig: Codable, Sendable {
    public var format = "lmtrain-run"
    public var version = 1
    public var task = "translate"
    public var model: Seq2SeqConfig
    public var train: TrainOptions
    public var data: TranslationDataOptions
    public var tokenizer = "tokenizer.json"

    public init(model: Seq2SeqConfig, train: TrainOptions, data: TranslationDataOptions) {
        self.model = model; self.train = train; self.data = data
    }

    public static func load(run: String) throws -> TranslationRunConfig {
        let path = run + "/config.json"
        guard let d = FileManager.default.contents(atPath: path) else { throw TrainingError.notARun(run) }
        guard RunKind.of(data: d) == "translate" else {
            throw TrainingError.invalidOption("\(run) is a language-model run, not a translation model: use `lmtrain generate` or `lmtrain eval` with it, or train one with `lmtrain fit --task translate`")
        }
        do { return try JSONDecoder().decode(TranslationRunConfig.self, from: d) } catch {
            throw TrainingError.badCheckpoint("\(path) is not a valid run configuration: \(error)")
        }
    }

    public func save(run: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFile(try enc.encode(self), to: run + "/config.json")
    }
}

/// The `task` of a run directory's config.json ("lm" or "translate"), read before the whole file is decoded.
public enum RunKind {
    struct Probe: Decodable { var format: String?; var task: String? }
    static func of(data: Data) -> String? {
        guard let p = try? JSONDecoder().decode(Probe.self, from: data), p.format == "lmtrain-run" else { return nil }
        return p.task ?? "lm"
    }
    public static func of(run: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: run + "/config.json") else { throw TrainingError.notARun(run) }
        guard let k = of(data: d) else { throw TrainingError.notARun(run) }
        return k
    }
}
